//! The renderer is the last line of defence: whatever the input (validated or not), its
//! output read the way Asterisk reads it has exactly the sections and options the
//! renderer means to write, and every value arrives whole.

use crate::render_support::{Parsed, asterisk_parse, extension, trunk};
use proptest::prelude::*;
use rayan::model::{InboundRoute, OutboundRoute};
use rayan::render::{ConfigSnapshot, RenderSettings, render_all, render_extension, render_trunk};
use rayan::templates::{builtin_provider_templates, find_provider, is_valid_option};

/// Strings built to break out of a `key=value` line, plus arbitrary text.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,24}",
        "[a-z0-9]{0,4}[\\n\\r;\\[\\]\\\\#=>\"<,()${}\\x00\\x0b\\u{85}\\u{2028} ]{1,3}[a-z0-9]{0,4}",
        Just("x\n[evil]\ntype=endpoint".to_owned()),
        Just("x;--".to_owned()),
        Just(">x".to_owned()),
        Just("a\\;b".to_owned()),
        Just("${SHELL(rm -rf /)}".to_owned()),
        Just("\n#include /etc/passwd".to_owned()),
        "[a-z0-9_.+-]{1,12}",
    ]
}

/// `[<extension>,]<priority>,<App>(<args>)` with one known application and nothing after
/// its closing parenthesis: no smuggled application or argument list.
fn one_application(value: &str, with_extension: bool) -> bool {
    // A hint watches exactly its own extension's endpoint: `1001,hint,PJSIP/1001`.
    if let [exten, "hint", device] = value.split(',').collect::<Vec<_>>()[..] {
        return with_extension
            && device.strip_prefix("PJSIP/") == Some(exten)
            && !exten.contains(['(', ')', '&', ' ']);
    }
    let fields = if with_extension { 3 } else { 2 };
    let Some(app) = value.splitn(fields, ',').nth(fields - 1) else {
        return false;
    };
    let Some((name, rest)) = app.split_once('(') else {
        return false;
    };
    let Some(args) = rest.strip_suffix(')') else {
        return false;
    };
    ["Dial", "Goto", "Hangup"].contains(&name) && !args.contains(['(', ')'])
}

/// Mostly a valid value, sometimes a hostile one, so that both paths are exercised.
fn mostly(
    valid: &'static str,
    other: impl Strategy<Value = String>,
) -> impl Strategy<Value = String> {
    prop_oneof![3 => Just(valid.to_owned()), 1 => other]
}

fn clean(parsed: &Parsed) -> Result<(), TestCaseError> {
    prop_assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    prop_assert!(parsed.directives.is_empty(), "{:?}", parsed.directives);
    prop_assert_eq!(parsed.comments, 0);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn extensions_cannot_smuggle_lines(
        number in prop_oneof![3 => "[0-9]{1,6}", 1 => hostile()],
        template in prop_oneof![Just("basic".to_owned()), Just("webrtc".to_owned()), hostile()],
        context in mostly("from-internal", hostile()),
        name in proptest::option::of(hostile()),
        caller_id in proptest::option::of(hostile()),
        realm in mostly("asterisk", hostile()),
        codec in mostly("ulaw", hostile()),
        transport in proptest::option::of(mostly("transport-udp", hostile())),
        override_value in proptest::option::of(mostly("yes", hostile())),
    ) {
        let mut ext = extension("1001", "basic");
        if let Some(value) = override_value {
            ext.options.0.entry("endpoint".into()).or_default().insert("direct_media".into(), value);
        }
        ext.number = number;
        ext.template = template;
        ext.context = context;
        ext.name = name;
        ext.caller_id = caller_id;
        ext.auth.realm = realm;
        ext.codecs = Some(vec![codec]);
        let settings = RenderSettings { udp_transport: transport.clone(), wss_transport: transport, ..RenderSettings::default() };
        let Ok(Some(block)) = render_extension(&ext, &settings) else { return Ok(()) };
        let parsed = asterisk_parse(&block.body);
        clean(&parsed)?;
        prop_assert_eq!(parsed.sections.len(), 3);
        let types: Vec<&str> = parsed.sections.iter().filter_map(|s| s.section_type()).collect();
        prop_assert_eq!(types, ["endpoint", "auth", "aor"]);
        for section in &parsed.sections {
            prop_assert_eq!(&section.name, &ext.number);
            prop_assert_eq!(section.all("type").len(), 1);
            for (key, _) in &section.options {
                prop_assert!(is_valid_option(section.section_type().unwrap_or_default(), key), "{}", key);
            }
        }
        // Values arrive whole.
        let endpoint = &parsed.sections[0];
        prop_assert_eq!(endpoint.get("context"), Some(ext.context.as_str()));
        prop_assert_eq!(parsed.sections[1].get("realm"), Some(ext.auth.realm.as_str()));
        let expected_callerid = match (&ext.caller_id, &ext.name) {
            (Some(c), _) => Some(c.clone()),
            (None, Some(n)) => Some(format!("\"{n}\" <{}>", ext.number)),
            (None, None) => None,
        };
        prop_assert_eq!(endpoint.get("callerid").map(str::to_owned), expected_callerid);
    }

    #[test]
    fn trunks_cannot_smuggle_lines(
        name in mostly("t1", hostile()),
        provider in prop_oneof![Just("telnyx"), Just("custom_ip"), Just("twilio"), Just("voipms")],
        username in proptest::option::of(mostly("user1", hostile())),
        password in proptest::option::of(mostly("s3cret", hostile())),
        server in mostly("sip.example.com", hostile()),
        did in proptest::option::of(mostly("+15551234567", hostile())),
        context in mostly("from-trunk", hostile()),
        address in mostly("192.0.2.1", hostile()),
        template_value in mostly("{server}", hostile()),
        override_value in proptest::option::of(mostly("info", hostile())),
    ) {
        let providers = builtin_provider_templates().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut template = find_provider(&providers, provider).cloned().ok_or_else(|| TestCaseError::fail("provider"))?;
        // A template that skipped validation.
        template.endpoint.insert("from_domain".to_owned(), template_value);
        let mut t = trunk("t1", provider);
        if let Some(value) = override_value {
            t.options.0.entry("endpoint".into()).or_default().insert("dtmf_mode".into(), value);
        }
        t.name = name;
        t.username = username;
        t.password = password.clone();
        t.server = Some(server);
        t.did = did;
        t.context = context;
        t.match_addresses = vec![address];
        let Ok(Some(block)) = render_trunk(&t, &template, &RenderSettings::default()) else { return Ok(()) };
        let parsed = asterisk_parse(&block.body);
        clean(&parsed)?;
        let allowed = [t.name.clone(), format!("{}-auth", t.name), format!("{}-reg", t.name), format!("{}-aor", t.name), format!("{}-identify", t.name)];
        for section in &parsed.sections {
            prop_assert!(allowed.contains(&section.name), "{}", section.name);
            prop_assert_eq!(section.all("type").len(), 1);
            for (key, _) in &section.options {
                prop_assert!(is_valid_option(section.section_type().unwrap_or_default(), key), "{}", key);
            }
        }
        if let Some(auth) = parsed.sections.iter().find(|s| s.section_type() == Some("auth")) {
            prop_assert_eq!(auth.get("password"), password.as_deref());
        }
        let endpoint = parsed.sections.iter().find(|s| s.name == t.name).ok_or_else(|| TestCaseError::fail("no endpoint"))?;
        prop_assert_eq!(endpoint.get("context"), Some(t.context.as_str()));
    }

    #[test]
    fn routes_cannot_smuggle_lines(
        pattern in mostly("_1NXXNXXXXXX", hostile()),
        prepend in mostly("+", hostile()),
        route_name in mostly("us", hostile()),
        did in mostly("+15551234567", hostile()),
        context in mostly("from-internal", hostile()),
        strip in 0u32..3,
    ) {
        let snapshot = ConfigSnapshot {
            blocked: Vec::new(),
            extensions: vec![extension("1001", "basic")],
            trunks: vec![trunk("telnyx_main", "telnyx")],
            transports: Vec::new(),
            inbound_routes: vec![InboundRoute { id: 1, did, trunk: None, extension: "1001".to_owned() }],
            outbound_routes: vec![OutboundRoute {
                id: 1,
                name: route_name,
                pattern,
                trunk: "telnyx_main".to_owned(),
                strip,
                prepend,
                priority: 1,
                context,
            }],
        };
        let providers = builtin_provider_templates().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let Ok(rendered) = render_all(&snapshot, &providers, &RenderSettings::default()) else { return Ok(()) };
        for block in &rendered.extensions {
            let parsed = asterisk_parse(&block.body);
            clean(&parsed)?;
            prop_assert_eq!(parsed.sections.len(), 1);
            for (key, value) in &parsed.sections[0].options {
                prop_assert!(["exten", "same", "include"].contains(&key.as_str()), "{}", key);
                if key != "include" {
                    prop_assert!(one_application(value, key == "exten"), "{}", value);
                }
            }
        }
    }
}

/// Text a client might send: mostly plausible, sometimes hostile, sometimes empty or
/// carrying invisible characters.
fn client_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9 ._-]{0,12}",
        hostile(),
        Just(String::new()),
        Just("abc\u{202e}def".to_owned()),
        Just("<sip:evil@x>".to_owned()),
        Just("a=>b".to_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever the API accepts for an extension renders: the API and the renderer
    /// apply one rule, so a write the API answered 2xx can never freeze the apply.
    #[test]
    fn extensions_the_api_accepts_render(
        name in proptest::option::of(mostly("Alice B", client_text())),
        caller_id in proptest::option::of(mostly("\"Front desk\" <200>", client_text())),
        context in proptest::option::of(mostly("from-internal", client_text())),
        template in proptest::option::of(prop_oneof![3 => Just("basic".to_owned()), 3 => Just("webrtc".to_owned()), 1 => client_text()]),
        max_contacts in proptest::option::of(0u32..101),
        from_user in proptest::option::of(mostly("front-desk", client_text())),
        dtmf_mode in proptest::option::of(prop_oneof![Just("info".to_owned()), Just("RFC4733".to_owned()), client_text()]),
        qualify_frequency in proptest::option::of(0u32..100_000),
    ) {
        let mut options = rayan::model::options::ObjectOptions::default();
        for (section, option, value) in [
            ("endpoint", "from_user", from_user),
            ("endpoint", "dtmf_mode", dtmf_mode),
            ("aor", "qualify_frequency", qualify_frequency.map(|n| n.to_string())),
        ] {
            if let Some(value) = value {
                options.0.entry(section.into()).or_default().insert(option.into(), value);
            }
        }
        let input = rayan::model::extension::NewExtension {
            extension: "1001".into(),
            name,
            caller_id,
            context,
            template,
            max_contacts,
            options: Some(options.clone()),
            ..Default::default()
        };
        let known_template = input.template.as_deref().is_none_or(|t| rayan::templates::extension_template(t).is_some());
        prop_assume!(input.validate(&rayan::model::extension::NumberPolicy::default()).is_ok() && known_template);
        let mut stored = extension("1001", input.template.as_deref().unwrap_or("basic"));
        stored.name = input.name.clone();
        stored.caller_id = input.caller_id.clone();
        stored.context = input.context.clone().unwrap_or_else(|| "from-internal".into());
        stored.max_contacts = input.max_contacts;
        stored.options = options.clone();
        let rendered = render_extension(&stored, &RenderSettings::default());
        prop_assert!(matches!(rendered, Ok(Some(_))), "accepted {:?} but {:?}", input, rendered.as_ref().err().map(|e| e.to_string()));
        if let Ok(Some(block)) = &rendered {
            let parsed = asterisk_parse(&block.body);
            clean(&parsed)?;
            // Each override is in its section, once, with its value.
            for (section_type, overrides) in &options.0 {
                let section = parsed.sections.iter().find(|s| s.section_type() == Some(section_type.as_str()));
                prop_assert!(section.is_some());
                for (option, value) in overrides {
                    prop_assert_eq!(section.map(|s| s.all(option)).unwrap_or_default(), vec![value.as_str()]);
                }
            }
        }
        let snapshot = ConfigSnapshot { extensions: vec![stored], ..Default::default() };
        let all = rayan::render::render_isolated(&snapshot, &[], &RenderSettings::default());
        prop_assert!(all.failures.is_empty(), "{:?}", all.failures);
    }

    /// The same for outbound and inbound routes.
    #[test]
    fn routes_the_api_accepts_render(
        name in mostly("us_local", client_text()),
        pattern in mostly("_1NXXNXXXXXX", client_text()),
        strip in proptest::option::of(0u32..14),
        prepend in proptest::option::of(mostly("+1", client_text())),
        context in proptest::option::of(mostly("from-internal", client_text())),
        did in mostly("+15551234567", client_text()),
    ) {
        let route = rayan::model::routes::NewOutboundRoute {
            name,
            pattern,
            trunk: "telnyx_main".into(),
            strip,
            prepend,
            priority: None,
            context,
        };
        let stored = OutboundRoute {
            id: 1,
            name: route.name.clone(),
            pattern: route.pattern.clone(),
            trunk: route.trunk.clone(),
            strip: route.strip.unwrap_or(0),
            prepend: route.prepend.clone().unwrap_or_default(),
            priority: 1,
            context: route.context.clone().unwrap_or_else(|| "from-internal".into()),
        };
        let mut errors = rayan::model::FieldErrors::new();
        rayan::model::routes::check_route_pattern(&mut errors, &stored.pattern, stored.strip, &stored.prepend);
        let outbound_ok = route.validate().is_ok() && errors.is_empty();
        let inbound = rayan::model::routes::NewInboundRoute { did, trunk: None, extension: "1001".into() };
        let mut errors = rayan::model::FieldErrors::new();
        rayan::model::routes::check_did(&mut errors, "did", &inbound.did);
        let inbound_ok = inbound.validate().is_ok() && errors.is_empty();
        let snapshot = ConfigSnapshot {
            blocked: Vec::new(),
            extensions: vec![extension("1001", "basic")],
            trunks: vec![trunk("telnyx_main", "telnyx")],
            transports: Vec::new(),
            inbound_routes: if inbound_ok {
                vec![InboundRoute { id: 1, did: inbound.did.clone(), trunk: None, extension: "1001".to_owned() }]
            } else {
                vec![]
            },
            outbound_routes: if outbound_ok { vec![stored] } else { vec![] },
        };
        let providers = builtin_provider_templates().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let rendered = rayan::render::render_isolated(&snapshot, &providers, &RenderSettings::default());
        prop_assert!(rendered.failures.is_empty(), "{:?}", rendered.failures.iter().map(|f| f.error.to_string()).collect::<Vec<_>>());
    }
}
