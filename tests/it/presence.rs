//! Hints and presence (BLF): every extension's hint is made live without a
//! dialplan reload where it can be, verified with ShowDialPlan, and its state
//! follows registrations and calls as Asterisk reports them (j3, o1).

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::asterisk::Contact;
use crate::support::daemon::TestDaemon;
use crate::support::db::Backend;
use crate::support::ws::Ws;

/// The modules the apply reloaded (or `dialplan (live)`).
async fn reloads(d: &TestDaemon, answer: &Value) -> Vec<String> {
    let id = answer["apply"]["id"].as_i64().expect("an apply id");
    let apply = d
        .admin(Method::GET, &format!("/api/v1/applies/{id}"), None)
        .await;
    apply.body["reloads"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|m| m["module"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// What ShowDialPlan lists for a phone rayan renders: its hint, Dial, Hangup.
fn phone_lines(number: &str) -> Option<Vec<(String, String, String)>> {
    Some(vec![
        ("hint".into(), format!("PJSIP/{number}"), String::new()),
        ("1".into(), "Dial".into(), format!("PJSIP/{number},30")),
        ("2".into(), "Hangup".into(), String::new()),
    ])
}

#[tokio::test]
async fn extensions_change_live_without_a_dialplan_reload() {
    let d = TestDaemon::start(Backend::Postgres).await;
    let double = d.asterisk.as_ref().expect("a double");
    // The first extension's context is new to the file Asterisk last read.
    let first = d.create_extension("1001").await;
    assert_eq!(first["apply"]["status"], "verified", "{first}");
    let reloads_before = double.reload_count("pbx_config");
    let second = d.create_extension("1002").await;
    assert_eq!(
        reloads(&d, &second).await,
        ["res_pjsip.so", "dialplan (live)"]
    );
    assert_eq!(
        double.reload_count("pbx_config"),
        reloads_before,
        "no dialplan reload"
    );
    assert_eq!(
        double.dialplan_priorities("from-internal", "1002"),
        phone_lines("1002")
    );
    let file = std::fs::read_to_string(d.config_dir().join("extensions.conf")).expect("file");
    assert!(file.contains("exten => 1002,hint,PJSIP/1002\n"), "{file}");

    // A removed extension goes live too, and the file says the same.
    let removed = d
        .admin(Method::DELETE, "/api/v1/extensions/1001", None)
        .await;
    assert_eq!(removed.status, 200, "{}", removed.body);
    assert_eq!(removed.body["apply"]["status"], "verified");
    assert_eq!(double.dialplan_priorities("from-internal", "1001"), None);
    assert_eq!(double.reload_count("pbx_config"), reloads_before);

    // A disabled extension loses its lines (and its hint) the same way.
    d.set_enabled("1002", false).await;
    d.create_extension("1003").await;
    let again = d.set_enabled("1002", true).await;
    assert_eq!(again["apply"]["status"], "verified", "{again}");
    assert!(
        double
            .dialplan_priorities("from-internal", "1002")
            .is_some()
    );

    // An outbound route adds an include: only a reload can do that.
    let trunk = d
        .admin(
            Method::POST,
            "/api/v1/trunks",
            Some(json!({"name": "lab", "provider": "custom_ip", "server": "192.0.2.50", "match_addresses": ["192.0.2.50"]})),
        )
        .await;
    assert!(trunk.status.is_success(), "{}", trunk.body);
    let route = d
        .admin(
            Method::POST,
            "/api/v1/outbound-routes",
            Some(json!({"name": "us", "pattern": "_1NXXNXXXXXX", "trunk": "lab"})),
        )
        .await;
    assert_eq!(route.status, 201, "{}", route.body);
    assert_eq!(route.body["apply"]["status"], "verified");
    assert!(double.reload_count("pbx_config") > reloads_before);

    // After the reload the live lines are the file's (the double re-read it).
    assert_eq!(
        double.dialplan_priorities("from-internal", "1003"),
        phone_lines("1003")
    );
}

async fn presence_of(d: &TestDaemon, number: &str) -> Value {
    d.admin(Method::GET, &format!("/api/v1/extensions/{number}"), None)
        .await
        .body["presence"]
        .clone()
}

async fn wait_for_presence(d: &TestDaemon, number: &str, state: &str) {
    for _ in 0..100 {
        if presence_of(d, number).await["state"] == state {
            return;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    panic!(
        "{number} never became {state}: {}",
        presence_of(d, number).await
    );
}

#[tokio::test]
async fn presence_follows_registrations_and_calls() {
    let mut d = TestDaemon::start(Backend::Sqlite).await;
    d.create_extension("2001").await;
    d.create_extension("2002").await;
    wait_for_presence(&d, "2001", "unavailable").await;
    let viewer = d.token("viewer").await;
    let (mut ws, _) = Ws::connect(&d.url, &viewer, "types=presence&endpoints=2001").await;

    let double = d.asterisk.as_ref().expect("a double");
    double.add_contact(Contact::registered("2001", 5081));
    double.add_contact(Contact::registered("2002", 5082));
    wait_for_presence(&d, "2001", "idle").await;
    let mut call = double.call("2002", "2001").expect("a call");
    wait_for_presence(&d, "2001", "ringing").await;
    call.answer();
    wait_for_presence(&d, "2001", "in_use").await;
    call.hang_up();
    wait_for_presence(&d, "2001", "idle").await;

    let mut seen = Vec::new();
    while let Some(crate::support::ws::Read::Text(text)) =
        ws.read_within(Duration::from_millis(300)).await
    {
        let event: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(event["type"], "presence");
        assert_eq!(
            event["data"]["endpoint"], "2001",
            "only the phone asked for"
        );
        seen.push(
            event["data"]["state"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    assert_eq!(seen, ["idle", "ringing", "in_use", "idle"]);

    // A restart of rayand knows every phone's state from the snapshot, at once.
    let since = presence_of(&d, "2002").await["since"].clone();
    d.restart().await;
    assert_eq!(presence_of(&d, "2001").await["state"], "idle");
    assert_eq!(presence_of(&d, "2002").await["state"], "idle");
    assert_ne!(presence_of(&d, "2002").await["since"], Value::Null);
    let _ = since;
}

/// An AMI user whose edits Asterisk refuses (no `system` write class): the
/// dialplan is reloaded instead, and is right all the same.
#[tokio::test]
async fn a_refused_live_edit_falls_back_to_the_reload() {
    let d = TestDaemon::start_with(
        Backend::Sqlite,
        crate::support::daemon::Asterisk::Custom(Box::new(|config| {
            config.write_classes = Some(vec![
                "config".into(),
                "reporting".into(),
                "call".into(),
                "originate".into(),
            ]);
        })),
        |_| {},
    )
    .await;
    d.create_extension("1001").await;
    let double = d.asterisk.as_ref().expect("a double");
    let before = double.reload_count("pbx_config");
    let second = d.create_extension("1002").await;
    let modules = reloads(&d, &second).await;
    assert!(modules.contains(&"pbx_config.so".to_owned()), "{modules:?}");
    assert!(
        !modules.contains(&"dialplan (live)".to_owned()),
        "{modules:?}"
    );
    assert_eq!(double.reload_count("pbx_config"), before + 1);
    assert_eq!(
        double.dialplan_priorities("from-internal", "1002"),
        phone_lines("1002")
    );
}
