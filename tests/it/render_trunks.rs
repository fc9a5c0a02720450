//! Provider templates and trunk rendering.

use std::path::Path;

use crate::render_support::{Parsed, Section, asterisk_parse, trunk};
use rayan::model::Trunk;
use rayan::render::{RenderError, RenderSettings, render_trunk};
use rayan::templates::{
    AuthType, ProviderTemplate, TrunkField, builtin_provider_templates, find_provider,
    is_valid_option, load_dir,
};

/// A change that should make rendering fail.
type TrunkMutation = Box<dyn Fn(&mut Trunk)>;

fn providers() -> Vec<ProviderTemplate> {
    builtin_provider_templates().unwrap()
}

fn provider(id: &str) -> ProviderTemplate {
    find_provider(&providers(), id).cloned().unwrap()
}

/// A trunk with every field its template requires filled in.
fn complete_trunk(template: &ProviderTemplate) -> Trunk {
    let mut t = trunk(&format!("{}_main", template.id), &template.id);
    if template.auth_type == AuthType::Ip {
        t.username = None;
        t.password = None;
    }
    for field in &template.required_fields {
        match field {
            TrunkField::Server => t.server = Some("trunk.example.com".to_owned()),
            TrunkField::Port => t.port = Some(5080),
            TrunkField::Did => t.did = Some("+15551234567".to_owned()),
            TrunkField::MatchAddresses => t.match_addresses = vec!["203.0.113.0/24".to_owned()],
            TrunkField::Codecs => t.codecs = Some(vec!["ulaw".to_owned()]),
            _ => {}
        }
    }
    t
}

fn render(t: &Trunk, template: &ProviderTemplate) -> Parsed {
    let block = render_trunk(t, template, &RenderSettings::default())
        .unwrap()
        .unwrap();
    assert_eq!(block.id, format!("Trunk {}", t.name));
    let parsed = asterisk_parse(&block.body);
    assert!(
        parsed.problems.is_empty() && parsed.directives.is_empty() && parsed.comments == 0,
        "{parsed:?}"
    );
    parsed
}

fn section<'p>(parsed: &'p Parsed, name: &str) -> Option<&'p Section> {
    parsed.sections.iter().find(|s| s.name == name)
}

#[test]
fn the_shipped_directory_holds_the_ten_providers() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("provider_templates");
    let loaded = load_dir(&dir).unwrap();
    assert_eq!(loaded, providers());
    let mut ids: Vec<&str> = loaded.iter().map(|t| t.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [
            "bandwidth",
            "custom_credential",
            "custom_ip",
            "flowroute",
            "plivo",
            "signalwire",
            "telnyx",
            "twilio",
            "voipms",
            "vonage"
        ]
    );
    for template in &loaded {
        assert!(
            template.problems().is_empty(),
            "{}: {:?}",
            template.id,
            template.problems()
        );
    }
}

#[test]
fn every_provider_renders_linked_sections_with_documented_options() {
    for template in providers() {
        let t = complete_trunk(&template);
        let parsed = render(&t, &template);
        let name = t.name.as_str();
        for s in &parsed.sections {
            let section_type = s.section_type().unwrap_or_default();
            for (key, _) in &s.options {
                assert!(
                    is_valid_option(section_type, key),
                    "{}: [{}] {section_type} {key}",
                    template.id,
                    s.name
                );
            }
        }
        let endpoint = section(&parsed, name).unwrap();
        assert_eq!(endpoint.section_type(), Some("endpoint"));
        assert_eq!(endpoint.get("context"), Some("from-trunk"));
        assert_eq!(endpoint.get("aors"), Some(format!("{name}-aor").as_str()));
        let aor = section(&parsed, &format!("{name}-aor")).unwrap();
        assert!(aor.get("contact").is_some_and(|c| c.starts_with("sip:")));
        let auth = section(&parsed, &format!("{name}-auth"));
        let reg = section(&parsed, &format!("{name}-reg"));
        match template.auth_type {
            AuthType::Credential => {
                let auth = auth.unwrap();
                assert_eq!(
                    (auth.get("auth_type"), auth.get("password")),
                    (Some("userpass"), Some("s3cret-Pass"))
                );
                assert_eq!(
                    endpoint.get("outbound_auth"),
                    Some(format!("{name}-auth").as_str())
                );
                assert_eq!(reg.is_some(), template.register, "{}", template.id);
            }
            AuthType::Ip => {
                assert!(auth.is_none() && reg.is_none());
                assert_eq!(endpoint.get("outbound_auth"), None);
                let identify = section(&parsed, &format!("{name}-identify")).unwrap();
                assert_eq!(identify.get("endpoint"), Some(name));
            }
        }
        if let Some(reg) = reg {
            assert_eq!(
                reg.get("outbound_auth"),
                Some(format!("{name}-auth").as_str())
            );
            assert_eq!(
                (reg.get("line"), reg.get("endpoint")),
                (Some("yes"), Some(name))
            );
        }
    }
}

#[test]
fn telnyx_registers_to_sip_telnyx_com_and_matches_its_us_proxies() {
    let template = provider("telnyx");
    let mut t = trunk("telnyx_main", "telnyx");
    t.did = Some("+15551234567".to_owned());
    let parsed = render(&t, &template);
    let reg = section(&parsed, "telnyx_main-reg").unwrap();
    assert_eq!(reg.get("server_uri"), Some("sip:sip.telnyx.com:5060"));
    assert_eq!(reg.get("client_uri"), Some("sip:user1@sip.telnyx.com:5060"));
    assert_eq!(reg.get("contact_user"), Some("+15551234567"));
    assert_eq!(reg.get("transport"), Some("transport-udp"));
    let identify = section(&parsed, "telnyx_main-identify").unwrap();
    assert_eq!(identify.get("match"), Some("192.76.120.10,64.16.250.10"));
    let endpoint = section(&parsed, "telnyx_main").unwrap();
    assert_eq!(endpoint.get("allow"), Some("ulaw,alaw,g722"));
}

/// The registration transcript e0 shows Asterisk 22 loading an auth + registration pair;
/// a custom credential trunk to the same server renders the same options.
#[test]
fn registration_has_the_shape_asterisk_loaded_in_e0() {
    let template = provider("custom_credential");
    let mut t = trunk("lab", "custom_credential");
    t.username = Some("lab".to_owned());
    t.password = Some("labpass".to_owned());
    t.server = Some("127.0.0.1".to_owned());
    t.port = Some(5999);
    let parsed = render(&t, &template);
    let auth = section(&parsed, "lab-auth").unwrap();
    let reg = section(&parsed, "lab-reg").unwrap();
    // e0: [reg-lab-auth] type=auth auth_type=userpass username=lab password=labpass
    for (option, value) in [
        ("type", "auth"),
        ("auth_type", "userpass"),
        ("username", "lab"),
        ("password", "labpass"),
    ] {
        assert_eq!(auth.get(option), Some(value), "{option}");
    }
    // e0: [reg-lab] type=registration transport=transport-udp outbound_auth=reg-lab-auth
    //     server_uri=sip:127.0.0.1:5999 client_uri=sip:lab@127.0.0.1:5999 contact_user=lab
    for (option, value) in [
        ("type", "registration"),
        ("transport", "transport-udp"),
        ("outbound_auth", "lab-auth"),
        ("server_uri", "sip:127.0.0.1:5999"),
        ("client_uri", "sip:lab@127.0.0.1:5999"),
        ("contact_user", "lab"),
    ] {
        assert_eq!(reg.get(option), Some(value), "{option}");
    }
    assert!(reg.get("retry_interval").is_some());
}

#[test]
fn twilio_calls_out_to_the_termination_uri_without_registering() {
    let template = provider("twilio");
    let mut t = trunk("twilio_main", "twilio");
    assert!(matches!(
        render_trunk(&t, &template, &RenderSettings::default()),
        Err(RenderError::MissingField { field, .. }) if field == "server"
    ));
    t.server = Some("acme.pstn.twilio.com".to_owned());
    let parsed = render(&t, &template);
    assert!(section(&parsed, "twilio_main-reg").is_none());
    assert_eq!(
        section(&parsed, "twilio_main-aor").and_then(|a| a.get("contact")),
        Some("sip:acme.pstn.twilio.com:5060")
    );
    let matched = section(&parsed, "twilio_main-identify")
        .and_then(|i| i.get("match"))
        .unwrap_or_default();
    assert!(
        matched.split(',').any(|m| m == "54.172.60.0/30"),
        "{matched}"
    );
}

#[test]
fn template_options_fill_placeholders_and_replace_defaults() {
    let voipms = provider("voipms");
    let parsed = render(&trunk("vms", "voipms"), &voipms);
    let endpoint = section(&parsed, "vms").unwrap();
    assert_eq!(endpoint.get("from_user"), Some("user1"));
    assert_eq!(endpoint.get("send_rpid"), Some("yes"));

    let mut custom = provider("custom_ip");
    custom
        .endpoint
        .insert("direct_media".to_owned(), "yes".to_owned());
    custom
        .endpoint
        .insert("from_domain".to_owned(), "{server}".to_owned());
    custom
        .endpoint
        .insert("from_user".to_owned(), "{did}".to_owned());
    let mut t = trunk("peer", "custom_ip");
    t.username = None;
    t.password = None;
    t.server = Some("10.1.2.3".to_owned());
    let parsed = render(&t, &custom);
    let endpoint = section(&parsed, "peer").unwrap();
    assert_eq!(endpoint.all("direct_media"), ["yes"]);
    assert_eq!(endpoint.get("from_domain"), Some("10.1.2.3"));
    assert_eq!(
        endpoint.get("from_user"),
        None,
        "no DID, so the option is left out"
    );
    // Without match addresses an IP trunk matches its server.
    assert_eq!(
        section(&parsed, "peer-identify").and_then(|i| i.get("match")),
        Some("10.1.2.3")
    );
}

#[test]
fn trunk_values_are_checked() {
    let telnyx = provider("telnyx");
    let cases: Vec<(TrunkMutation, &str)> = vec![
        (Box::new(|t| t.password = None), "password is required"),
        (Box::new(|t| t.username = Some("a@b".into())), "username"),
        (Box::new(|t| t.server = Some("sip:evil".into())), "server"),
        (Box::new(|t| t.did = Some("555-1234".into())), "did"),
        (
            Box::new(|t| t.match_addresses = vec!["1.2.3.4;x".into()]),
            "match_addresses",
        ),
        (
            Box::new(|t| t.context = "from trunk".into()),
            "section name",
        ),
        (Box::new(|t| t.password = Some("p\nass".into())), "password"),
        (Box::new(|t| t.codecs = Some(vec!["nope".into()])), "codec"),
        (Box::new(|t| t.port = Some(0)), "port"),
    ];
    for (mutate, expected) in cases {
        let mut t = trunk("telnyx_main", "telnyx");
        mutate(&mut t);
        let err = render_trunk(&t, &telnyx, &RenderSettings::default()).unwrap_err();
        assert!(
            err.to_string().contains(expected),
            "{err} (wanted {expected})"
        );
        assert!(err.to_string().contains("telnyx_main"), "{err}");
    }
    let mut disabled = trunk("telnyx_main", "telnyx");
    disabled.enabled = false;
    assert!(
        render_trunk(&disabled, &telnyx, &RenderSettings::default())
            .unwrap()
            .is_none()
    );
}

#[test]
fn required_fields_are_reported_for_the_api() {
    let bandwidth = provider("bandwidth");
    let mut t = trunk("bw", "bandwidth");
    t.username = None;
    t.password = None;
    assert_eq!(
        bandwidth.missing_required(&t),
        [TrunkField::Server, TrunkField::MatchAddresses]
    );
    t.server = Some("198.51.100.1".to_owned());
    t.match_addresses = vec!["198.51.100.1".to_owned()];
    assert!(bandwidth.missing_required(&t).is_empty());
}
