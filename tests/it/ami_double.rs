//! The double's own building blocks: the Asterisk config-dialect reader and the PJSIP object
//! loader with Asterisk's recorded failure modes.

use std::sync::Arc;

use crate::support::asterisk::config_file::{ConfigError, parse};
use crate::support::asterisk::pjsip_objects::{
    PjsipConfig, builtin_validator, field_name, load, render,
};

#[test]
fn sections_templates_and_comments() {
    let text = "\
[global]
type=global ; trailing comment
user_agent=Asterisk-AMI-lab

[base](!)
context=from-internal
disallow=all

;-- a block
comment --;
[1001](base)
type=endpoint
allow => ulaw
callerid=\"A\\;B\" <1001>
[1001](+)
aors=1001
not an option line
";
    let mut warnings = Vec::new();
    let sections = parse(text, &mut warnings).unwrap();
    assert_eq!(sections.len(), 3);
    let endpoint = &sections[2];
    assert_eq!(endpoint.get("context"), Some("from-internal"));
    assert_eq!(endpoint.get("allow"), Some("ulaw"));
    assert_eq!(endpoint.get("aors"), Some("1001"));
    assert_eq!(endpoint.get("callerid"), Some("\"A;B\" <1001>"));
    assert!(sections[1].is_template);
    assert_eq!(warnings.len(), 1);
}

#[test]
fn unterminated_section_or_orphan_option_rejects_the_file() {
    let mut warnings = Vec::new();
    assert_eq!(
        parse("[ok]\ntype=aor\n[1004\ntype=endpoint\n", &mut warnings),
        Err(ConfigError::NoClosingBracket { line: 3 })
    );
    assert_eq!(
        parse("type=aor\n[x]\n", &mut warnings),
        Err(ConfigError::NoCategory { line: 1 })
    );
}

const GOOD: &str = "\
[transport-udp]
type=transport
protocol=udp
bind=127.0.0.1:5060

[1001]
type=endpoint
context=from-internal
aors=1001
auth=1001

[1001]
type=auth
username=1001
password=pass1001

[1001]
type=aor
max_contacts=1
";

#[test]
fn bad_value_drops_only_that_object() {
    let text =
        format!("{GOOD}\n[1003]\ntype=endpoint\naors=1003\n[1003]\ntype=aor\nmax_contacts=abc\n");
    let (config, log) = load(&text, &builtin_validator(), &PjsipConfig::default()).unwrap();
    assert!(config.get("endpoint", "1003").is_some());
    assert!(config.get("aor", "1003").is_none());
    assert!(config.get("aor", "1001").is_some());
    assert!(
        log.iter()
            .any(|l| l.contains("Error parsing max_contacts=abc")),
        "{log:?}"
    );
}

#[test]
fn unknown_option_drops_that_endpoint_and_the_hook_decides() {
    let text = format!("{GOOD}\n[1004]\ntype=endpoint\nno_such_option=42\n");
    let (config, _) = load(&text, &builtin_validator(), &PjsipConfig::default()).unwrap();
    assert!(config.get("endpoint", "1004").is_none());
    assert!(config.get("endpoint", "1001").is_some());

    let permissive = Arc::new(|_: &str, _: &str| true);
    let (config, _) = load(&text, &(permissive as _), &PjsipConfig::default()).unwrap();
    assert!(config.get("endpoint", "1004").is_some());
}

#[test]
fn syntax_error_rejects_everything_and_section_without_type_is_ignored() {
    let (previous, _) = load(GOOD, &builtin_validator(), &PjsipConfig::default()).unwrap();
    let broken = format!("{GOOD}\n[1004\ntype=endpoint\n");
    let log = load(&broken, &builtin_validator(), &previous).unwrap_err();
    assert!(log.iter().any(|l| l.contains("no closing ']'")), "{log:?}");

    let untyped = format!("{GOOD}\n[1003]\ncontext=from-internal\n");
    let (config, _) = load(&untyped, &builtin_validator(), &previous).unwrap();
    assert_eq!(config.endpoint_names(), ["1001"]);
    assert_eq!(config.objects.len(), previous.objects.len());
}

/// k1: without allow_reload a reload keeps bind (and protocol, TLS, ToS, CoS) but
/// applies external_* and local_net; with allow_reload=yes it applies everything.
#[test]
fn transport_reload_applies_only_what_asterisk_reloads() {
    let (previous, _) = load(GOOD, &builtin_validator(), &PjsipConfig::default()).unwrap();
    let changed = GOOD.replace(
        "bind=127.0.0.1:5060",
        "bind=127.0.0.1:5066\nexternal_media_address=127.0.0.2\nlocal_net=127.0.0.0/8",
    );
    let (config, log) = load(&changed, &builtin_validator(), &previous).unwrap();
    let transport = config.get("transport", "transport-udp").unwrap();
    assert_eq!(transport.get("bind"), Some("127.0.0.1:5060"));
    assert_eq!(transport.get("external_media_address"), Some("127.0.0.2"));
    assert_eq!(transport.get("local_net"), Some("127.0.0.0/8"));
    assert!(
        log.iter().any(|l| l.contains("is not fully reloadable")),
        "{log:?}"
    );

    let reloadable = changed.replace(
        "bind=127.0.0.1:5066",
        "bind=127.0.0.1:5066\nallow_reload=yes",
    );
    let (config, log) = load(&reloadable, &builtin_validator(), &config).unwrap();
    let transport = config.get("transport", "transport-udp").unwrap();
    assert_eq!(transport.get("bind"), Some("127.0.0.1:5066"));
    assert!(!log.iter().any(|l| l.contains("reloadable")), "{log:?}");
}

#[test]
fn rendering_follows_asterisk_field_names_and_values() {
    assert_eq!(
        field_name("bind_rtp_to_media_address"),
        "BindRtpToMediaAddress"
    );
    assert_eq!(field_name("100rel"), "100rel");
    assert_eq!(field_name("srtp_tag_32"), "SrtpTag32");
    let text = "[e]\ntype=endpoint\ndisallow=all\nallow=ulaw,alaw\ndirect_media=no\ncontext=x\n";
    let (config, _) = load(text, &builtin_validator(), &PjsipConfig::default()).unwrap();
    let fields = render(config.get("endpoint", "e").unwrap());
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("Allow"), Some("(ulaw|alaw)"));
    assert_eq!(get("DirectMedia"), Some("false"));
    assert_eq!(get("Context"), Some("x"));
    assert_eq!(get("DtmfMode"), Some("rfc4733"));
}
