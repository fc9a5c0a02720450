//! The value type of each PJSIP option rayan writes or accepts, as Asterisk 22.10.1
//! parses it: tag `22.10.1` of asterisk/asterisk (commit
//! f0e408a7b0d829c85bf15fa4b487870a50cb3000), read in
//! `res/res_pjsip/pjsip_configuration.c` (endpoint), `res/res_pjsip/location.c` (aor,
//! contact), `res/res_pjsip/config_auth.c`, `res/res_pjsip/config_transport.c`,
//! `res/res_pjsip/config_global.c`, `res/res_pjsip/config_system.c`,
//! `res/res_pjsip/config_domain_aliases.c`, `res/res_pjsip_outbound_registration.c`,
//! `res/res_pjsip_endpoint_identifier_ip.c`, with the helpers their handlers call:
//! `res/res_pjsip.c` (dtmf mode, call offer preference), `res/res_pjsip/security_agreements.c`,
//! `main/config_options.c` (the generic OPT_*_T handlers), `main/config.c` (`ast_parse_arg`),
//! `main/utils.c` (`ast_true`, `ast_false`, `ast_get_timeval`), `main/acl.c` (ACLs, ToS),
//! `main/callerid.c`, `main/channel.c` (groups), `main/stream.c` (codec preferences),
//! `main/format_cap.c` (allow/disallow), `main/rtp_engine.c` (DTLS options),
//! `main/sorcery.c` (how `type` is matched) and the bundled pjproject build options
//! (`third-party/pjproject`). `res/res_pjsip/pjsip_config.xml` was used as a cross-check
//! only: where the documentation and a handler disagree, the table follows the handler and
//! the row's comment says so.
//!
//! A value can also be refused after parsing, when the object is applied (an endpoint's
//! `timers_min_se` below 90, a registration's `server_uri` that is not a SIP URI, ...):
//! those checks are folded into the bounds or named in the row's comment. Where Asterisk is
//! lenient (it takes an unknown value without refusing it: every `Bool`, `dtls_setup`, ...),
//! the type gives the values Asterisk acts on, and the comment says that Asterisk itself
//! does not refuse the others. `Text` rows whose handler still refuses some values say which
//! in their comment.

/// How Asterisk parses an option's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// `ast_true`/`ast_false` spellings, compared case-insensitively: true is yes, true, y,
    /// t, 1 or on ([`BOOL_TRUE`]); false is no, false, n, f, 0 or off ([`BOOL_FALSE`]).
    /// Asterisk's generic handler (OPT_BOOL_T, OPT_YESNO_T, and the transport's TLS flags)
    /// only tests for a true spelling: any other value, a typo or an empty value included,
    /// silently means no and is never refused. Options whose handler refuses words it does
    /// not know (`100rel`, `timers`, `dtls_verify`, ...) are [`ValueType::Enum`] instead.
    Bool,
    /// One of these words, compared case-insensitively (`strcasecmp`).
    Enum(&'static [&'static str]),
    /// One of these words, compared case-sensitively (`strcmp`).
    EnumExact(&'static [&'static str]),
    /// A comma-separated list of these words, compared case-insensitively; blanks around an
    /// item are trimmed and empty items skipped.
    EnumList(&'static [&'static str]),
    /// An unsigned integer within the bounds (inclusive). Asterisk reads it with `strtoul`
    /// in base 0 (`ast_parse_arg` with PARSE_UINT32): leading blanks are skipped; a minus
    /// sign, trailing text, an empty value or a value above `u32::MAX` is refused; `0x` hex
    /// and leading-zero octal are accepted, so `010` means 8: write plain decimal. Bounds
    /// narrower than `u32` come from the handler's range or from the object's apply check.
    Uint { min: u64, max: u64 },
    /// A signed integer within the bounds (inclusive), read with `strtol` in base 0
    /// (PARSE_INT32): the same rules as [`ValueType::Uint`], with a minus sign allowed.
    Int { min: i64, max: i64 },
    /// A floating point number read with `strtod` (OPT_DOUBLE_T): the whole value must
    /// parse; an empty value is refused. Only `qualify_timeout` (seconds, fractions allowed).
    Float,
    /// Seconds read by `ast_get_timeval`: `sscanf` of a long double, so fractions are
    /// accepted and only a leading number is needed; an empty value is refused. Only the
    /// contact's `expiration_time` (an absolute Unix time). Durations Asterisk reads as
    /// OPT_UINT_T are [`ValueType::Uint`], with the unit in the row's comment.
    Seconds,
    /// An IP address (v4 or v6); `port` says whether a `:port` may follow (an IPv6 address
    /// then in brackets). Only the transport's `bind`.
    IpAddress { port: bool },
    /// An IP address or a host name. Asterisk stores the text and resolves it when used.
    Host,
    /// A comma-separated list of ACL entries (`ast_append_ha`): an address, optionally `/`
    /// and a mask (a prefix length, or a mask written as an address of the same family),
    /// optionally a leading `!` that inverts the entry; no port. A bad entry is refused.
    CidrList,
    /// The identify `match` list: comma-separated entries; one with a `/` mask or that
    /// parses as an IP address (a port is allowed) goes to the ACL parser, which refuses a
    /// bad one; anything else is kept as a host name and resolved later.
    CidrOrHostList,
    /// A ToS byte (`ast_str2tos`): an integer (`sscanf %i`: decimal, `0x` hex or
    /// leading-zero octal; only the low 8 bits are kept) or a DSCP class name compared
    /// case-insensitively ([`DSCP_NAMES`]). Anything else is refused.
    Tos,
    /// `allow`/`disallow` (`ast_format_cap_update_by_allow_disallow`): codec names or `all`
    /// (`all` compared case-insensitively), separated by `,` or `|`; an item may start with
    /// `!` (inverted) and end with `:<ms>` (packetization). An unknown codec or a bad
    /// packetization is refused, and so is an empty `allow`; an empty `disallow` is ignored.
    Codecs,
    /// The name of another object: a pjsip.conf section of the matching type unless the
    /// row's comment says otherwise. Stored as text and looked up when used, not when
    /// loaded, unless the comment says otherwise.
    ObjectName,
    /// A comma-separated list of object names (blanks trimmed, empty items skipped).
    ObjectNames,
    /// A SIP URI: `sip:` or `sips:` (case-insensitive), optionally in `<>`. Where Asterisk
    /// checks it (`ast_sip_validate_uri_length`, named in the row's comment) the scheme must
    /// be one of those two, the whole URI at most 511 bytes and the host at most 255 bytes
    /// (245 when no port is given), with the bundled pjproject's build options; elsewhere
    /// it is stored as text.
    SipUri,
    /// A comma-separated list of SIP URIs, each checked as [`ValueType::SipUri`] describes.
    SipUris,
    /// Free text Asterisk stores as given (string fields, character arrays, copied
    /// strings). The row's comment gives any shape or check the handler adds.
    Text,
}

use ValueType::*;

const U32_MAX: u64 = u32::MAX as u64;
const I32_MIN: i64 = i32::MIN as i64;
const I32_MAX: i64 = i32::MAX as i64;

/// The spellings `ast_true` takes (compared case-insensitively).
pub const BOOL_TRUE: &[&str] = &["yes", "true", "y", "t", "1", "on"];

/// The spellings `ast_false` takes (compared case-insensitively).
pub const BOOL_FALSE: &[&str] = &["no", "false", "n", "f", "0", "off"];

/// Endpoint `100rel`: any `ast_true`/`ast_false` spelling, `peer_supported` or `required`.
pub const REL100_WORDS: &[&str] = &[
    "yes",
    "true",
    "y",
    "t",
    "1",
    "on",
    "no",
    "false",
    "n",
    "f",
    "0",
    "off",
    "peer_supported",
    "required",
];

/// Endpoint `timers`: any `ast_true`/`ast_false` spelling, `required`, `always` or `forced`
/// (the last two mean the same).
pub const TIMERS_WORDS: &[&str] = &[
    "yes", "true", "y", "t", "1", "on", "no", "false", "n", "f", "0", "off", "required", "always",
    "forced",
];

/// Endpoint `callerid_privacy`: the caller presentation names of `main/callerid.c`.
pub const PRESENTATION_WORDS: &[&str] = &[
    "allowed_not_screened",
    "allowed_passed_screen",
    "allowed_failed_screen",
    "allowed",
    "prohib_not_screened",
    "prohib_passed_screen",
    "prohib_failed_screen",
    "prohib",
    "unavailable",
];

/// Digest algorithms by IANA name (pjproject compares them case-insensitively). The SHA
/// ones are refused when the OpenSSL in use lacks them.
pub const DIGEST_ALGORITHMS: &[&str] = &["MD5", "SHA-256", "SHA-512-256"];

/// Transport `method`, with the TLS versions the bundled pjproject enables.
pub const TLS_METHODS: &[&str] = &[
    "default",
    "unspecified",
    "tlsv1",
    "tlsv1_1",
    "tlsv1_2",
    "tlsv1_3",
    "sslv2",
    "sslv3",
    "sslv23",
];

/// The DSCP class names `ast_str2tos` takes (compared case-insensitively).
pub const DSCP_NAMES: &[&str] = &[
    "CS0", "CS1", "CS2", "CS3", "CS4", "CS5", "CS6", "CS7", "AF11", "AF12", "AF13", "AF21", "AF22",
    "AF23", "AF31", "AF32", "AF33", "AF41", "AF42", "AF43", "EF",
];

/// (section type, option, value type), sorted by section then option. The `type` option is
/// matched exactly (`strcmp`) against the section type by the sorcery config backend.
#[rustfmt::skip]
pub const VALUE_TYPES: &[(&str, &str, ValueType)] = &[
    ("aor", "authenticate_qualify", Bool),
    // each URI is checked: sip:/sips: scheme, URL and host length limits
    ("aor", "contact", SipUris),
    // seconds
    ("aor", "default_expiration", Uint { min: 0, max: U32_MAX }),
    // comma-separated mailbox@context
    ("aor", "mailboxes", Text),
    ("aor", "max_contacts", Uint { min: 0, max: U32_MAX }),
    // seconds
    ("aor", "maximum_expiration", Uint { min: 0, max: U32_MAX }),
    // seconds
    ("aor", "minimum_expiration", Uint { min: 0, max: U32_MAX }),
    // stored as text; not checked when loaded
    ("aor", "outbound_proxy", SipUri),
    ("aor", "qualify_2xx_only", Bool),
    // seconds; range enforced by the handler
    ("aor", "qualify_frequency", Uint { min: 0, max: 86400 }),
    // seconds, fractions allowed; 0 = no timeout
    ("aor", "qualify_timeout", Float),
    ("aor", "remove_existing", Bool),
    ("aor", "remove_unavailable", Bool),
    ("aor", "support_path", Bool),
    ("aor", "type", EnumExact(&["aor"])),
    ("aor", "voicemail_extension", Text),
    // code default is userpass (the XML says digest); google_oauth needs pjproject OAuth support,
    // which the bundled build has
    ("auth", "auth_type", Enum(&["userpass", "md5", "digest", "google_oauth"])),
    // must be exactly 32 characters (the MD5 hex length); only the length is checked
    ("auth", "md5_cred", Text),
    ("auth", "nonce_lifetime", Uint { min: 0, max: U32_MAX }),
    ("auth", "oauth_clientid", Text),
    ("auth", "oauth_secret", Text),
    ("auth", "password", Text),
    // comma-separated ALGORITHM:hexdigest (MD5, SHA-256, SHA-512-256, case-insensitive); unknown
    // algorithm or wrong digest length (32/64/64) is refused
    ("auth", "password_digest", Text),
    ("auth", "realm", Text),
    ("auth", "refresh_token", Text),
    // unknown or OpenSSL-unsupported names are refused
    ("auth", "supported_algorithms_uac", EnumList(DIGEST_ALGORITHMS)),
    // unknown or OpenSSL-unsupported names are refused
    ("auth", "supported_algorithms_uas", EnumList(DIGEST_ALGORITHMS)),
    ("auth", "type", EnumExact(&["auth"])),
    // the object is refused when it is empty
    ("auth", "username", Text),
    ("contact", "authenticate_qualify", Bool),
    ("contact", "call_id", Text),
    ("contact", "endpoint", ObjectName),
    // absolute Unix time
    ("contact", "expiration_time", Seconds),
    // stored as text; not checked when loaded
    ("contact", "outbound_proxy", SipUri),
    ("contact", "path", Text),
    ("contact", "prune_on_boot", Bool),
    ("contact", "qualify_2xx_only", Bool),
    // seconds; range enforced by the handler
    ("contact", "qualify_frequency", Uint { min: 0, max: 86400 }),
    // seconds, fractions allowed
    ("contact", "qualify_timeout", Float),
    ("contact", "reg_server", Text),
    ("contact", "type", EnumExact(&["contact"])),
    // the object is refused when it is empty; the scheme is not checked here
    ("contact", "uri", SipUri),
    ("contact", "user_agent", Text),
    // stored as text
    ("contact", "via_addr", Host),
    // no range check in the handler (a port in practice)
    ("contact", "via_port", Uint { min: 0, max: U32_MAX }),
    // stored as text
    ("domain_alias", "domain", Host),
    ("domain_alias", "type", EnumExact(&["domain_alias"])),
    // prack_handler: any Bool spelling, peer_supported or required; anything else refused
    ("endpoint", "100rel", Enum(REL100_WORDS)),
    ("endpoint", "accept_multiple_sdp_answers", Bool),
    ("endpoint", "accountcode", Text),
    // names of ACLs in acl.conf, not sorcery objects; a name given twice is refused
    ("endpoint", "acl", ObjectNames),
    ("endpoint", "aggregate_mwi", Bool),
    ("endpoint", "allow", Codecs),
    ("endpoint", "allow_overlap", Bool),
    ("endpoint", "allow_subscribe", Bool),
    ("endpoint", "allow_transfer", Bool),
    ("endpoint", "allow_unauthenticated_options", Bool),
    ("endpoint", "aors", ObjectNames),
    ("endpoint", "asymmetric_rtp_codec", Bool),
    ("endpoint", "auth", ObjectNames),
    ("endpoint", "bind_rtp_to_media_address", Bool),
    ("endpoint", "bundle", Bool),
    // group numbers 0-63 and ranges (1,3-5); bad pieces are skipped with a log line, never refused
    ("endpoint", "call_group", Text),
    // "Name" <number>
    ("endpoint", "callerid", Text),
    // lenient: the handler also takes any integer (sscanf %d)
    ("endpoint", "callerid_privacy", Enum(PRESENTATION_WORDS)),
    ("endpoint", "callerid_tag", Text),
    // "name: value" pairs, comma-separated, compared case-sensitively: prefer pending|configured,
    // operation intersect|union|only_preferred|only_nonpreferred, keep all|first, transcode
    // allow|prevent; an unknown value of a known name is refused
    ("endpoint", "codec_prefs_incoming_answer", Text),
    // as codec_prefs_incoming_answer, and operation union is refused
    ("endpoint", "codec_prefs_incoming_offer", Text),
    // as codec_prefs_incoming_answer
    ("endpoint", "codec_prefs_outgoing_answer", Text),
    // as codec_prefs_incoming_answer
    ("endpoint", "codec_prefs_outgoing_offer", Text),
    ("endpoint", "connected_line_method", Enum(&["invite", "reinvite", "update"])),
    // names of ACLs in acl.conf, as acl
    ("endpoint", "contact_acl", ObjectNames),
    ("endpoint", "contact_deny", CidrList),
    ("endpoint", "contact_permit", CidrList),
    ("endpoint", "contact_user", Text),
    ("endpoint", "context", Text),
    // the docs mean 0-7; the handler does not check the range
    ("endpoint", "cos_audio", Uint { min: 0, max: U32_MAX }),
    // the docs mean 0-7; the handler does not check the range
    ("endpoint", "cos_video", Uint { min: 0, max: U32_MAX }),
    ("endpoint", "deny", CidrList),
    ("endpoint", "device_state_busy_at", Uint { min: 0, max: U32_MAX }),
    ("endpoint", "direct_media", Bool),
    ("endpoint", "direct_media_glare_mitigation", Enum(&["none", "outgoing", "incoming"])),
    ("endpoint", "direct_media_method", Enum(&["invite", "reinvite", "update"])),
    ("endpoint", "disable_direct_media_on_nat", Bool),
    // an empty value is accepted (clears nothing)
    ("endpoint", "disallow", Codecs),
    // refused together with dtls_cert_file (apply check)
    ("endpoint", "dtls_auto_generate_cert", Bool),
    // must name a readable file (checked when loaded)
    ("endpoint", "dtls_ca_file", Text),
    // must name a readable file (checked when loaded)
    ("endpoint", "dtls_ca_path", Text),
    // must name a readable file (checked when loaded)
    ("endpoint", "dtls_cert_file", Text),
    ("endpoint", "dtls_cipher", Text),
    // lenient: any other value is ignored, not refused
    ("endpoint", "dtls_fingerprint", Enum(&["SHA-256", "SHA-1"])),
    // must name a readable file (checked when loaded)
    ("endpoint", "dtls_private_key", Text),
    // 0 = no rekeying; read with sscanf %u, so only a leading number is needed
    ("endpoint", "dtls_rekey", Uint { min: 0, max: U32_MAX }),
    // lenient: any other value is ignored, not refused
    ("endpoint", "dtls_setup", Enum(&["active", "passive", "actpass"])),
    // only these four: other Bool spellings (true, 1, ...) are refused
    ("endpoint", "dtls_verify", Enum(&["yes", "no", "fingerprint", "certificate"])),
    // the handler also accepts none, which the XML docs omit
    ("endpoint", "dtmf_mode", Enum(&["rfc4733", "inband", "info", "auto", "auto_info", "none"])),
    ("endpoint", "fax_detect", Bool),
    // seconds; 0 = no timeout
    ("endpoint", "fax_detect_timeout", Uint { min: 0, max: U32_MAX }),
    ("endpoint", "follow_early_media_fork", Bool),
    // empty allowed
    ("endpoint", "follow_redirect_methods", EnumList(&["message"])),
    ("endpoint", "force_avp", Bool),
    ("endpoint", "force_rport", Bool),
    ("endpoint", "from_domain", Text),
    // only letters, digits and -._~%!$&'()*+,;=: are accepted; any other character is refused
    ("endpoint", "from_user", Text),
    ("endpoint", "g726_non_standard", Bool),
    // a res_geolocation profile; refused if unknown or the module is not loaded
    ("endpoint", "geoloc_incoming_call_profile", ObjectName),
    // a res_geolocation profile; refused if unknown or the module is not loaded
    ("endpoint", "geoloc_outgoing_call_profile", ObjectName),
    ("endpoint", "ice_support", Bool),
    ("endpoint", "identify_by",
        EnumList(&["username", "auth_username", "ip", "header", "request_uri"])),
    ("endpoint", "ignore_183_without_sdp", Bool),
    ("endpoint", "inband_progress", Bool),
    // strcmp: case-sensitive; the _merge values are outgoing only
    ("endpoint", "incoming_call_offer_pref",
        EnumExact(&["local", "local_first", "remote", "remote_first"])),
    ("endpoint", "incoming_mwi_mailbox", Text),
    ("endpoint", "language", Text),
    // comma-separated mailbox@context
    ("endpoint", "mailboxes", Text),
    ("endpoint", "max_audio_streams", Uint { min: 0, max: U32_MAX }),
    ("endpoint", "max_video_streams", Uint { min: 0, max: U32_MAX }),
    // an IP is normalised, anything else kept as a host name
    ("endpoint", "media_address", Host),
    // only these: yes/false/... are refused
    ("endpoint", "media_encryption", Enum(&["no", "sdes", "dtls"])),
    ("endpoint", "media_encryption_optimistic", Bool),
    ("endpoint", "media_use_received_transport", Bool),
    ("endpoint", "message_context", Text),
    ("endpoint", "moh_passthrough", Bool),
    ("endpoint", "moh_suggest", Text),
    ("endpoint", "mwi_from_user", Text),
    ("endpoint", "mwi_subscribe_replaces_unsolicited", Bool),
    // comma-separated group names
    ("endpoint", "named_call_group", Text),
    // comma-separated group names
    ("endpoint", "named_pickup_group", Text),
    ("endpoint", "notify_early_inuse_ringing", Bool),
    ("endpoint", "one_touch_recording", Bool),
    ("endpoint", "outbound_auth", ObjectNames),
    // stored as text; not checked when loaded
    ("endpoint", "outbound_proxy", SipUri),
    // strcmp: case-sensitive
    ("endpoint", "outgoing_call_offer_pref",
        EnumExact(&["local", "local_merge", "local_first", "remote", "remote_merge",
            "remote_first"])),
    ("endpoint", "overlap_context", Text),
    ("endpoint", "permit", CidrList),
    // as call_group
    ("endpoint", "pickup_group", Text),
    ("endpoint", "preferred_codec_only", Bool),
    ("endpoint", "record_off_feature", Text),
    ("endpoint", "record_on_feature", Text),
    ("endpoint", "redirect_method", Enum(&["user", "uri_core", "uri_pjsip"])),
    ("endpoint", "refer_blind_progress", Bool),
    ("endpoint", "rewrite_contact", Bool),
    ("endpoint", "rpid_immediate", Bool),
    ("endpoint", "rtcp_mux", Bool),
    ("endpoint", "rtp_engine", Text),
    ("endpoint", "rtp_ipv6", Bool),
    // seconds
    ("endpoint", "rtp_keepalive", Uint { min: 0, max: U32_MAX }),
    // 0 = unset; otherwise both ends must be set, at least 1024, and end > start (apply check)
    ("endpoint", "rtp_port_end", Uint { min: 0, max: 65535 }),
    // as rtp_port_end
    ("endpoint", "rtp_port_start", Uint { min: 0, max: 65535 }),
    ("endpoint", "rtp_symmetric", Bool),
    // seconds
    ("endpoint", "rtp_timeout", Uint { min: 0, max: U32_MAX }),
    // seconds
    ("endpoint", "rtp_timeout_hold", Uint { min: 0, max: U32_MAX }),
    // empty or containing blanks: replaced by "-" with a warning
    ("endpoint", "sdp_owner", Text),
    // empty: replaced by "-" with a warning
    ("endpoint", "sdp_session", Text),
    // comma-separated msrp-tls|sdes-srtp|dtls-srtp with ;params and ;q=; unrecognised entries are
    // dropped, never refused
    ("endpoint", "security_mechanisms", Text),
    // only these two: other Bool spellings are refused
    ("endpoint", "security_negotiation", Enum(&["no", "mediasec"])),
    ("endpoint", "send_aoc", Bool),
    ("endpoint", "send_connected_line", Bool),
    ("endpoint", "send_diversion", Bool),
    ("endpoint", "send_history_info", Bool),
    ("endpoint", "send_pai", Bool),
    ("endpoint", "send_rpid", Bool),
    // name=value; a non-empty value without '=' is refused
    ("endpoint", "set_var", Text),
    ("endpoint", "srtp_tag_32", Bool),
    // obsolete: any value is accepted, ignored, and logged as unsupported
    ("endpoint", "stir_shaken", Text),
    // a res_stir_shaken profile; not checked when loaded
    ("endpoint", "stir_shaken_profile", ObjectName),
    ("endpoint", "sub_min_expiry", Uint { min: 0, max: U32_MAX }),
    ("endpoint", "subscribe_context", Text),
    ("endpoint", "suppress_moh_on_sendonly", Bool),
    ("endpoint", "suppress_q850_reason_headers", Bool),
    ("endpoint", "t38_bind_udptl_to_media_address", Bool),
    ("endpoint", "t38_udptl", Bool),
    // strcmp: case-sensitive
    ("endpoint", "t38_udptl_ec", EnumExact(&["none", "fec", "redundancy"])),
    ("endpoint", "t38_udptl_ipv6", Bool),
    ("endpoint", "t38_udptl_maxdatagram", Uint { min: 0, max: U32_MAX }),
    ("endpoint", "t38_udptl_nat", Bool),
    ("endpoint", "tenantid", Text),
    // timers_handler: any Bool spelling, required, always or forced; anything else refused
    ("endpoint", "timers", Enum(TIMERS_WORDS)),
    // seconds; below 90 the endpoint is refused (apply check)
    ("endpoint", "timers_min_se", Uint { min: 90, max: U32_MAX }),
    // seconds; must also be >= timers_min_se (apply check)
    ("endpoint", "timers_sess_expires", Uint { min: 90, max: U32_MAX }),
    ("endpoint", "tone_zone", Text),
    ("endpoint", "tos_audio", Tos),
    ("endpoint", "tos_video", Tos),
    ("endpoint", "transport", ObjectName),
    ("endpoint", "trust_connected_line", Bool),
    ("endpoint", "trust_id_inbound", Bool),
    ("endpoint", "trust_id_outbound", Bool),
    ("endpoint", "type", EnumExact(&["endpoint"])),
    ("endpoint", "use_avpf", Bool),
    ("endpoint", "use_ptime", Bool),
    ("endpoint", "user_eq_phone", Bool),
    ("endpoint", "voicemail_extension", Text),
    ("endpoint", "webrtc", Bool),
    ("global", "all_codecs_on_empty_reinvite", Bool),
    ("global", "allow_sending_180_after_183", Bool),
    // seconds
    ("global", "contact_expiration_check_interval", Uint { min: 0, max: U32_MAX }),
    // yes, no or a host (read by res_pjsip_logger); the object is refused when it is empty
    ("global", "debug", Text),
    // lenient: a bad list is replaced by MD5 with a warning, not refused
    ("global", "default_auth_algorithms_uac", EnumList(DIGEST_ALGORITHMS)),
    // lenient: a bad list is replaced by MD5 with a warning, not refused
    ("global", "default_auth_algorithms_uas", EnumList(DIGEST_ALGORITHMS)),
    // the object is refused when it is empty
    ("global", "default_from_user", Text),
    ("global", "default_outbound_endpoint", ObjectName),
    ("global", "default_realm", Text),
    ("global", "default_voicemail_extension", Text),
    ("global", "disable_multi_domain", Bool),
    // comma-separated identifier names (ip, username, anonymous, ...); not checked when loaded
    ("global", "endpoint_identifier_order", Text),
    ("global", "ignore_uri_user_options", Bool),
    // seconds
    ("global", "keep_alive_interval", Uint { min: 0, max: U32_MAX }),
    ("global", "max_forwards", Uint { min: 0, max: U32_MAX }),
    ("global", "max_initial_qualify_time", Uint { min: 0, max: U32_MAX }),
    ("global", "mwi_disable_initial_unsolicited", Bool),
    ("global", "mwi_tps_queue_high", Uint { min: 0, max: U32_MAX }),
    // -1 = the default
    ("global", "mwi_tps_queue_low", Int { min: I32_MIN, max: I32_MAX }),
    ("global", "norefersub", Bool),
    ("global", "regcontext", Text),
    ("global", "send_contact_status_on_update_registration", Bool),
    ("global", "taskprocessor_overload_trigger", Enum(&["none", "global", "pjsip_only"])),
    ("global", "type", EnumExact(&["global"])),
    ("global", "unidentified_request_count", Uint { min: 0, max: U32_MAX }),
    // seconds
    ("global", "unidentified_request_period", Uint { min: 0, max: U32_MAX }),
    ("global", "unidentified_request_prune_interval", Uint { min: 0, max: U32_MAX }),
    ("global", "use_callerid_contact", Bool),
    ("global", "user_agent", Text),
    // the object is refused when it is empty
    ("identify", "endpoint", ObjectName),
    ("identify", "match", CidrOrHostList),
    // "Header-Name: value" (value may be /regex/); refused without ':' or with an empty header
    // name
    ("identify", "match_header", Text),
    // a literal URI or /regex/
    ("identify", "match_request_uri", Text),
    ("identify", "srv_lookups", Bool),
    ("identify", "type", EnumExact(&["identify"])),
    ("registration", "auth_rejection_permanent", Bool),
    // required; sip:/sips: and length limits checked when applied
    ("registration", "client_uri", SipUri),
    ("registration", "contact_header_params", Text),
    ("registration", "contact_user", Text),
    // refused unless line = yes, and line = yes is refused without it
    ("registration", "endpoint", ObjectName),
    // seconds
    ("registration", "expiration", Uint { min: 0, max: U32_MAX }),
    // seconds
    ("registration", "fatal_retry_interval", Uint { min: 0, max: U32_MAX }),
    // seconds
    ("registration", "forbidden_retry_interval", Uint { min: 0, max: U32_MAX }),
    ("registration", "line", Bool),
    // seconds
    ("registration", "max_random_initial_delay", Uint { min: 0, max: U32_MAX }),
    ("registration", "max_retries", Uint { min: 0, max: U32_MAX }),
    ("registration", "outbound_auth", ObjectNames),
    // stored as text; not checked when loaded
    ("registration", "outbound_proxy", SipUri),
    // seconds
    ("registration", "retry_interval", Uint { min: 0, max: U32_MAX }),
    // as endpoint security_mechanisms
    ("registration", "security_mechanisms", Text),
    // only these two
    ("registration", "security_negotiation", Enum(&["no", "mediasec"])),
    // required; sip:/sips: and length limits checked when applied
    ("registration", "server_uri", SipUri),
    ("registration", "support_outbound", Bool),
    ("registration", "support_path", Bool),
    ("registration", "transport", ObjectName),
    ("registration", "type", EnumExact(&["registration"])),
    ("registration", "user_agent", Text),
    ("system", "accept_multiple_sdp_answers", Bool),
    ("system", "compact_headers", Bool),
    ("system", "disable_rport", Bool),
    ("system", "disable_tcp_switch", Bool),
    ("system", "follow_early_media_fork", Bool),
    ("system", "taskpool_auto_increment", Uint { min: 0, max: U32_MAX }),
    // seconds
    ("system", "taskpool_idle_timeout", Uint { min: 0, max: U32_MAX }),
    ("system", "taskpool_initial_size", Uint { min: 0, max: U32_MAX }),
    ("system", "taskpool_max_size", Uint { min: 0, max: U32_MAX }),
    ("system", "taskpool_minimum_size", Uint { min: 0, max: U32_MAX }),
    // old name: sets the same field as taskpool_auto_increment
    ("system", "threadpool_auto_increment", Uint { min: 0, max: U32_MAX }),
    // old name: sets the same field as taskpool_idle_timeout
    ("system", "threadpool_idle_timeout", Uint { min: 0, max: U32_MAX }),
    // old name: sets the same field as taskpool_initial_size
    ("system", "threadpool_initial_size", Uint { min: 0, max: U32_MAX }),
    // old name: sets the same field as taskpool_max_size
    ("system", "threadpool_max_size", Uint { min: 0, max: U32_MAX }),
    // milliseconds; below 64 x timer_t1 it is raised with a warning, not refused
    ("system", "timer_b", Uint { min: 0, max: U32_MAX }),
    // milliseconds; below 100 it is raised to 100 with a warning, not refused
    ("system", "timer_t1", Uint { min: 0, max: U32_MAX }),
    ("system", "type", EnumExact(&["system"])),
    ("transport", "allow_reload", Bool),
    // custom TLS handler, but the same ast_true test
    ("transport", "allow_wildcard_certs", Bool),
    // any value other than 1 is ignored with a warning
    ("transport", "async_operations", Uint { min: 0, max: U32_MAX }),
    // pj_sockaddr_parse: port optional, IPv6 with a port in brackets; pjlib would also resolve an
    // IPv4 host name; an unparsable value is refused, and a transport without bind is refused
    // (except protocol = flow)
    ("transport", "bind", IpAddress { port: true }),
    // must name a readable file (checked when loaded)
    ("transport", "ca_list_file", Text),
    // must name a readable file (checked when loaded)
    ("transport", "ca_list_path", Text),
    // must name a readable file (checked when loaded)
    ("transport", "cert_file", Text),
    // comma-separated OpenSSL cipher names (case-sensitive) or numbers; an unsupported one is
    // refused
    ("transport", "cipher", Text),
    // no range check in the handler
    ("transport", "cos", Uint { min: 0, max: U32_MAX }),
    ("transport", "domain", Text),
    // resolved through dnsmgr when applied
    ("transport", "external_media_address", Host),
    // resolved through dnsmgr when applied
    ("transport", "external_signaling_address", Host),
    // range enforced by the handler
    ("transport", "external_signaling_port", Uint { min: 0, max: 65535 }),
    ("transport", "local_net", CidrList),
    // an empty value means default
    ("transport", "method", Enum(TLS_METHODS)),
    ("transport", "password", Text),
    // must name a readable file (checked when loaded)
    ("transport", "priv_key_file", Text),
    ("transport", "protocol", Enum(&["udp", "tcp", "tls", "ws", "wss", "flow"])),
    // custom TLS handler, but the same ast_true test
    ("transport", "require_client_cert", Bool),
    ("transport", "symmetric_transport", Bool),
    ("transport", "tcp_keepalive_enable", Bool),
    // seconds; no range check
    ("transport", "tcp_keepalive_idle_time", Int { min: I32_MIN, max: I32_MAX }),
    // seconds; no range check
    ("transport", "tcp_keepalive_interval_time", Int { min: I32_MIN, max: I32_MAX }),
    // no range check
    ("transport", "tcp_keepalive_probe_count", Int { min: I32_MIN, max: I32_MAX }),
    // a value that is not a multiple of 4 is rounded down with a warning
    ("transport", "tos", Tos),
    ("transport", "type", EnumExact(&["transport"])),
    // custom TLS handler, but the same ast_true test
    ("transport", "verify_client", Bool),
    // custom TLS handler, but the same ast_true test
    ("transport", "verify_server", Bool),
    // milliseconds; range enforced by the handler
    ("transport", "websocket_write_timeout", Int { min: 1, max: I32_MAX }),
];

/// The value type of `option` in a section of type `section_type`; `None` when the table
/// does not know the pair.
pub fn value_type(section_type: &str, option: &str) -> Option<ValueType> {
    VALUE_TYPES
        .binary_search_by(|(section, name, _)| (*section, *name).cmp(&(section_type, option)))
        .ok()
        .map(|index| VALUE_TYPES[index].2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_without_duplicates() {
        for pair in VALUE_TYPES.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            assert!(
                (a.0, a.1) < (b.0, b.1),
                "{}.{} must come strictly before {}.{}",
                a.0,
                a.1,
                b.0,
                b.1
            );
        }
    }
}
