//! The apply pipeline against the Asterisk double: every write ends verified or
//! honestly failed, and faults converge without a manual step.

use std::time::{Duration, Instant};

use crate::support::daemon::{Asterisk, HAND_WRITTEN_PJSIP, TestDaemon};
use crate::support::db::Backend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn read(d: &TestDaemon, name: &str) -> String {
    std::fs::read_to_string(d.config_dir().join(name)).unwrap_or_default()
}

async fn status(d: &TestDaemon) -> Value {
    d.admin(Method::GET, "/api/v1/asterisk/status", None)
        .await
        .body
}

/// Polls `check` until it holds, failing with `what` after 10 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn writes_are_verified_and_hand_written_text_stays() {
    let d = TestDaemon::start(Backend::Postgres).await;
    let asterisk = d.asterisk.as_ref().unwrap();
    let before = asterisk.reload_count("res_pjsip.so");

    let created = d
        .admin(
            Method::POST,
            "/api/v1/extensions",
            Some(json!({"extension": "1001", "name": "Alice"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(
        created.body["apply"]["status"], "verified",
        "{}",
        created.body
    );
    assert!(asterisk.endpoints().contains(&"1001".to_owned()));
    assert_eq!(
        asterisk.reload_count("res_pjsip.so"),
        before + 1,
        "one PJSIP reload"
    );

    let pjsip = read(&d, "pjsip.conf");
    assert!(
        pjsip.starts_with(HAND_WRITTEN_PJSIP),
        "the administrator's text stays first and intact:\n{pjsip}"
    );
    assert!(
        pjsip.contains("; BEGIN MANAGED - Extension 1001\n")
            && pjsip.contains("; END MANAGED - Extension 1001")
    );
    let dialplan = read(&d, "extensions.conf");
    assert!(
        dialplan.contains("exten => 1001,1,Dial(PJSIP/1001,30)"),
        "{dialplan}"
    );

    let applies = d.admin(Method::GET, "/api/v1/applies", None).await;
    let last = &applies.body["items"][0];
    assert_eq!(last["status"], "verified");
    assert!(
        last["reloads"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["module"] == "res_pjsip.so")
    );
    let record = d
        .admin(
            Method::GET,
            &format!("/api/v1/applies/{}", created.body["apply"]["id"]),
            None,
        )
        .await;
    assert_eq!(record.status, StatusCode::OK);
    let objects = record.body["objects"].as_array().unwrap();
    assert!(
        objects
            .iter()
            .any(|o| o["name"] == "1001" && o["status"] == "verified")
    );
    assert!(
        objects.iter().any(|o| o["kind"] == "dialplan"
            && o["name"] == "from-internal"
            && o["status"] == "verified"),
        "Asterisk shows the internal context with 1001 in it: {objects:?}"
    );

    // A change that does not touch the endpoint's text reloads nothing for it.
    let renamed = d
        .admin(
            Method::PATCH,
            "/api/v1/extensions/1001",
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(
        renamed.body["apply"]["status"], "verified",
        "{}",
        renamed.body
    );
    assert!(
        !asterisk.endpoints().contains(&"1001".to_owned()),
        "a disabled extension is removed from Asterisk"
    );

    let deleted = d
        .admin(Method::DELETE, "/api/v1/extensions/1001", None)
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert!(!read(&d, "pjsip.conf").contains("Extension 1001"));
    assert!(read(&d, "pjsip.conf").starts_with(HAND_WRITTEN_PJSIP));
    d.stop().await;
}

#[tokio::test]
async fn a_burst_of_writes_costs_a_handful_of_reloads() {
    let d = TestDaemon::start(Backend::Postgres).await;
    let asterisk = d.asterisk.as_ref().unwrap();
    asterisk.set_reload_duration(Duration::from_millis(30));
    let before = asterisk.reload_count("res_pjsip.so");
    let mut tasks = Vec::new();
    for client in 0..20 {
        let url = d.url.clone();
        let token = d.admin_token.clone();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut statuses = Vec::new();
            for i in 0..10 {
                let resp = http
                    .post(format!("{url}/api/v1/extensions"))
                    .bearer_auth(&token)
                    .json(&json!({"extension": format!("4{client:02}{i}")}))
                    .send()
                    .await
                    .unwrap();
                let body: Value = resp.json().await.unwrap();
                statuses.push(body["apply"]["status"].as_str().unwrap_or("?").to_owned());
            }
            statuses
        }));
    }
    let mut verified = 0;
    for task in tasks {
        verified += task
            .await
            .unwrap()
            .iter()
            .filter(|s| *s == "verified")
            .count();
    }
    assert_eq!(verified, 200, "every write verified");
    let reloads = asterisk.reload_count("res_pjsip.so") - before;
    assert!(
        reloads <= 40,
        "200 writes from 20 clients cost {reloads} reloads"
    );
    assert_eq!(
        asterisk
            .endpoints()
            .iter()
            .filter(|e| e.starts_with('4'))
            .count(),
        200
    );
    d.stop().await;
}

#[tokio::test]
async fn a_bulk_import_that_does_not_wait_costs_few_reloads_and_all_verify() {
    let d = TestDaemon::start(Backend::Postgres).await;
    let asterisk = d.asterisk.as_ref().unwrap();
    asterisk.set_reload_duration(Duration::from_millis(60));
    let before = asterisk.reload_count("res_pjsip.so");
    let http = reqwest::Client::new();
    let mut numbers = Vec::new();
    for i in 0..100 {
        let number = format!("48{i:02}");
        let resp = http
            .post(format!("{}/api/v1/extensions", d.url))
            .bearer_auth(&d.admin_token)
            .header("prefer", "respond-async")
            .json(&json!({"extension": number}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
        assert_eq!(resp.headers()["preference-applied"], "respond-async");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["apply"]["status"], "pending", "{body}");
        assert_eq!(body["extension"], number.as_str());
        numbers.push(number);
    }
    eventually("every imported extension is loaded", || async {
        let loaded = asterisk.endpoints();
        numbers.iter().all(|n| loaded.contains(n))
    })
    .await;
    eventually(
        "every imported extension is verified by an apply",
        || async {
            let applies = d
                .admin(Method::GET, "/api/v1/applies?limit=100", None)
                .await
                .body;
            let verified: Vec<&str> = applies["items"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|a| a["objects"].as_array().into_iter().flatten())
                .filter(|o| o["kind"] == "extension" && o["status"] == "verified")
                .filter_map(|o| o["name"].as_str())
                .collect();
            numbers.iter().all(|n| verified.contains(&n.as_str()))
        },
    )
    .await;
    let reloads = asterisk.reload_count("res_pjsip.so") - before;
    assert!(
        reloads <= 10,
        "100 writes that did not wait cost {reloads} reloads"
    );

    // `wait=0` is the same as respond-async; a waiting write still gets its outcome.
    let quick = http
        .patch(format!("{}/api/v1/extensions/4800", d.url))
        .bearer_auth(&d.admin_token)
        .header("prefer", "wait=0")
        .json(&json!({"name": "Imported"}))
        .send()
        .await
        .unwrap();
    assert_eq!(quick.status(), StatusCode::ACCEPTED);
    assert_eq!(quick.headers()["preference-applied"], "wait=0");
    let waited = d
        .admin(
            Method::PATCH,
            "/api/v1/extensions/4801",
            Some(json!({"name": "Waited"})),
        )
        .await;
    assert_eq!(waited.status, StatusCode::OK);
    assert_eq!(
        waited.body["apply"]["status"], "verified",
        "{}",
        waited.body
    );
    d.stop().await;
}

#[tokio::test]
async fn an_endpoint_asterisk_refuses_is_reported_failed() {
    // This Asterisk does not know `rewrite_contact`, as an older one might not:
    // it drops the endpoint and still says "Module Reloaded".
    let d = TestDaemon::start_with(
        Backend::Sqlite,
        Asterisk::Custom(Box::new(|config| {
            config.option_validator = std::sync::Arc::new(|kind, option| {
                option != "rewrite_contact" && rayan::templates::is_valid_option(kind, option)
            });
        })),
        |_| {},
    )
    .await;
    let created = d
        .admin(
            Method::POST,
            "/api/v1/extensions",
            Some(json!({"extension": "1001"})),
        )
        .await;
    assert_eq!(
        created.status,
        StatusCode::CREATED,
        "the extension is saved"
    );
    assert_eq!(created.body["apply"]["status"], "failed");
    let detail = created.body["apply"]["detail"].as_str().unwrap();
    assert!(
        detail.contains("Asterisk did not load endpoint 1001 after reload"),
        "{detail}"
    );

    let verify = d
        .admin(Method::GET, "/api/v1/extensions/1001/verify", None)
        .await;
    assert_eq!(verify.body["status"], "failed");
    let endpoints = d
        .admin(Method::GET, "/api/v1/asterisk/endpoints", None)
        .await;
    let row = endpoints.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "1001")
        .cloned()
        .unwrap();
    assert_eq!(row["state"], "missing");
    let status = status(&d).await;
    assert!(
        status["last_error"].as_str().unwrap().contains("1001"),
        "{status}"
    );
    d.stop().await;
}

#[tokio::test]
async fn asterisk_down_gives_pending_then_converges() {
    let d = TestDaemon::start(Backend::Postgres).await;
    let asterisk = d.asterisk.as_ref().unwrap();
    asterisk.stop();
    asterisk.drop_connections();
    eventually("AMI noticed the drop", || async {
        status(&d).await["connected"] == false
    })
    .await;

    let clock = Instant::now();
    let created = d
        .admin(
            Method::POST,
            "/api/v1/extensions",
            Some(json!({"extension": "1001"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::ACCEPTED, "{}", created.body);
    assert_eq!(created.body["apply"]["status"], "pending");
    assert!(
        clock.elapsed() < Duration::from_secs(5),
        "pending is answered without waiting for the bound"
    );
    assert!(
        read(&d, "pjsip.conf").contains("Extension 1001"),
        "the change is written"
    );
    assert!(!asterisk.endpoints().contains(&"1001".to_owned()));
    assert_eq!(status(&d).await["pending"], true);

    asterisk.restart();
    eventually("the pending change reached Asterisk", || async {
        asterisk.endpoints().contains(&"1001".to_owned())
    })
    .await;
    eventually("the apply was verified", || async {
        let s = status(&d).await;
        s["pending"] == false && s["last_apply"]["status"] == "verified"
    })
    .await;
    d.stop().await;
}

/// Asterisk answers but refuses the login: a write and the status say that, and name
/// the settings to check, instead of calling Asterisk unreachable.
#[tokio::test]
async fn a_refused_ami_login_is_reported_as_such() {
    let d = TestDaemon::start_with(Backend::Postgres, Asterisk::RefusesLogin, |_| {}).await;
    let created = d
        .admin(
            Method::POST,
            "/api/v1/extensions",
            Some(json!({"extension": "1001"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::ACCEPTED, "{}", created.body);
    assert_eq!(
        created.body["apply"]["status"], "pending",
        "{}",
        created.body
    );
    let detail = created.body["apply"]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.starts_with("AMI login refused for user rayan (Authentication failed)"),
        "{detail}"
    );
    assert!(
        detail.contains("asterisk.ami_user") && detail.contains("ami_secret"),
        "{detail}"
    );
    assert!(!detail.contains("not reachable"), "{detail}");

    let s = status(&d).await;
    let last_error = s["last_error"].as_str().unwrap_or_default();
    assert!(
        last_error.starts_with("AMI login refused for user rayan"),
        "{s}"
    );
    assert!(last_error.contains("asterisk.ami_user"), "{s}");
    assert_eq!(s["connected"], false, "{s}");
    for secret in ["rayan-secret", "not-the-daemons-secret"] {
        assert!(!created.body.to_string().contains(secret) && !s.to_string().contains(secret));
    }
    d.stop().await;
}

#[tokio::test]
async fn asterisk_lost_between_reload_and_verify_converges() {
    let d = TestDaemon::start(Backend::Sqlite).await;
    let asterisk = d.asterisk.as_ref().unwrap();
    asterisk.set_reload_duration(Duration::from_millis(400));
    let url = d.url.clone();
    let token = d.admin_token.clone();
    let write = tokio::spawn(async move {
        let resp = reqwest::Client::new()
            .post(format!("{url}/api/v1/extensions"))
            .bearer_auth(token)
            .json(&json!({"extension": "1001"}))
            .send()
            .await
            .unwrap();
        crate::support::daemon::Response::read(resp).await
    });
    eventually("the reload started", || async {
        asterisk.reload_count("res_pjsip.so") >= 2
    })
    .await;
    asterisk.drop_connections();
    let answer = write.await.unwrap();
    assert_eq!(answer.body["apply"]["status"], "pending", "{}", answer.body);
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    asterisk.set_reload_duration(Duration::ZERO);
    eventually("reconnected and verified", || async {
        let s = status(&d).await;
        s["connected"] == true && s["pending"] == false && s["last_apply"]["status"] == "verified"
    })
    .await;
    assert!(asterisk.endpoints().contains(&"1001".to_owned()));
    d.stop().await;
}

#[tokio::test]
async fn hand_edits_inside_a_block_are_drift_and_the_next_apply_restores_them() {
    let d = TestDaemon::start(Backend::Postgres).await;
    d.admin(
        Method::POST,
        "/api/v1/extensions",
        Some(json!({"extension": "1001"})),
    )
    .await;
    let path = d.config_dir().join("pjsip.conf");
    let original = std::fs::read_to_string(&path).unwrap();
    let edited = original.replace("context=from-internal", "context=somewhere-else")
        + "\n; a note the administrator added\n[9999]\ntype=aor\nmax_contacts=1\n";
    assert_ne!(edited, original);
    std::fs::write(&path, &edited).unwrap();

    eventually("drift reported", || async {
        status(&d).await["drift"]
            .as_array()
            .is_some_and(|a| a.iter().any(|b| b == "pjsip.conf: Extension 1001"))
    })
    .await;

    let plan = d
        .admin(Method::POST, "/api/v1/applies?dry_run=true", None)
        .await;
    assert_eq!(plan.status, StatusCode::OK, "{}", plan.body);
    let diff = plan.body["files"][0]["diff"].as_str().unwrap();
    assert!(
        diff.contains("-context=somewhere-else") && diff.contains("+context=from-internal"),
        "{diff}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        edited,
        "a dry run changes nothing"
    );

    let forced = d.admin(Method::POST, "/api/v1/applies", None).await;
    assert_eq!(forced.body["status"], "verified", "{}", forced.body);
    let restored = std::fs::read_to_string(&path).unwrap();
    assert!(
        restored.contains("context=from-internal") && !restored.contains("context=somewhere-else")
    );
    assert!(
        restored.contains("; a note the administrator added\n[9999]\ntype=aor\nmax_contacts=1\n")
    );
    assert_eq!(status(&d).await["drift"], json!([]));
    d.stop().await;
}

#[tokio::test]
async fn a_changed_transport_needs_a_restart_and_says_so() {
    let d = TestDaemon::start(Backend::Sqlite).await;
    d.admin(
        Method::POST,
        "/api/v1/extensions",
        Some(json!({"extension": "1001"})),
    )
    .await;
    let path = d.config_dir().join("pjsip.conf");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("bind=127.0.0.1:5060", "bind=127.0.0.1:5070");
    std::fs::write(&path, text).unwrap();
    let forced = d.admin(Method::POST, "/api/v1/applies", None).await;
    assert_eq!(forced.body["restart_required"], true, "{}", forced.body);
    assert!(
        forced.body["detail"]
            .as_str()
            .unwrap()
            .contains("Asterisk must be restarted")
    );
    assert_eq!(status(&d).await["restart_required"], true);
    d.stop().await;
}

#[tokio::test]
async fn registrations_are_served_from_memory_and_right_after_a_reconnect() {
    let d = TestDaemon::start(Backend::Sqlite).await;
    let asterisk = d.asterisk.as_ref().unwrap();
    d.admin(
        Method::POST,
        "/api/v1/extensions",
        Some(json!({"extension": "1001"})),
    )
    .await;
    asterisk.add_contact(crate::support::asterisk::Contact {
        aor: "1001".into(),
        uri: "sip:1001@127.0.0.1:5081".into(),
        endpoint: "1001".into(),
        user_agent: "SIPp-lab".into(),
        via_addr: "127.0.0.1".into(),
        via_port: 5081,
        call_id: "1-1@127.0.0.1".into(),
        expiration: 4_000_000_000,
        status: "NonQualified".into(),
        roundtrip_usec: None,
    });
    eventually("registered", || async {
        d.admin(Method::GET, "/api/v1/extensions/1001", None)
            .await
            .body["registration"]["state"]
            == "registered"
    })
    .await;
    asterisk.set_contact_status("sip:1001@127.0.0.1:5081", "Reachable", Some(379));
    eventually("reachable with its rtt", || async {
        let e = d.admin(Method::GET, "/api/v1/extensions", None).await.body;
        e["items"][0]["registration"]["contacts"][0]["rtt_ms"] == json!(0.379)
    })
    .await;

    // While rayand is disconnected the phone unregisters: ContactStatus is lost,
    // the snapshot after the reconnect must show it.
    asterisk.stop();
    asterisk.drop_connections();
    eventually("disconnected", || async {
        status(&d).await["connected"] == false
    })
    .await;
    asterisk.set_contact_status("sip:1001@127.0.0.1:5081", "Removed", None);
    asterisk.restart();
    eventually("unregistered after the reconnect", || async {
        d.admin(Method::GET, "/api/v1/extensions/1001", None)
            .await
            .body["registration"]["state"]
            == "unregistered"
    })
    .await;
    d.stop().await;
}

/// rayan's own writes are never reported as hand edits: a burst of creates, one at a
/// time, with nobody touching the files, sends no drift event.
#[tokio::test]
async fn a_burst_of_writes_reports_no_drift() {
    let d = TestDaemon::start(Backend::Sqlite).await;
    let (mut events, _) =
        crate::support::ws::Ws::connect(&d.url, &d.admin_token, "types=drift").await;
    for n in 0..300 {
        let created = d
            .admin(
                Method::POST,
                "/api/v1/extensions",
                Some(json!({"extension": format!("{}", 2000 + n)})),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    }
    // The watcher looks at a change 100 ms after it settles.
    events.assert_quiet(Duration::from_millis(600)).await;
    assert_eq!(status(&d).await["drift"], json!([]));
    d.stop().await;
}
