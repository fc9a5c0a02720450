//! The option names Asterisk 22 accepts in each `pjsip.conf` section type.
//!
//! Taken from the configuration documentation of Asterisk 22.10.1 (the version of the
//! recorded transcripts): `res/res_pjsip/pjsip_config.xml` (endpoint, auth, aor, contact,
//! transport, domain_alias, global, system), `res/res_pjsip_outbound_registration.c`
//! (registration) and `res/res_pjsip_endpoint_identifier_ip.c` (identify). The names were
//! cross-checked against the `ast_sorcery_object_field_register*` calls of the same release:
//! both lists agree. Asterisk drops a whole object that carries an unknown option (transcript
//! `h2-unknown-option`), so every option rayan writes must be in this table.

const ENDPOINT_OPTIONS: &[&str] = &[
    "100rel",
    "accept_multiple_sdp_answers",
    "accountcode",
    "acl",
    "aggregate_mwi",
    "allow",
    "allow_overlap",
    "allow_subscribe",
    "allow_transfer",
    "allow_unauthenticated_options",
    "aors",
    "asymmetric_rtp_codec",
    "auth",
    "bind_rtp_to_media_address",
    "bundle",
    "call_group",
    "callerid",
    "callerid_privacy",
    "callerid_tag",
    "codec_prefs_incoming_answer",
    "codec_prefs_incoming_offer",
    "codec_prefs_outgoing_answer",
    "codec_prefs_outgoing_offer",
    "connected_line_method",
    "contact_acl",
    "contact_deny",
    "contact_permit",
    "contact_user",
    "context",
    "cos_audio",
    "cos_video",
    "deny",
    "device_state_busy_at",
    "direct_media",
    "direct_media_glare_mitigation",
    "direct_media_method",
    "disable_direct_media_on_nat",
    "disallow",
    "dtls_auto_generate_cert",
    "dtls_ca_file",
    "dtls_ca_path",
    "dtls_cert_file",
    "dtls_cipher",
    "dtls_fingerprint",
    "dtls_private_key",
    "dtls_rekey",
    "dtls_setup",
    "dtls_verify",
    "dtmf_mode",
    "fax_detect",
    "fax_detect_timeout",
    "follow_early_media_fork",
    "follow_redirect_methods",
    "force_avp",
    "force_rport",
    "from_domain",
    "from_user",
    "g726_non_standard",
    "geoloc_incoming_call_profile",
    "geoloc_outgoing_call_profile",
    "ice_support",
    "identify_by",
    "ignore_183_without_sdp",
    "inband_progress",
    "incoming_call_offer_pref",
    "incoming_mwi_mailbox",
    "language",
    "mailboxes",
    "max_audio_streams",
    "max_video_streams",
    "media_address",
    "media_encryption",
    "media_encryption_optimistic",
    "media_use_received_transport",
    "message_context",
    "moh_passthrough",
    "moh_suggest",
    "mwi_from_user",
    "mwi_subscribe_replaces_unsolicited",
    "named_call_group",
    "named_pickup_group",
    "notify_early_inuse_ringing",
    "one_touch_recording",
    "outbound_auth",
    "outbound_proxy",
    "outgoing_call_offer_pref",
    "overlap_context",
    "permit",
    "pickup_group",
    "preferred_codec_only",
    "record_off_feature",
    "record_on_feature",
    "redirect_method",
    "refer_blind_progress",
    "rewrite_contact",
    "rpid_immediate",
    "rtcp_mux",
    "rtp_engine",
    "rtp_ipv6",
    "rtp_keepalive",
    "rtp_port_end",
    "rtp_port_start",
    "rtp_symmetric",
    "rtp_timeout",
    "rtp_timeout_hold",
    "sdp_owner",
    "sdp_session",
    "security_mechanisms",
    "security_negotiation",
    "send_aoc",
    "send_connected_line",
    "send_diversion",
    "send_history_info",
    "send_pai",
    "send_rpid",
    "set_var",
    "srtp_tag_32",
    "stir_shaken",
    "stir_shaken_profile",
    "sub_min_expiry",
    "subscribe_context",
    "suppress_moh_on_sendonly",
    "suppress_q850_reason_headers",
    "t38_bind_udptl_to_media_address",
    "t38_udptl",
    "t38_udptl_ec",
    "t38_udptl_ipv6",
    "t38_udptl_maxdatagram",
    "t38_udptl_nat",
    "tenantid",
    "timers",
    "timers_min_se",
    "timers_sess_expires",
    "tone_zone",
    "tos_audio",
    "tos_video",
    "transport",
    "trust_connected_line",
    "trust_id_inbound",
    "trust_id_outbound",
    "type",
    "use_avpf",
    "use_ptime",
    "user_eq_phone",
    "voicemail_extension",
    "webrtc",
];

const AUTH_OPTIONS: &[&str] = &[
    "auth_type",
    "md5_cred",
    "nonce_lifetime",
    "oauth_clientid",
    "oauth_secret",
    "password",
    "password_digest",
    "realm",
    "refresh_token",
    "supported_algorithms_uac",
    "supported_algorithms_uas",
    "type",
    "username",
];

const AOR_OPTIONS: &[&str] = &[
    "authenticate_qualify",
    "contact",
    "default_expiration",
    "mailboxes",
    "max_contacts",
    "maximum_expiration",
    "minimum_expiration",
    "outbound_proxy",
    "qualify_2xx_only",
    "qualify_frequency",
    "qualify_timeout",
    "remove_existing",
    "remove_unavailable",
    "support_path",
    "type",
    "voicemail_extension",
];

const REGISTRATION_OPTIONS: &[&str] = &[
    "auth_rejection_permanent",
    "client_uri",
    "contact_header_params",
    "contact_user",
    "endpoint",
    "expiration",
    "fatal_retry_interval",
    "forbidden_retry_interval",
    "line",
    "max_random_initial_delay",
    "max_retries",
    "outbound_auth",
    "outbound_proxy",
    "retry_interval",
    "security_mechanisms",
    "security_negotiation",
    "server_uri",
    "support_outbound",
    "support_path",
    "transport",
    "type",
    "user_agent",
];

const IDENTIFY_OPTIONS: &[&str] = &[
    "endpoint",
    "match",
    "match_header",
    "match_request_uri",
    "srv_lookups",
    "type",
];

const TRANSPORT_OPTIONS: &[&str] = &[
    "allow_reload",
    "allow_wildcard_certs",
    "async_operations",
    "bind",
    "ca_list_file",
    "ca_list_path",
    "cert_file",
    "cipher",
    "cos",
    "domain",
    "external_media_address",
    "external_signaling_address",
    "external_signaling_port",
    "local_net",
    "method",
    "password",
    "priv_key_file",
    "protocol",
    "require_client_cert",
    "symmetric_transport",
    "tcp_keepalive_enable",
    "tcp_keepalive_idle_time",
    "tcp_keepalive_interval_time",
    "tcp_keepalive_probe_count",
    "tos",
    "type",
    "verify_client",
    "verify_server",
    "websocket_write_timeout",
];

const CONTACT_OPTIONS: &[&str] = &[
    "authenticate_qualify",
    "call_id",
    "endpoint",
    "expiration_time",
    "outbound_proxy",
    "path",
    "prune_on_boot",
    "qualify_2xx_only",
    "qualify_frequency",
    "qualify_timeout",
    "reg_server",
    "type",
    "uri",
    "user_agent",
    "via_addr",
    "via_port",
];

const DOMAIN_ALIAS_OPTIONS: &[&str] = &["domain", "type"];

const GLOBAL_OPTIONS: &[&str] = &[
    "all_codecs_on_empty_reinvite",
    "allow_sending_180_after_183",
    "contact_expiration_check_interval",
    "debug",
    "default_auth_algorithms_uac",
    "default_auth_algorithms_uas",
    "default_from_user",
    "default_outbound_endpoint",
    "default_realm",
    "default_voicemail_extension",
    "disable_multi_domain",
    "endpoint_identifier_order",
    "ignore_uri_user_options",
    "keep_alive_interval",
    "max_forwards",
    "max_initial_qualify_time",
    "mwi_disable_initial_unsolicited",
    "mwi_tps_queue_high",
    "mwi_tps_queue_low",
    "norefersub",
    "regcontext",
    "send_contact_status_on_update_registration",
    "taskprocessor_overload_trigger",
    "type",
    "unidentified_request_count",
    "unidentified_request_period",
    "unidentified_request_prune_interval",
    "use_callerid_contact",
    "user_agent",
];

const SYSTEM_OPTIONS: &[&str] = &[
    "accept_multiple_sdp_answers",
    "compact_headers",
    "disable_rport",
    "disable_tcp_switch",
    "follow_early_media_fork",
    "taskpool_auto_increment",
    "taskpool_idle_timeout",
    "taskpool_initial_size",
    "taskpool_max_size",
    "taskpool_minimum_size",
    "threadpool_auto_increment",
    "threadpool_idle_timeout",
    "threadpool_initial_size",
    "threadpool_max_size",
    "timer_b",
    "timer_t1",
    "type",
];

/// The section types rayan knows, with their options (each list sorted).
const SECTION_TYPES: &[(&str, &[&str])] = &[
    ("endpoint", ENDPOINT_OPTIONS),
    ("auth", AUTH_OPTIONS),
    ("aor", AOR_OPTIONS),
    ("registration", REGISTRATION_OPTIONS),
    ("identify", IDENTIFY_OPTIONS),
    ("transport", TRANSPORT_OPTIONS),
    ("contact", CONTACT_OPTIONS),
    ("domain_alias", DOMAIN_ALIAS_OPTIONS),
    ("global", GLOBAL_OPTIONS),
    ("system", SYSTEM_OPTIONS),
];

/// The options of `section_type`, sorted; `None` for an unknown section type.
pub fn options_for(section_type: &str) -> Option<&'static [&'static str]> {
    SECTION_TYPES
        .iter()
        .find(|(t, _)| *t == section_type)
        .map(|(_, options)| *options)
}

/// The section types the table covers.
pub fn section_types() -> impl Iterator<Item = &'static str> {
    SECTION_TYPES.iter().map(|(t, _)| *t)
}

/// True when Asterisk 22 accepts `option` in a section of type `section_type`.
pub fn is_valid_option(section_type: &str, option: &str) -> bool {
    options_for(section_type).is_some_and(|options| options.binary_search(&option).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_list_is_sorted_and_has_type() {
        for section_type in section_types() {
            let options = options_for(section_type).unwrap_or_default();
            assert!(
                options.windows(2).all(|w| w[0] < w[1]),
                "{section_type} is not sorted"
            );
            assert!(
                is_valid_option(section_type, "type"),
                "{section_type} lacks type"
            );
        }
    }

    #[test]
    fn knows_the_options_the_transcripts_loaded() {
        // c1/c2: the endpoint, auth and aor options Asterisk 22.10.1 accepted.
        for option in [
            "context",
            "disallow",
            "allow",
            "transport",
            "auth",
            "aors",
            "direct_media",
            "media_address",
            "bind_rtp_to_media_address",
        ] {
            assert!(is_valid_option("endpoint", option), "{option}");
        }
        for option in ["auth_type", "username", "password", "realm", "md5_cred"] {
            assert!(is_valid_option("auth", option), "{option}");
        }
        assert!(is_valid_option("aor", "max_contacts"));
        assert!(is_valid_option("aor", "qualify_frequency"));
        // e0: the registration options.
        for option in [
            "transport",
            "outbound_auth",
            "server_uri",
            "client_uri",
            "contact_user",
            "retry_interval",
            "expiration",
        ] {
            assert!(is_valid_option("registration", option), "{option}");
        }
    }

    #[test]
    fn refuses_what_asterisk_refused() {
        // h2: `no_such_option` made Asterisk drop the endpoint.
        assert!(!is_valid_option("endpoint", "no_such_option"));
        // An option of another section type is unknown here.
        assert!(!is_valid_option("endpoint", "max_contacts"));
        assert!(!is_valid_option("aor", "context"));
        assert!(!is_valid_option("no_such_type", "type"));
    }
}
