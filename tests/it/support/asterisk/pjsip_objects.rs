//! The PJSIP objects the double has "loaded", built from `pjsip.conf` the way Asterisk's
//! sorcery does it, and their field lists as `PJSIPShow*` prints them.
//!
//! Recorded failure modes (transcripts h1-h4):
//! - a value that does not parse (`max_contacts=abc`) drops that one object;
//! - an unknown option drops that one object;
//! - a syntax error rejects the whole file and the previous objects stay;
//! - a section without `type=` is ignored.
//!
//! Field order and defaults come from the recorded `EndpointDetail`, `AuthDetail`,
//! `TransportDetail`, `AorDetail` and `OutboundRegistrationDetail` events.

use std::sync::Arc;

use super::config_file;

/// Decides whether `option` is a real option of a section of `type` (`endpoint`, `aor`,
/// ...). Tests can pass the project's own option table.
pub type OptionValidator = Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PjsipObject {
    /// `type=` of the section: `endpoint`, `auth`, `aor`, `transport`, `registration`, ...
    pub kind: String,
    pub name: String,
    /// Options in file order, without `type`.
    pub options: Vec<(String, String)>,
}

impl PjsipObject {
    pub fn get(&self, option: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(option))
            .map(|(_, v)| v.as_str())
    }

    /// A comma-separated option (`aors`, `auth`) as a list.
    pub fn list(&self, option: &str) -> Vec<String> {
        self.get(option)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// Everything loaded, sorted by type then name (Asterisk lists objects sorted by id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PjsipConfig {
    pub objects: Vec<PjsipObject>,
}

impl PjsipConfig {
    pub fn get(&self, kind: &str, name: &str) -> Option<&PjsipObject> {
        self.objects
            .iter()
            .find(|o| o.kind == kind && o.name == name)
    }

    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a PjsipObject> + 'a {
        self.objects.iter().filter(move |o| o.kind == kind)
    }

    pub fn endpoint_names(&self) -> Vec<String> {
        self.of_kind("endpoint").map(|o| o.name.clone()).collect()
    }

    fn sort(&mut self) {
        self.objects.sort_by(|a, b| {
            (a.kind.as_str(), a.name.as_str()).cmp(&(b.kind.as_str(), b.name.as_str()))
        });
    }
}

/// What a reload of res_pjsip changes in a transport that already exists (k1).
pub const RELOADABLE_TRANSPORT_OPTIONS: &[&str] = &[
    "external_media_address",
    "external_signaling_address",
    "external_signaling_port",
    "local_net",
];

const KNOWN_TYPES: &[&str] = &[
    "endpoint",
    "auth",
    "aor",
    "transport",
    "registration",
    "global",
    "system",
    "identify",
    "acl",
    "domain_alias",
    "contact",
    "phoneprov",
    "resource_list",
    "outbound-publish",
    "inbound-publication",
];

/// Loads `text`. `Err` carries Asterisk-like log lines when the whole file is rejected; on
/// `Ok` the log lists every object that was dropped and why.
pub fn load(
    text: &str,
    validator: &OptionValidator,
    previous: &PjsipConfig,
) -> Result<(PjsipConfig, Vec<String>), Vec<String>> {
    let mut log = Vec::new();
    let sections = match config_file::parse(text, &mut log) {
        Ok(sections) => sections,
        Err(error) => {
            log.push(error.to_string());
            log.push(
                "Contents of config file 'pjsip.conf' are invalid and cannot be parsed".to_owned(),
            );
            return Err(log);
        }
    };
    let mut config = PjsipConfig::default();
    'sections: for section in sections.into_iter().filter(|s| !s.is_template) {
        let Some(kind) = section.get("type").map(str::to_owned) else {
            continue;
        };
        if !KNOWN_TYPES.contains(&kind.as_str()) {
            log.push(format!(
                "Could not create an object of type '{kind}' with id '{}': unknown type",
                section.name
            ));
            continue;
        }
        let mut options = Vec::new();
        for (option, value, line) in &section.options {
            if option.eq_ignore_ascii_case("type") {
                continue;
            }
            if !validator(&kind, option) {
                log.push(format!(
                    "Could not find option suitable for category '{}' named '{option}' at line {line} of ",
                    section.name
                ));
                log.push(could_not_create(&kind, &section.name));
                continue 'sections;
            }
            if kind == "acl"
                && let Some(lines) = super::live::acl_value_log(option, value, *line)
            {
                log.extend(lines);
                log.push(could_not_create(&kind, &section.name));
                continue 'sections;
            }
            if let Err(()) = check_value(&kind, option, value) {
                log.push(format!("Error parsing {option}={value} at line {line} of "));
                log.push(could_not_create(&kind, &section.name));
                continue 'sections;
            }
            options.push((option.clone(), value.clone()));
        }
        // A transport that already exists takes only its reloadable options on reload,
        // unless its new text says allow_reload=yes (k1).
        if kind == "transport"
            && let Some(old) = previous.get("transport", &section.name)
        {
            let new = PjsipObject {
                kind: kind.clone(),
                name: section.name.clone(),
                options: options.clone(),
            };
            if !new.get("allow_reload").is_some_and(is_true) {
                let kept = |o: &PjsipObject| -> Vec<(String, String)> {
                    o.options
                        .iter()
                        .filter(|(k, _)| !RELOADABLE_TRANSPORT_OPTIONS.contains(&k.as_str()))
                        .cloned()
                        .collect()
                };
                let fixed_old = kept(old);
                let fixed_new: Vec<(String, String)> = kept(&new)
                    .into_iter()
                    .filter(|(k, _)| k != "allow_reload")
                    .collect();
                let fixed_old_cmp: Vec<(String, String)> = fixed_old
                    .iter()
                    .filter(|(k, _)| k != "allow_reload")
                    .cloned()
                    .collect();
                if fixed_old_cmp != fixed_new {
                    log.push(format!(
                        "Transport '{}' is not fully reloadable, not reloading: protocol, bind, TLS (everything but certificate and private key if filename is unchanged), TCP, ToS, or CoS options.",
                        section.name
                    ));
                }
                let mut merged: Vec<(String, String)> = fixed_old
                    .into_iter()
                    .filter(|(k, _)| k != "allow_reload")
                    .collect();
                merged.extend(
                    options
                        .iter()
                        .filter(|(k, _)| {
                            RELOADABLE_TRANSPORT_OPTIONS.contains(&k.as_str())
                                || k == "allow_reload"
                        })
                        .cloned(),
                );
                options = merged;
            }
        }
        config
            .objects
            .retain(|o| !(o.kind == kind && o.name == section.name));
        config.objects.push(PjsipObject {
            kind,
            name: section.name,
            options,
        });
    }
    config.sort();
    Ok((config, log))
}

fn could_not_create(kind: &str, name: &str) -> String {
    format!(
        "Could not create an object of type '{kind}' with id '{name}' from configuration file 'pjsip.conf'"
    )
}

/// The built-in option check: the options whose fields Asterisk prints for the type, plus
/// the handful of options without a field of their own. Types the double does not render
/// accept anything.
pub fn builtin_validator() -> OptionValidator {
    Arc::new(|kind, option| {
        let extra: &[&str] = match kind {
            "endpoint" => &[
                "allow",
                "disallow",
                "deny",
                "permit",
                "acl",
                "contact_deny",
                "contact_permit",
                "contact_acl",
                "set_var",
                "dtls_cert_file",
            ],
            "aor" => &["contact"],
            "auth" | "transport" | "registration" => &[],
            _ => return true,
        };
        extra.iter().any(|e| e.eq_ignore_ascii_case(option))
            || fields(kind)
                .iter()
                .any(|(field, _)| *field == field_name(option))
    })
}

/// `direct_media` -> `DirectMedia`, `100rel` -> `100rel`, `srtp_tag_32` -> `SrtpTag32`.
pub fn field_name(option: &str) -> String {
    let mut out = String::with_capacity(option.len());
    for part in option.split(['_', '-']) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueKind {
    Bool,
    Unsigned,
    Float,
    Text,
}

fn value_kind(field: &str, default: &str) -> ValueKind {
    if field.starts_with("Tos") || field.starts_with("Cos") {
        // Accepts names such as `ef` as well as numbers.
        return ValueKind::Text;
    }
    match default {
        "true" | "false" => ValueKind::Bool,
        "3.000000" => ValueKind::Float,
        d if !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()) => ValueKind::Unsigned,
        _ => ValueKind::Text,
    }
}

fn check_value(kind: &str, option: &str, value: &str) -> Result<(), ()> {
    let field = field_name(option);
    let Some((_, default)) = fields(kind).iter().find(|(f, _)| *f == field) else {
        return Ok(());
    };
    match value_kind(&field, default) {
        ValueKind::Unsigned => value.parse::<u64>().map(drop).map_err(drop),
        ValueKind::Float => value.parse::<f64>().map(drop).map_err(drop),
        // Asterisk reads any other word as false rather than failing.
        ValueKind::Bool | ValueKind::Text => Ok(()),
    }
}

/// Asterisk's `ast_true`.
fn is_true(value: &str) -> bool {
    ["yes", "true", "y", "t", "1", "on"]
        .iter()
        .any(|t| t.eq_ignore_ascii_case(value.trim()))
}

/// The object's fields as `PJSIPShow*` prints them, defaults filled in.
pub fn render(object: &PjsipObject) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = fields(&object.kind)
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let mut codecs: Vec<String> = Vec::new();
    for (option, value) in &object.options {
        match option.to_ascii_lowercase().as_str() {
            "allow" => {
                for codec in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                    if codec == "all" {
                        codecs.clear();
                    } else if !codecs.iter().any(|c| c == codec) {
                        codecs.push(codec.to_owned());
                    }
                }
                continue;
            }
            "disallow" => {
                for codec in value.split(',').map(str::trim) {
                    if codec == "all" {
                        codecs.clear();
                    } else {
                        codecs.retain(|c| c != codec);
                    }
                }
                continue;
            }
            _ => {}
        }
        let field = field_name(option);
        if let Some(slot) = out.iter_mut().find(|(k, _)| *k == field) {
            slot.1 = match value_kind(&field, fields_default(&object.kind, &field)) {
                ValueKind::Bool => is_true(value).to_string(),
                ValueKind::Unsigned => value
                    .parse::<u64>()
                    .map_or(value.clone(), |n| n.to_string()),
                ValueKind::Float => value
                    .parse::<f64>()
                    .map_or(value.clone(), |f| format!("{f:.6}")),
                ValueKind::Text => value.clone(),
            };
        }
    }
    if object.kind == "endpoint" {
        let allow = if codecs.is_empty() {
            "(nothing)".to_owned()
        } else {
            format!("({})", codecs.join("|"))
        };
        if let Some(slot) = out.iter_mut().find(|(k, _)| k == "Allow") {
            slot.1 = allow;
        }
    }
    if object.kind == "transport" {
        for (field, value) in out.iter_mut() {
            match field.as_str() {
                "LocalNet" => *value = local_net_shown(value),
                "Tos" => *value = tos_shown(value),
                "VerifyClient" | "VerifyServer" | "RequireClientCert" | "AllowWildcardCerts" => {
                    *value = if is_true(value) { "Yes" } else { "No" }.to_owned()
                }
                _ => {}
            }
        }
    }
    if object.kind == "auth" {
        let md5 = object.get("md5_cred").unwrap_or_default();
        if let Some(slot) = out.iter_mut().find(|(k, _)| k == "PasswordDigest") {
            slot.1 = if md5.is_empty() {
                String::new()
            } else {
                format!("MD5:{md5}")
            };
        }
    }
    out
}

/// `local_net` as TransportDetail prints it: `127.0.0.0/255.0.0.0` (k1).
fn local_net_shown(value: &str) -> String {
    value
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|net| {
            let (address, prefix) = net.split_once('/').unwrap_or((net, "32"));
            match (address.parse::<std::net::Ipv4Addr>(), prefix.parse::<u32>()) {
                (Ok(a), Ok(p)) if p <= 32 => {
                    let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
                    format!("{a}/{}", std::net::Ipv4Addr::from(mask))
                }
                _ => net.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The ToS byte Asterisk keeps: DSCP names shifted into place, numbers rounded
/// down to a multiple of 4.
pub fn tos_shown(value: &str) -> String {
    const NAMES: [(&str, u32); 21] = [
        ("cs0", 0),
        ("cs1", 8),
        ("cs2", 16),
        ("cs3", 24),
        ("cs4", 32),
        ("cs5", 40),
        ("cs6", 48),
        ("cs7", 56),
        ("af11", 10),
        ("af12", 12),
        ("af13", 14),
        ("af21", 18),
        ("af22", 20),
        ("af23", 22),
        ("af31", 26),
        ("af32", 28),
        ("af33", 30),
        ("af41", 34),
        ("af42", 36),
        ("af43", 38),
        ("ef", 46),
    ];
    NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(value))
        .map(|(_, d)| d << 2)
        .or_else(|| value.parse::<u32>().ok().map(|v| v & !3))
        .map_or_else(|| value.to_owned(), |v| v.to_string())
}

fn fields_default(kind: &str, field: &str) -> &'static str {
    fields(kind)
        .iter()
        .find(|(f, _)| *f == field)
        .map_or("", |(_, d)| d)
}

pub fn fields(kind: &str) -> &'static [(&'static str, &'static str)] {
    match kind {
        "endpoint" => ENDPOINT_FIELDS,
        "auth" => AUTH_FIELDS,
        "aor" => AOR_FIELDS,
        "transport" => TRANSPORT_FIELDS,
        "registration" => REGISTRATION_FIELDS,
        _ => &[],
    }
}

/// `EndpointDetail` fields in recorded order, with Asterisk 22.10.1's defaults (endpoint
/// 1003 of h1 with `context`, `aors` and `allow` back at their defaults). `DeviceState` and
/// `ActiveChannels` are runtime values appended by the server.
const ENDPOINT_FIELDS: &[(&str, &str)] = &[
    ("RpidImmediate", "false"),
    ("Webrtc", "no"),
    ("Ignore183WithoutSdp", "false"),
    ("SendAoc", "false"),
    ("DeviceStateBusyAt", "0"),
    ("T38UdptlMaxdatagram", "0"),
    (
        "CodecPrefsIncomingAnswer",
        "prefer:pending, operation:intersect, keep:all, transcode:allow",
    ),
    ("SecurityNegotiation", "no"),
    ("DtlsRekey", "0"),
    ("RtpPortEnd", "0"),
    ("NamedPickupGroup", ""),
    ("DirectMediaMethod", "invite"),
    ("SendRpid", "false"),
    ("PickupGroup", ""),
    ("SdpSession", "Asterisk"),
    ("DtlsVerify", "No"),
    ("MessageContext", ""),
    ("Tenantid", ""),
    ("Mailboxes", ""),
    ("RecordOnFeature", "automixmon"),
    ("DtlsPrivateKey", ""),
    ("DtlsFingerprint", "SHA-256"),
    ("OverlapContext", ""),
    ("OutgoingCallOfferPref", "remote_merge"),
    ("RtpPortStart", "0"),
    ("FromDomain", ""),
    ("TimersSessExpires", "1800"),
    ("NamedCallGroup", ""),
    ("DtlsCipher", ""),
    ("MediaEncryptionOptimistic", "false"),
    ("SuppressQ850ReasonHeaders", "false"),
    ("Aors", ""),
    ("IdentifyBy", "username,ip"),
    ("CalleridPrivacy", "allowed_not_screened"),
    ("MwiSubscribeReplacesUnsolicited", "no"),
    ("CosAudio", "0"),
    ("FollowEarlyMediaFork", "true"),
    ("Context", "default"),
    ("RtpSymmetric", "false"),
    ("Transport", ""),
    ("MohSuggest", "default"),
    ("T38Udptl", "false"),
    ("FaxDetect", "false"),
    ("T38BindUdptlToMediaAddress", "false"),
    ("TosVideo", "0"),
    ("SrtpTag32", "false"),
    ("ReferBlindProgress", "true"),
    ("MaxAudioStreams", "1"),
    ("Bundle", "false"),
    ("UseAvpf", "false"),
    ("CallGroup", ""),
    ("SendConnectedLine", "yes"),
    ("FaxDetectTimeout", "0"),
    ("SdpOwner", "-"),
    ("ForceRport", "true"),
    ("CalleridTag", ""),
    ("RtpTimeoutHold", "0"),
    ("SuppressMohOnSendonly", "false"),
    ("UsePtime", "false"),
    ("MediaAddress", ""),
    ("VoicemailExtension", ""),
    ("RtpTimeout", "0"),
    ("StirShaken", "no"),
    ("SetVar", ""),
    ("ContactAcl", ""),
    ("PreferredCodecOnly", "false"),
    ("GeolocOutgoingCallProfile", ""),
    ("ForceAvp", "false"),
    ("RecordOffFeature", "automixmon"),
    ("FromUser", ""),
    ("SendDiversion", "true"),
    ("SendHistoryInfo", "false"),
    ("T38UdptlIpv6", "false"),
    ("ToneZone", ""),
    ("Language", ""),
    ("AllowSubscribe", "true"),
    ("RtpIpv6", "false"),
    ("Callerid", "<unknown>"),
    ("MohPassthrough", "false"),
    ("CosVideo", "0"),
    ("DtlsAutoGenerateCert", "No"),
    ("AsymmetricRtpCodec", "false"),
    ("GeolocIncomingCallProfile", ""),
    ("IceSupport", "false"),
    ("AggregateMwi", "true"),
    ("OneTouchRecording", "false"),
    ("MwiFromUser", ""),
    ("RedirectMethod", "user"),
    ("Accountcode", ""),
    (
        "CodecPrefsOutgoingAnswer",
        "prefer:pending, operation:intersect, keep:all, transcode:allow",
    ),
    ("Allow", "(nothing)"),
    ("RewriteContact", "false"),
    ("UserEqPhone", "false"),
    ("RtpEngine", "asterisk"),
    ("FollowRedirectMethods", ""),
    ("SubscribeContext", ""),
    ("NotifyEarlyInuseRinging", "false"),
    ("IncomingMwiMailbox", ""),
    ("IncomingCallOfferPref", "local"),
    ("AllowUnauthenticatedOptions", "false"),
    ("Auth", ""),
    ("DirectMediaGlareMitigation", "none"),
    ("TrustIdInbound", "false"),
    ("StirShakenProfile", ""),
    ("BindRtpToMediaAddress", "false"),
    ("DisableDirectMediaOnNat", "false"),
    ("MediaEncryption", "no"),
    ("MediaUseReceivedTransport", "false"),
    ("AllowOverlap", "true"),
    ("DtmfMode", "rfc4733"),
    ("OutboundAuth", ""),
    ("TosAudio", "0"),
    ("DtlsCertFile", ""),
    ("DtlsCaPath", ""),
    ("DtlsSetup", "active"),
    ("ConnectedLineMethod", "invite"),
    ("G726NonStandard", "false"),
    ("100rel", "yes"),
    ("Timers", "yes"),
    ("DirectMedia", "true"),
    ("Acl", ""),
    ("TimersMinSe", "90"),
    ("TrustIdOutbound", "false"),
    ("SubMinExpiry", "0"),
    ("RtcpMux", "false"),
    ("MaxVideoStreams", "1"),
    ("AcceptMultipleSdpAnswers", "false"),
    (
        "CodecPrefsIncomingOffer",
        "prefer:pending, operation:intersect, keep:all, transcode:allow",
    ),
    (
        "CodecPrefsOutgoingOffer",
        "prefer:pending, operation:union, keep:all, transcode:allow",
    ),
    ("TrustConnectedLine", "yes"),
    ("SendPai", "false"),
    ("RtpKeepalive", "0"),
    ("T38UdptlEc", "none"),
    ("T38UdptlNat", "false"),
    ("AllowTransfer", "true"),
    ("DtlsCaFile", ""),
    ("OutboundProxy", ""),
    ("InbandProgress", "false"),
];

const AUTH_FIELDS: &[(&str, &str)] = &[
    ("OauthSecret", ""),
    ("PasswordDigest", ""),
    ("SupportedAlgorithmsUas", "MD5"),
    ("RefreshToken", ""),
    ("Username", ""),
    ("Md5Cred", ""),
    ("Realm", ""),
    ("AuthType", "userpass"),
    ("Password", ""),
    ("SupportedAlgorithmsUac", "MD5"),
    ("NonceLifetime", "32"),
    ("OauthClientid", ""),
];

const TRANSPORT_FIELDS: &[(&str, &str)] = &[
    ("WebsocketWriteTimeout", "100"),
    ("Cos", "0"),
    ("TcpKeepaliveEnable", "false"),
    ("Protocol", "udp"),
    ("SymmetricTransport", "false"),
    ("Domain", ""),
    ("VerifyServer", "No"),
    ("LocalNet", ""),
    ("Bind", ""),
    ("AllowWildcardCerts", "No"),
    ("TcpKeepaliveIntervalTime", "1"),
    ("AsyncOperations", "1"),
    ("ExternalMediaAddress", ""),
    ("Method", "unspecified"),
    ("ExternalSignalingAddress", ""),
    ("RequireClientCert", "No"),
    ("TcpKeepaliveIdleTime", "30"),
    ("Tos", "0"),
    ("CaListPath", ""),
    ("Cipher", ""),
    ("CertFile", ""),
    ("ExternalSignalingPort", "0"),
    ("Password", ""),
    ("AllowReload", "false"),
    ("VerifyClient", "No"),
    ("TcpKeepaliveProbeCount", "5"),
    ("PrivKeyFile", ""),
    ("CaListFile", ""),
];

/// `Contacts` is filled in by the server from the registered contacts.
const AOR_FIELDS: &[(&str, &str)] = &[
    ("MinimumExpiration", "60"),
    ("DefaultExpiration", "3600"),
    ("QualifyTimeout", "3.000000"),
    ("Qualify2xxOnly", "false"),
    ("Mailboxes", ""),
    ("SupportPath", "false"),
    ("RemoveUnavailable", "false"),
    ("VoicemailExtension", ""),
    ("MaxContacts", "0"),
    ("AuthenticateQualify", "false"),
    ("Contacts", ""),
    ("MaximumExpiration", "7200"),
    ("QualifyFrequency", "0"),
    ("RemoveExisting", "false"),
    ("OutboundProxy", ""),
];

const REGISTRATION_FIELDS: &[(&str, &str)] = &[
    ("MaxRetries", "10"),
    ("ClientUri", ""),
    ("SecurityNegotiation", "no"),
    ("AuthRejectionPermanent", "true"),
    ("ServerUri", ""),
    ("MaxRandomInitialDelay", "10"),
    ("SupportPath", "false"),
    ("RetryInterval", "60"),
    ("ContactHeaderParams", ""),
    ("Expiration", "3600"),
    ("Transport", ""),
    ("Line", "false"),
    ("ContactUser", ""),
    ("Endpoint", ""),
    ("UserAgent", ""),
    ("ForbiddenRetryInterval", "0"),
    ("OutboundAuth", ""),
    ("OutboundProxy", ""),
    ("FatalRetryInterval", "0"),
    ("SupportOutbound", "no"),
];
