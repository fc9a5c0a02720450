//! Live state against the real daemon and the Asterisk double: extension changes
//! made in the running dialplan without a `pbx_config.so` reload, each phone's
//! presence (hint state) in the API and the event stream, and security events for
//! admins only. On PostgreSQL and on SQLite.

use std::net::SocketAddr;
use std::time::Duration;

use crate::support::asterisk::{AsteriskDouble, Contact, RegisterAttempt};
use crate::support::daemon::TestDaemon;
use crate::support::db::Backend;
use crate::support::ws::{Read, Ws};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_backends!(
    extension_changes_edit_the_running_dialplan,
    presence_follows_registration_and_a_call,
    security_events_reach_admins_who_ask,
);

/// What the reload records call a dialplan change made live.
const LIVE: &str = "dialplan (live)";
const PBX_CONFIG: &str = "pbx_config.so";
/// Every test phone's password (as `TestDaemon::create_extension` sets it).
const PASSWORD: &str = "S3cret-pass";

fn asterisk(d: &TestDaemon) -> &AsteriskDouble {
    d.asterisk.as_ref().expect("an Asterisk double")
}

/// The running dialplan lines of one of rayan's extensions, as the double lists them.
fn phone_lines(number: &str) -> Vec<(String, String, String)> {
    vec![
        ("hint".into(), format!("PJSIP/{number}"), String::new()),
        ("1".into(), "Dial".into(), format!("PJSIP/{number},30")),
        ("2".into(), "Hangup".into(), String::new()),
    ]
}

fn extensions_conf(d: &TestDaemon) -> String {
    std::fs::read_to_string(d.config_dir().join("extensions.conf")).expect("extensions.conf")
}

/// The full record of the apply a write answered with.
async fn apply_record(d: &TestDaemon, answer: &Value) -> Value {
    assert_eq!(answer["apply"]["status"], "verified", "{answer}");
    let id = answer["apply"]["id"].as_i64().expect("apply id");
    let record = d
        .admin(Method::GET, &format!("/api/v1/applies/{id}"), None)
        .await;
    assert_eq!(record.status, StatusCode::OK, "{}", record.body);
    record.body
}

fn modules(record: &Value) -> Vec<String> {
    record["reloads"]
        .as_array()
        .unwrap_or_else(|| panic!("no reloads in {record}"))
        .iter()
        .map(|r| r["module"].as_str().expect("module").to_owned())
        .collect()
}

/// Asserts the apply changed the dialplan live (no pbx_config reload) with `edits`
/// edits, and verified the dialplan block of `context`.
fn assert_live(record: &Value, edits: usize, context: &str) {
    let modules = modules(record);
    assert!(modules.iter().any(|m| m == LIVE), "a live edit: {record}");
    assert!(
        !modules.iter().any(|m| m == PBX_CONFIG),
        "no dialplan reload: {record}"
    );
    let live = record["reloads"]
        .as_array()
        .expect("reloads")
        .iter()
        .find(|r| r["module"] == LIVE)
        .expect("live record");
    assert_eq!(
        live["result"],
        format!("{edits} live edit(s), no reload"),
        "{record}"
    );
    assert!(
        record["objects"]
            .as_array()
            .expect("objects")
            .iter()
            .any(|o| o["kind"] == "dialplan" && o["name"] == context && o["status"] == "verified"),
        "the dialplan block of {context} was checked against Asterisk: {record}"
    );
}

/// extensions.conf as the administrator left it, before rayan adds its blocks.
const HAND_WRITTEN_DIALPLAN: &str = "[general]\nstatic=yes\nwriteprotect=no\n\n; written by the administrator\n[handwritten]\nexten => 9000,1,Answer()\n same => n,Hangup()\n";

async fn extension_changes_edit_the_running_dialplan(backend: Backend) {
    let d = TestDaemon::start_over(
        backend,
        |dir| {
            std::fs::write(dir.join("extensions.conf"), HAND_WRITTEN_DIALPLAN)
                .expect("extensions.conf")
        },
        |_| {},
    )
    .await;
    let double = asterisk(&d);
    let reloads = double.reload_count(PBX_CONFIG);
    assert!(reloads >= 1, "the first apply loaded the dialplan");
    let actions = double.dialplan_action_count();

    // The first extension creates its context: hint, Dial and Hangup added live.
    let created = d.create_extension("1001").await;
    let record = apply_record(&d, &created).await;
    assert_live(&record, 3, "from-internal");
    assert!(
        modules(&record).iter().any(|m| m == "res_pjsip.so"),
        "the endpoint itself still needs res_pjsip: {record}"
    );
    assert_eq!(double.reload_count(PBX_CONFIG), reloads);
    assert_eq!(double.dialplan_action_count(), actions + 3);
    assert_eq!(
        double.dialplan_priorities("from-internal", "1001"),
        Some(phone_lines("1001"))
    );
    let conf = extensions_conf(&d);
    assert!(
        conf.contains(
            "exten => 1001,hint,PJSIP/1001\nexten => 1001,1,Dial(PJSIP/1001,30)\n same => n,Hangup()\n"
        ),
        "the file says what Asterisk runs:\n{conf}"
    );
    assert!(conf.starts_with(HAND_WRITTEN_DIALPLAN), "{conf}");

    for number in ["1002", "1003"] {
        let created = d.create_extension(number).await;
        assert_live(&apply_record(&d, &created).await, 3, "from-internal");
    }
    assert_eq!(
        double.dialplan_priorities("from-internal", "1003"),
        Some(phone_lines("1003"))
    );

    // A deletion is one live remove of the whole extension.
    let before = double.dialplan_action_count();
    let deleted = d
        .admin(Method::DELETE, "/api/v1/extensions/1003", None)
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_live(&apply_record(&d, &deleted.body).await, 1, "from-internal");
    assert_eq!(double.dialplan_action_count(), before + 1);
    assert_eq!(double.dialplan_priorities("from-internal", "1003"), None);
    assert_eq!(
        double.dialplan_priorities("from-internal", "1001"),
        Some(phone_lines("1001")),
        "the other extensions stay"
    );
    assert!(!extensions_conf(&d).contains("1003"));

    // Moving an extension to another context: removed from one, added to the other.
    let moved = d
        .admin(
            Method::PATCH,
            "/api/v1/extensions/1002",
            Some(json!({"context": "sales"})),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    let record = apply_record(&d, &moved.body).await;
    assert_live(&record, 4, "sales");
    assert_eq!(double.dialplan_priorities("from-internal", "1002"), None);
    assert_eq!(
        double.dialplan_priorities("sales", "1002"),
        Some(phone_lines("1002"))
    );
    let conf = extensions_conf(&d);
    assert!(
        conf.contains("[sales]\nexten => 1002,hint,PJSIP/1002\n"),
        "{conf}"
    );
    assert_eq!(double.reload_count(PBX_CONFIG), reloads);

    // An outbound route adds an include: only a reload can do that.
    let trunk = d
        .admin(
            Method::POST,
            "/api/v1/trunks",
            Some(json!({"name": "office", "provider": "custom_ip", "server": "203.0.113.5"})),
        )
        .await;
    assert_eq!(trunk.status, StatusCode::CREATED, "{}", trunk.body);
    let before = double.dialplan_action_count();
    let route = d
        .admin(
            Method::POST,
            "/api/v1/outbound-routes",
            Some(json!({"name": "intl", "pattern": "_011.", "trunk": "office"})),
        )
        .await;
    assert_eq!(route.status, StatusCode::CREATED, "{}", route.body);
    let record = apply_record(&d, &route.body).await;
    let reloaded = modules(&record);
    assert!(reloaded.iter().any(|m| m == PBX_CONFIG), "{record}");
    assert!(!reloaded.iter().any(|m| m == LIVE), "{record}");
    assert_eq!(double.reload_count(PBX_CONFIG), reloads + 1);
    assert_eq!(double.dialplan_action_count(), before, "no live edit");
    assert!(extensions_conf(&d).contains("include => rayan-out-intl\n"));
    // The reload read the file: every line added live is still there.
    assert_eq!(
        double.dialplan_priorities("from-internal", "1001"),
        Some(phone_lines("1001"))
    );
    assert_eq!(
        double.dialplan_priorities("sales", "1002"),
        Some(phone_lines("1002"))
    );

    // After the reload Asterisk runs the file again: the next change is live again.
    let created = d.create_extension("1004").await;
    assert_live(&apply_record(&d, &created).await, 3, "from-internal");
    assert_eq!(double.reload_count(PBX_CONFIG), reloads + 1);
    assert_eq!(
        double.dialplan_priorities("from-internal", "1004"),
        Some(phone_lines("1004"))
    );

    // The last extension of a context takes the context with it: a reload.
    let deleted = d
        .admin(Method::DELETE, "/api/v1/extensions/1002", None)
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    let record = apply_record(&d, &deleted.body).await;
    assert!(modules(&record).iter().any(|m| m == PBX_CONFIG), "{record}");
    assert_eq!(double.reload_count(PBX_CONFIG), reloads + 2);
    assert_eq!(double.dialplan_priorities("sales", "1002"), None);
    assert!(
        double.dialplan_priorities("handwritten", "9000").is_some(),
        "the administrator's dialplan is still loaded"
    );
    d.stop().await;
}

/// The extension's presence as `GET /api/v1/extensions/{n}` shows it.
async fn presence(d: &TestDaemon, number: &str) -> Option<Value> {
    let shown = d
        .admin(Method::GET, &format!("/api/v1/extensions/{number}"), None)
        .await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    shown.body.get("presence").cloned()
}

/// Waits until the API shows `state` for `number`; returns the presence.
async fn wait_presence(d: &TestDaemon, number: &str, state: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let now = presence(d, number).await;
        if let Some(p) = now.as_ref().filter(|p| p["state"] == state) {
            assert!(
                p["since"]
                    .as_str()
                    .is_some_and(|s| s.parse::<chrono::DateTime<chrono::Utc>>().is_ok()),
                "{p}"
            );
            return p.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{number} never became {state}; last {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Reads the next frame and checks it is `number`'s presence in `state`.
async fn expect_presence(ws: &mut Ws, number: &str, state: &str) -> Value {
    let frame = ws.json().await;
    assert_eq!(frame["type"], "presence", "{frame}");
    let data = &frame["data"];
    assert_eq!(
        (
            &data["endpoint"],
            &data["extension"],
            &data["context"],
            &data["state"]
        ),
        (
            &json!(number),
            &json!(number),
            &json!("from-internal"),
            &json!(state)
        ),
        "{frame}"
    );
    assert!(data["since"].is_string(), "{frame}");
    frame
}

async fn presence_follows_registration_and_a_call(backend: Backend) {
    let mut d = TestDaemon::start(backend).await;
    d.create_extension("1001").await;
    d.create_extension("1002").await;
    // A hint without a registered phone.
    wait_presence(&d, "1001", "unavailable").await;
    wait_presence(&d, "1002", "unavailable").await;

    let viewer = d.token("viewer").await;
    let (mut callee, hello) = Ws::connect(&d.url, &viewer, "types=presence&endpoints=1002").await;
    assert_eq!(hello["types"], json!(["presence"]), "{hello}");
    let (mut everyone, _) = Ws::connect(&d.url, &viewer, "types=presence").await;

    asterisk(&d).add_contact(Contact::registered("1001", 5081));
    asterisk(&d).add_contact(Contact::registered("1002", 5082));
    wait_presence(&d, "1001", "idle").await;
    let idle = wait_presence(&d, "1002", "idle").await;
    expect_presence(&mut callee, "1002", "idle").await;

    let mut call = asterisk(&d)
        .call("1001", "1002")
        .expect("1002 is registered");
    expect_presence(&mut callee, "1002", "ringing").await;
    let ringing = wait_presence(&d, "1002", "ringing").await;
    assert!(ringing["since"] != idle["since"], "a new since: {ringing}");
    wait_presence(&d, "1001", "in_use").await;
    let listed = d
        .admin(Method::GET, "/api/v1/extensions?limit=10", None)
        .await;
    let items = listed.body["items"].as_array().expect("items");
    let of = |n: &str| {
        items
            .iter()
            .find(|e| e["extension"] == n)
            .unwrap_or_else(|| panic!("{n} listed: {}", listed.body))["presence"]["state"]
            .clone()
    };
    assert_eq!(
        (of("1001"), of("1002")),
        (json!("in_use"), json!("ringing")),
        "the list carries presence too"
    );

    call.answer();
    expect_presence(&mut callee, "1002", "in_use").await;
    wait_presence(&d, "1002", "in_use").await;
    call.hang_up();
    expect_presence(&mut callee, "1002", "idle").await;
    wait_presence(&d, "1002", "idle").await;
    wait_presence(&d, "1001", "idle").await;
    callee.assert_quiet(Duration::from_millis(300)).await;

    // The unfiltered stream had the caller's changes too: the filter did its work.
    let mut endpoints = Vec::new();
    while let Some(Read::Text(text)) = everyone.read_within(Duration::from_millis(300)).await {
        let frame: Value = serde_json::from_str(&text).expect("JSON frame");
        assert_eq!(frame["type"], "presence", "{frame}");
        endpoints.push(
            frame["data"]["endpoint"]
                .as_str()
                .expect("endpoint")
                .to_owned(),
        );
    }
    assert!(
        endpoints.iter().any(|e| e == "1001")
            && endpoints.iter().filter(|e| *e == "1002").count() == 4,
        "{endpoints:?}"
    );

    // A call rings through a restart of rayand: the snapshot says so at once, and
    // publishes nothing (nothing changed).
    let ringing_call = asterisk(&d)
        .call("1001", "1002")
        .expect("1002 is registered");
    expect_presence(&mut callee, "1002", "ringing").await;
    drop(callee);
    drop(everyone);
    d.restart().await;
    d.wait_until_settled().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let first = loop {
        if let Some(p) = presence(&d, "1002").await {
            break p;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no presence after the restart"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(first["state"], "ringing", "{first}");
    wait_presence(&d, "1001", "in_use").await;
    let viewer = d.token("viewer").await;
    // Everything the new daemon published since it started.
    let (mut replay, _) = Ws::connect(&d.url, &viewer, "types=presence&since=0").await;
    replay.assert_quiet(Duration::from_millis(300)).await;
    ringing_call.hang_up();
    // The caller's hint moves first, then the callee's: the stream is alive.
    expect_presence(&mut replay, "1001", "idle").await;
    expect_presence(&mut replay, "1002", "idle").await;
    wait_presence(&d, "1002", "idle").await;
    d.stop().await;
}

async fn security_events_reach_admins_who_ask(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    d.create_extension("1001").await;
    let operator = d.token("operator").await;
    let refused = Ws::try_connect(&d.url, Some(&operator), "types=security")
        .await
        .err()
        .expect("security needs admin");
    assert_eq!(
        (refused.status, refused.content_type.as_str()),
        (403, "application/problem+json")
    );
    let raw = Ws::try_connect(&d.url, Some(&operator), "types=raw")
        .await
        .err()
        .expect("raw needs admin");
    assert_eq!(refused.body, raw.body, "the same refusal as raw");
    // Asked for on an open stream: the same error frame as raw, the filter unchanged.
    let (mut asking, _) = Ws::connect(&d.url, &operator, "types=contact_status").await;
    for kind in ["security", "raw"] {
        asking
            .send(&json!({"op": "subscribe", "types": [kind]}).to_string())
            .await;
        let answer = asking.json().await;
        assert_eq!(
            answer,
            json!({"type": "error", "message": "raw and security events need the admin role"}),
            "{kind}"
        );
    }
    let (mut security, hello) = Ws::connect(&d.url, &d.admin_token, "types=security").await;
    assert_eq!(hello["types"], json!(["security"]), "{hello}");
    let (mut plain, _) = Ws::connect(&d.url, &d.admin_token, "").await;

    let source: SocketAddr = "127.0.0.5:5060".parse().expect("address");
    let attempt = asterisk(&d).register_attempt(source, "1001", "wrong-password");
    assert!(
        matches!(attempt, RegisterAttempt::Refused { .. }),
        "{attempt:?}"
    );
    let sent = security.json().await;
    assert_eq!(sent["type"], "security", "{sent}");
    assert_eq!(
        sent["data"],
        json!({"event": "challenge_sent", "service": "PJSIP", "account": "1001",
            "address": "127.0.0.5", "port": 5060, "transport": "udp", "failure": false}),
        "{sent}"
    );
    let failed = security.json().await;
    assert_eq!(
        failed["data"],
        json!({"event": "challenge_response_failed", "service": "PJSIP", "account": "1001",
            "address": "127.0.0.5", "port": 5060, "transport": "udp", "failure": true,
            "recent_failures": 1}),
        "{failed}"
    );

    // An unknown account: Asterisk's `<unknown>` is no account; the failures add up.
    asterisk(&d).register_attempt(source, "9999", "whatever");
    let frames = [
        security.json().await,
        security.json().await,
        security.json().await,
        security.json().await,
    ];
    let events: Vec<&Value> = frames.iter().map(|f| &f["data"]["event"]).collect();
    assert_eq!(
        events,
        [
            "invalid_account_id",
            "challenge_sent",
            "invalid_account_id",
            "challenge_response_failed"
        ],
        "{frames:?}"
    );
    assert_eq!(frames[0]["data"]["account"], "9999");
    assert_eq!(frames[1]["data"]["account"], Value::Null, "{}", frames[1]);
    assert_eq!(frames[3]["data"]["account"], Value::Null);
    // Each request for the unknown account counts (its two InvalidAccountIDs);
    // the ChallengeResponseFailed for `<unknown>` after them does not count again.
    assert_eq!(frames[0]["data"]["failure"], true, "{}", frames[0]);
    assert_eq!(frames[2]["data"]["failure"], true, "{}", frames[2]);
    assert_eq!(frames[2]["data"]["recent_failures"], 3, "{}", frames[2]);
    assert_eq!(frames[3]["data"]["failure"], false, "counted once");

    // The right password: the admin's default stream has the registration's events
    // but no security event.
    let ok = asterisk(&d).register_attempt(source, "1001", PASSWORD);
    assert_eq!(ok, RegisterAttempt::Registered);
    let accepted = [security.json().await, security.json().await];
    assert_eq!(
        accepted
            .iter()
            .map(|f| &f["data"]["event"])
            .collect::<Vec<_>>(),
        ["challenge_sent", "successful_auth"],
        "{accepted:?}"
    );
    assert_eq!(accepted[1]["data"]["failure"], false);
    let mut seen = Vec::new();
    loop {
        let frame = plain.json().await;
        let kind = frame["type"].as_str().expect("type").to_owned();
        assert_ne!(kind, "security", "not asked for: {frame}");
        assert_ne!(kind, "raw", "not asked for: {frame}");
        seen.push(kind.clone());
        if kind == "contact_status" {
            break;
        }
    }
    assert!(seen.contains(&"presence".to_owned()), "{seen:?}");
    plain.assert_quiet(Duration::from_millis(200)).await;
    security.assert_quiet(Duration::from_millis(200)).await;
    d.stop().await;
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
    let modules = modules(&apply_record(&d, &second).await);
    assert!(modules.contains(&"pbx_config.so".to_owned()), "{modules:?}");
    assert!(
        !modules.contains(&"dialplan (live)".to_owned()),
        "{modules:?}"
    );
    assert_eq!(double.reload_count("pbx_config"), before + 1);
    assert_eq!(
        double.dialplan_priorities("from-internal", "1002"),
        Some(phone_lines("1002"))
    );
}

/// No extensions.conf yet (a fresh install): Asterisk runs no file, which is an
/// empty one, so the first extension is made live as well.
#[tokio::test]
async fn the_first_extension_of_a_fresh_install_is_live() {
    let d = TestDaemon::start(Backend::Sqlite).await;
    assert!(!d.config_dir().join("extensions.conf").exists());
    let created = d.create_extension("1001").await;
    assert_live(&apply_record(&d, &created).await, 3, "from-internal");
    assert_eq!(
        asterisk(&d).dialplan_priorities("from-internal", "1001"),
        Some(phone_lines("1001"))
    );
}
