//! The dialplan: internal calls, outbound routes in priority order, inbound routes, and
//! the dial-pattern checker the API calls.

use crate::render_support::{asterisk_parse, extension, trunk};
use proptest::prelude::*;
use rayan::model::{InboundRoute, OutboundRoute};
use rayan::render::{ConfigSnapshot, RenderError, RenderSettings, check_dial_pattern, render_all};
use rayan::templates::builtin_provider_templates;

fn route(
    name: &str,
    pattern: &str,
    trunk: &str,
    strip: u32,
    prepend: &str,
    priority: i32,
) -> OutboundRoute {
    OutboundRoute {
        id: 1,
        name: name.to_owned(),
        pattern: pattern.to_owned(),
        trunk: trunk.to_owned(),
        strip,
        prepend: prepend.to_owned(),
        priority,
        context: "from-internal".to_owned(),
    }
}

fn inbound(did: &str, trunk: Option<&str>, extension: &str) -> InboundRoute {
    InboundRoute {
        id: 1,
        did: did.to_owned(),
        trunk: trunk.map(str::to_owned),
        extension: extension.to_owned(),
    }
}

fn snapshot() -> ConfigSnapshot {
    let mut disabled = extension("1003", "basic");
    disabled.enabled = false;
    let mut sales = extension("2001", "basic");
    sales.context = "sales".to_owned();
    ConfigSnapshot {
        blocked: Vec::new(),
        extensions: vec![
            extension("1002", "basic"),
            extension("1001", "advanced"),
            disabled,
            sales,
        ],
        trunks: vec![trunk("telnyx_main", "telnyx")],
        transports: Vec::new(),
        inbound_routes: vec![
            inbound("+15551234567", Some("telnyx_main"), "1001"),
            inbound("+15557654321", None, "1003"),
        ],
        outbound_routes: vec![
            route("us_long", "_1NXXNXXXXXX", "telnyx_main", 0, "+", 20),
            route("emergency", "911", "telnyx_main", 0, "", 1),
            route("us_local", "_NXXNXXXXXX", "telnyx_main", 0, "+1", 10),
            route("intl", "_011.", "telnyx_main", 3, "+", 30),
        ],
    }
}

fn render(snapshot: &ConfigSnapshot) -> Result<rayan::render::RenderedConfig, RenderError> {
    render_all(
        snapshot,
        &builtin_provider_templates().unwrap(),
        &RenderSettings::default(),
    )
}

#[test]
fn renders_contexts_then_routes() {
    let rendered = render(&snapshot()).unwrap();
    let ids: Vec<&str> = rendered.extensions.iter().map(|b| b.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "Dialplan from-internal",
            "Dialplan from-trunk",
            "Dialplan sales",
            "Route outbound emergency",
            "Route outbound intl",
            "Route outbound us_local",
            "Route outbound us_long",
        ]
    );
    let body = |id: &str| {
        rendered
            .extensions
            .iter()
            .find(|b| b.id == id)
            .map(|b| b.body.as_str())
            .unwrap_or_default()
    };
    assert_eq!(
        body("Dialplan from-internal"),
        "[from-internal]\n\
         exten => 1001,hint,PJSIP/1001\n\
         exten => 1001,1,Dial(PJSIP/1001,30)\n same => n,Hangup()\n\
         exten => 1002,hint,PJSIP/1002\n\
         exten => 1002,1,Dial(PJSIP/1002,30)\n same => n,Hangup()\n\
         include => rayan-out-emergency\n\
         include => rayan-out-us_local\n\
         include => rayan-out-us_long\n\
         include => rayan-out-intl\n"
    );
    assert_eq!(
        body("Dialplan from-trunk"),
        "[from-trunk]\nexten => +15551234567,1,Goto(from-internal,1001,1)\n same => n,Hangup()\n",
        "the route to disabled 1003 is left out"
    );
    assert_eq!(
        body("Dialplan sales"),
        "[sales]\nexten => 2001,hint,PJSIP/2001\nexten => 2001,1,Dial(PJSIP/2001,30)\n same => n,Hangup()\n"
    );
    assert_eq!(
        body("Route outbound us_local"),
        "[rayan-out-us_local]\nexten => _NXXNXXXXXX,1,Dial(PJSIP/+1${EXTEN}@telnyx_main)\n same => n,Hangup()\n"
    );
    assert_eq!(
        body("Route outbound intl"),
        "[rayan-out-intl]\nexten => _011.,1,Dial(PJSIP/+${EXTEN:3}@telnyx_main)\n same => n,Hangup()\n"
    );
    for block in &rendered.extensions {
        let parsed = asterisk_parse(&block.body);
        assert!(
            parsed.problems.is_empty() && parsed.comments == 0 && parsed.directives.is_empty(),
            "{parsed:?}"
        );
        assert_eq!(parsed.sections.len(), 1);
        for (key, _) in &parsed.sections[0].options {
            assert!(
                ["exten", "same", "include"].contains(&key.as_str()),
                "{key}"
            );
        }
    }
    // Disabled extension 1003 has no endpoint either.
    assert!(rendered.pjsip.iter().all(|b| b.id != "Extension 1003"));
    assert_eq!(rendered.pjsip.len(), 4, "three extensions and one trunk");
}

#[test]
fn routes_through_a_disabled_trunk_are_left_out() {
    let mut snapshot = snapshot();
    snapshot.trunks[0].enabled = false;
    // A disabled trunk is not rendered, so even a provider that no longer exists is fine.
    snapshot.trunks[0].provider = "retired_provider".to_owned();
    let rendered = render(&snapshot).unwrap();
    assert!(rendered.pjsip.iter().all(|b| !b.id.starts_with("Trunk")));
    assert!(
        rendered
            .extensions
            .iter()
            .all(|b| !b.id.starts_with("Route") && !b.body.contains("include"))
    );
    assert!(
        rendered
            .extensions
            .iter()
            .all(|b| b.id != "Dialplan from-trunk")
    );
}

#[test]
fn dangling_and_duplicate_references_are_errors() {
    let mut s = snapshot();
    s.outbound_routes
        .push(route("ghost", "_9X.", "no_such_trunk", 1, "", 5));
    assert!(
        matches!(render(&s), Err(RenderError::MissingReference { missing, .. }) if missing == "trunk no_such_trunk")
    );

    let mut s = snapshot();
    s.inbound_routes.push(inbound("+15550000000", None, "4040"));
    assert!(
        matches!(render(&s), Err(RenderError::MissingReference { missing, .. }) if missing == "extension 4040")
    );

    let mut s = snapshot();
    s.inbound_routes.push(inbound("+15551234567", None, "1002"));
    assert!(
        matches!(render(&s), Err(RenderError::Duplicate { .. })),
        "one DID twice in one context"
    );

    let mut s = snapshot();
    s.outbound_routes
        .push(route("us_local", "_9X.", "telnyx_main", 1, "", 5));
    assert!(matches!(render(&s), Err(RenderError::Duplicate { .. })));

    let mut s = snapshot();
    s.extensions.push(extension("1001", "basic"));
    assert!(matches!(render(&s), Err(RenderError::Duplicate { .. })));

    let mut s = snapshot();
    s.trunks.push(trunk("1002", "telnyx"));
    assert!(
        matches!(render(&s), Err(RenderError::Duplicate { .. })),
        "trunk endpoint named like an extension"
    );

    let mut s = snapshot();
    s.extensions[0].context = "general".to_owned();
    assert!(render(&s).unwrap_err().to_string().contains("reserved"));

    let mut s = snapshot();
    s.outbound_routes[0].strip = 12;
    assert!(matches!(
        render(&s),
        Err(RenderError::InvalidFields { errors, .. }) if errors.0.iter().any(|e| e.field == "strip")
    ));
}

/// A pattern built from Asterisk's pattern tokens.
fn valid_pattern() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        "[0-9*#+]",
        "[XZNxzn]",
        (0u8..10, 0u8..10).prop_map(|(a, b)| format!("[{}-{}]", a.min(b), a.max(b))),
        "\\[[0-9]{1,4}\\]",
    ];
    (
        prop::collection::vec(token, 1..12),
        prop_oneof![Just(""), Just("."), Just("!")],
    )
        .prop_map(|(tokens, end)| format!("_{}{end}", tokens.concat()))
}

proptest! {
    #[test]
    fn generated_patterns_are_accepted(pattern in valid_pattern()) {
        prop_assert!(check_dial_pattern(&pattern).is_ok(), "{}", pattern);
    }

    #[test]
    fn accepted_patterns_only_hold_pattern_characters(pattern in "\\PC{0,16}|_[0-9XZN\\[\\]\\-.!;,()${}\\n]{0,12}") {
        if check_dial_pattern(&pattern).is_ok() {
            let allowed = |c: char| c.is_ascii_digit() || "_*#+XZNxzn[]-.!".contains(c);
            prop_assert!(pattern.chars().all(allowed), "{:?}", pattern);
            prop_assert!(!pattern.contains('-') || pattern.contains('['), "{:?}", pattern);
        }
    }
}
