//! Extension templates: each renders endpoint, auth and aor sections with documented
//! options only, and an extension like 1002 renders what Asterisk loaded in transcript d3.

use crate::render_support::{Section, asterisk_parse, extension};
use rayan::model::ExtensionAuth;
use rayan::render::{RenderError, RenderSettings, render_extension};
use rayan::templates::{builtin_extension_templates, is_valid_option};

/// A change that should make rendering fail.
type ExtensionMutation = Box<dyn Fn(&mut rayan::model::Extension)>;

fn settings() -> RenderSettings {
    RenderSettings {
        blocklist_in_asterisk: true,
        wss_transport: Some("transport-wss".to_owned()),
        ..RenderSettings::default()
    }
}

/// Renders and reads back the three sections (endpoint, auth, aor).
fn sections(ext: &rayan::model::Extension, settings: &RenderSettings) -> [Section; 3] {
    let block = render_extension(ext, settings).unwrap().unwrap();
    assert_eq!(block.id, format!("Extension {}", ext.number));
    let parsed = asterisk_parse(&block.body);
    assert!(
        parsed.problems.is_empty() && parsed.directives.is_empty(),
        "{parsed:?}"
    );
    assert_eq!(parsed.comments, 0);
    let [endpoint, auth, aor]: [Section; 3] = parsed.sections.try_into().unwrap();
    assert_eq!(endpoint.section_type(), Some("endpoint"));
    assert_eq!(auth.section_type(), Some("auth"));
    assert_eq!(aor.section_type(), Some("aor"));
    for section in [&endpoint, &auth, &aor] {
        assert_eq!(section.name, ext.number);
    }
    [endpoint, auth, aor]
}

/// What Asterisk 22.10.1 reported for endpoint 1002 after loading the c2 block
/// (transcript d3-pjsipshowendpoint-1002-md5, EndpointDetail, AuthDetail and AorDetail).
const D3_LOADED: &[(&str, &str, &str)] = &[
    ("endpoint", "Aors", "1002"),
    ("endpoint", "Auth", "1002"),
    ("endpoint", "Context", "from-internal"),
    ("endpoint", "Transport", "transport-udp"),
    ("endpoint", "Allow", "(ulaw)"),
    ("endpoint", "DirectMedia", "false"),
    ("auth", "AuthType", "md5"),
    ("auth", "Username", "1002"),
    ("auth", "Realm", "asterisk"),
    ("auth", "Md5Cred", "730dfeafc21b9ebefe98153eaf320b2e"),
    ("aor", "MaxContacts", "1"),
];

/// The pjsip.conf option behind each AMI detail field, and how AMI prints its value.
fn as_loaded(field: &str, value: &str) -> (String, String) {
    let option = match field {
        "AuthType" => "auth_type".to_owned(),
        "Md5Cred" => "md5_cred".to_owned(),
        "MaxContacts" => "max_contacts".to_owned(),
        "DirectMedia" => "direct_media".to_owned(),
        other => other.to_lowercase(),
    };
    let shown = match (field, value) {
        ("Allow", v) => format!("({})", v.replace(',', "|")),
        ("DirectMedia", "no") => "false".to_owned(),
        ("DirectMedia", "yes") => "true".to_owned(),
        (_, v) => v.to_owned(),
    };
    (option, shown)
}

/// Endpoint 1001 in transcript d1-pjsipshowendpoint-1001 (its auth there is `userpass`;
/// rayan stores only the digest and writes `md5`, the d3 case).
const D1_LOADED: &[(&str, &str, &str)] = &[
    ("endpoint", "Aors", "1001"),
    ("endpoint", "Auth", "1001"),
    ("endpoint", "Context", "from-internal"),
    ("endpoint", "Transport", "transport-udp"),
    ("endpoint", "Allow", "(ulaw)"),
    ("endpoint", "DirectMedia", "false"),
    ("aor", "MaxContacts", "1"),
];

fn assert_loaded(number: &str, password: &str, loaded: &[(&str, &str, &str)]) {
    let mut ext = extension(number, "basic");
    ext.codecs = Some(vec!["ulaw".to_owned()]);
    ext.auth = ExtensionAuth::from_password(number, "asterisk", password);
    let [endpoint, auth, aor] = sections(&ext, &RenderSettings::default());
    for (section_type, field, shown) in loaded {
        let section = match *section_type {
            "endpoint" => &endpoint,
            "auth" => &auth,
            _ => &aor,
        };
        let option = as_loaded(field, "").0;
        let value = section
            .get(&option)
            .unwrap_or_else(|| panic!("{section_type} lacks {option}"));
        assert_eq!(as_loaded(field, value).1, *shown, "{section_type} {option}");
    }
}

#[test]
fn extension_1002_renders_what_asterisk_loaded_in_d3() {
    assert_loaded("1002", "pass1002", D3_LOADED);
}

#[test]
fn extension_1001_renders_what_asterisk_loaded_in_d1() {
    assert_loaded("1001", "pass1001", D1_LOADED);
}

#[test]
fn every_template_writes_only_documented_options_once() {
    for template in builtin_extension_templates() {
        let ext = extension("1001", &template.id);
        for section in sections(&ext, &settings()) {
            let section_type = section.section_type().unwrap_or_default().to_owned();
            let mut keys: Vec<&str> = section.options.iter().map(|(k, _)| k.as_str()).collect();
            for key in &keys {
                assert!(
                    is_valid_option(&section_type, key),
                    "{}: {section_type} {key}",
                    template.id
                );
            }
            keys.sort_unstable();
            assert!(
                keys.windows(2).all(|w| w[0] != w[1]),
                "{}: repeated option in {keys:?}",
                template.id
            );
        }
    }
}

#[test]
fn templates_apply_their_catalogue_defaults() {
    for template in builtin_extension_templates() {
        let [endpoint, auth, aor] = sections(&extension("2001", &template.id), &settings());
        assert_eq!(
            endpoint.get("allow"),
            Some(template.default_codecs.join(",").as_str()),
            "{}",
            template.id
        );
        assert_eq!(endpoint.get("disallow"), Some("all"));
        assert_eq!(
            aor.get("max_contacts"),
            Some(template.default_max_contacts.to_string().as_str())
        );
        assert_eq!(
            (endpoint.get("auth"), endpoint.get("aors")),
            (Some("2001"), Some("2001"))
        );
        assert_eq!(endpoint.get("context"), Some("from-internal"));
        assert_eq!(auth.get("auth_type"), Some("md5"));
        assert_eq!(auth.get("username"), Some("2001"));
        assert_eq!(auth.get("password"), None, "only the digest is written");
        // NAT-safe everywhere.
        for (option, value) in [
            ("direct_media", "no"),
            ("rtp_symmetric", "yes"),
            ("force_rport", "yes"),
            ("rewrite_contact", "yes"),
        ] {
            assert_eq!(
                endpoint.get(option),
                Some(value),
                "{} {option}",
                template.id
            );
        }
    }
}

#[test]
fn each_template_has_its_features() {
    let get = |template: &str| sections(&extension("1001", template), &settings());

    let [endpoint, _, aor] = get("basic");
    assert_eq!(endpoint.get("transport"), Some("transport-udp"));
    assert_eq!(aor.get("max_contacts"), Some("1"));
    assert_eq!(aor.get("remove_existing"), Some("yes"));

    let [endpoint, _, aor] = get("advanced");
    assert_eq!(endpoint.get("allow"), Some("g722,ulaw,alaw"));
    assert_eq!(endpoint.get("t38_udptl"), Some("yes"));
    assert_eq!(endpoint.get("t38_udptl_ec"), Some("redundancy"));
    assert_eq!(aor.get("max_contacts"), Some("3"));
    assert_eq!(aor.get("qualify_frequency"), Some("60"));

    let [endpoint, _, aor] = get("mobile");
    assert!(endpoint.get("allow").is_some_and(|a| a.starts_with("opus")));
    assert_eq!(endpoint.get("ice_support"), Some("yes"));
    assert_eq!(aor.get("max_contacts"), Some("5"));
    assert_eq!(aor.get("maximum_expiration"), Some("86400"));

    let [endpoint, _, aor] = get("webrtc");
    assert_eq!(endpoint.get("webrtc"), Some("yes"));
    assert_eq!(endpoint.get("dtls_auto_generate_cert"), Some("yes"));
    assert_eq!(endpoint.get("transport"), Some("transport-wss"));
    let allow = endpoint.get("allow").unwrap_or_default();
    for codec in ["opus", "vp8", "h264"] {
        assert!(allow.split(',').any(|c| c == codec), "{allow}");
    }
    assert!(aor.get("max_contacts").is_some());
}

#[test]
fn extension_fields_override_template_defaults() {
    let mut ext = extension("1001", "basic");
    ext.codecs = Some(vec!["g722".to_owned(), "ulaw".to_owned()]);
    ext.max_contacts = Some(2);
    ext.caller_id = Some("\"Front Desk\" <100>".to_owned());
    ext.name = Some("Alice".to_owned());
    ext.context = "office".to_owned();
    let [endpoint, _, aor] = sections(&ext, &settings());
    assert_eq!(endpoint.get("allow"), Some("g722,ulaw"));
    assert_eq!(endpoint.get("callerid"), Some("\"Front Desk\" <100>"));
    assert_eq!(endpoint.get("context"), Some("office"));
    assert_eq!(aor.get("max_contacts"), Some("2"));

    ext.caller_id = None;
    let [endpoint, ..] = sections(&ext, &settings());
    assert_eq!(endpoint.get("callerid"), Some("\"Alice\" <1001>"));

    ext.name = None;
    let no_transport = RenderSettings {
        blocklist_in_asterisk: true,
        udp_transport: None,
        ..settings()
    };
    let [endpoint, ..] = sections(&ext, &no_transport);
    assert_eq!(endpoint.get("callerid"), None);
    assert_eq!(endpoint.get("transport"), None);
}

#[test]
fn disabled_extensions_render_nothing() {
    let mut ext = extension("1001", "basic");
    ext.enabled = false;
    assert!(render_extension(&ext, &settings()).unwrap().is_none());
}

#[test]
fn bad_extensions_are_refused_with_the_field_named() {
    let cases: Vec<(ExtensionMutation, &str)> = vec![
        (
            Box::new(|e| e.template = "fancy".into()),
            "unknown extension template 'fancy'",
        ),
        (
            Box::new(|e| e.number = "10a1".into()),
            "extension: must be 1 to 20 digits",
        ),
        (Box::new(|e| e.auth.md5_cred = "abc".into()), "md5_cred"),
        (Box::new(|e| e.name = Some("Al\"ice".into())), "name"),
        (
            Box::new(|e| e.name = Some("a<b".into())),
            "name: must not contain",
        ),
        (
            Box::new(|e| e.caller_id = Some(String::new())),
            "caller_id: must not be empty",
        ),
        (
            Box::new(|e| e.name = Some("abc\u{202e}def".into())),
            "name: must not contain invisible",
        ),
        (
            Box::new(|e| e.context = "from internal".into()),
            "context: must be",
        ),
        (
            Box::new(|e| e.codecs = Some(vec!["mp3".into()])),
            "unknown codec",
        ),
        (Box::new(|e| e.max_contacts = Some(0)), "max_contacts"),
        (Box::new(|e| e.auth.realm = "asterisk;x".into()), "realm"),
        (
            Box::new(|e| e.caller_id = Some("x\n[evil]".into())),
            "caller_id: must not contain a line break",
        ),
    ];
    for (mutate, expected) in cases {
        let mut ext = extension("1001", "basic");
        mutate(&mut ext);
        let err: RenderError = render_extension(&ext, &settings()).unwrap_err();
        assert!(
            err.to_string().contains(expected),
            "{err} (wanted {expected})"
        );
        assert!(
            err.to_string().contains("1001") || err.to_string().contains("10a1"),
            "{err}"
        );
    }
}
