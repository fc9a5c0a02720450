//! The trunks REST API against the real server, on PostgreSQL and on SQLite.

use crate::support::daemon::TestDaemon;
use crate::support::db::Backend;
use rayan::render::{RenderSettings, render_all};
use rayan::secrets::Secrets;
use rayan::store::entities::{audit_log, trunk};
use reqwest::{Method, StatusCode};
use sea_orm::{Database, EntityTrait};
use serde_json::{Value, json};

on_both_backends!(
    crud_round_trip,
    provider_rules_name_each_field,
    password_is_never_readable,
    injection_is_refused_in_every_field,
    viewers_cannot_write,
    writes_answer_with_their_apply,
    option_overrides_reach_their_sections,
    registration_state_is_live_and_known_after_a_restart,
);

const PASSWORD: &str = "Pl41n-Tr*nk-S3cret";

fn telnyx() -> Value {
    json!({"name": "telnyx_main", "provider": "telnyx", "username": "rayanlab", "password": PASSWORD,
        "server": "sip.telnyx.com", "port": 5060, "did": "+15551234567", "context": "from-trunk",
        "codecs": ["ulaw", "alaw"], "match_addresses": ["192.76.120.10"], "enabled": true})
}

async fn crud_round_trip(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    let created = d
        .admin(Method::POST, "/api/v1/trunks", Some(telnyx()))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["name"], "telnyx_main");
    assert_eq!(created.body["provider"], "telnyx");
    assert_eq!(created.body["has_password"], true);
    assert_eq!(created.body["codecs"], json!(["ulaw", "alaw"]));
    assert_eq!(created.body["match_addresses"], json!(["192.76.120.10"]));
    assert!(created.body.get("password").is_none());

    let minimal = d
        .admin(
            Method::POST,
            "/api/v1/trunks",
            Some(json!({"name": "office", "provider": "custom_ip", "server": "203.0.113.5"})),
        )
        .await;
    assert_eq!(minimal.status, StatusCode::CREATED, "{}", minimal.body);
    assert_eq!(minimal.body["context"], "from-trunk", "the default context");
    assert_eq!(minimal.body["enabled"], true);
    assert_eq!(minimal.body["has_password"], false);
    assert_eq!(minimal.body["codecs"], Value::Null);

    let list = d.admin(Method::GET, "/api/v1/trunks", None).await;
    assert_eq!(list.body["total"], 2);
    let names: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["office", "telnyx_main"]);
    let by_provider = d
        .admin(Method::GET, "/api/v1/trunks?provider=telnyx", None)
        .await;
    assert_eq!(by_provider.body["total"], 1);

    let patched = d
        .admin(
            Method::PATCH,
            "/api/v1/trunks/telnyx_main",
            Some(json!({"server": "sip-eu.telnyx.com"})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["server"], "sip-eu.telnyx.com");
    assert_eq!(patched.body["did"], "+15551234567", "fields not sent stay");
    assert_eq!(patched.body["codecs"], json!(["ulaw", "alaw"]));
    assert_eq!(
        patched.body["has_password"], true,
        "the stored password stays"
    );

    let cleared = d
        .admin(
            Method::PATCH,
            "/api/v1/trunks/telnyx_main",
            Some(json!({"did": null, "codecs": null, "enabled": false})),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.body);
    assert_eq!(cleared.body["did"], Value::Null);
    assert_eq!(cleared.body["codecs"], Value::Null);
    assert_eq!(cleared.body["enabled"], false);

    d.admin(
        Method::PATCH,
        "/api/v1/trunks/telnyx_main",
        Some(json!({"name": "renamed"})),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some("name"));
    d.admin(Method::POST, "/api/v1/trunks", Some(telnyx()))
        .await
        .assert_problem(StatusCode::CONFLICT, None);

    let shown = d
        .admin(Method::GET, "/api/v1/trunks/telnyx_main", None)
        .await;
    assert_eq!(shown.body["server"], "sip-eu.telnyx.com");
    assert_eq!(
        d.admin(Method::DELETE, "/api/v1/trunks/telnyx_main", None)
            .await
            .status,
        StatusCode::OK
    );
    d.admin(Method::GET, "/api/v1/trunks/telnyx_main", None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, None);
    d.admin(Method::DELETE, "/api/v1/trunks/telnyx_main", None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, None);
    d.admin(
        Method::PATCH,
        "/api/v1/trunks/nope",
        Some(json!({"port": 5080})),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, None);
    d.stop().await;
}

fn fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|e| e["field"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn provider_rules_name_each_field(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    // custom_credential requires username, password and server: all three are named.
    let missing = d
        .admin(
            Method::POST,
            "/api/v1/trunks",
            Some(json!({"name": "gen", "provider": "custom_credential"})),
        )
        .await;
    missing.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, None);
    let mut named = fields(&missing.body);
    named.sort();
    assert_eq!(
        named,
        ["password", "server", "username"],
        "{}",
        missing.body
    );
    assert!(
        missing.body["detail"]
            .as_str()
            .unwrap()
            .contains("is required by provider custom_credential")
    );

    let cases = [
        (
            json!({"name": "t", "provider": "telnyx", "username": "u"}),
            "password",
        ),
        (
            json!({"name": "t", "provider": "bandwidth", "server": "203.0.113.5"}),
            "match_addresses",
        ),
        (
            json!({"name": "t", "provider": "custom_ip", "server": "203.0.113.5", "password": "x"}),
            "password",
        ),
        (
            json!({"name": "t", "provider": "custom_ip", "server": "203.0.113.5", "username": "u"}),
            "username",
        ),
        (
            json!({"name": "t", "provider": "no_such_provider"}),
            "provider",
        ),
        (
            json!({"name": "1001", "provider": "custom_ip", "server": "203.0.113.5"}),
            "name",
        ),
        (
            json!({"name": "t", "provider": "custom_ip", "server": "sip.example.com:5060"}),
            "server",
        ),
        (
            json!({"name": "t", "provider": "custom_ip", "server": "203.0.113.5", "port": 0}),
            "port",
        ),
        (
            json!({"name": "t", "provider": "custom_ip", "server": "203.0.113.5", "port": 70000}),
            "port",
        ),
        (
            json!({"name": "t", "provider": "custom_ip", "server": "203.0.113.5", "did": "555-1234"}),
            "did",
        ),
        (
            json!({"name": "t", "provider": "custom_ip", "server": "203.0.113.5", "codecs": ["ulaw", "nope"]}),
            "codecs[1]",
        ),
        (
            json!({"name": "t", "provider": "custom_ip", "server": "203.0.113.5", "match_addresses": ["10.0.0.0/33"]}),
            "match_addresses[0]",
        ),
        (
            json!({"name": "t", "provider": "custom_ip", "server": "203.0.113.5", "context": "general"}),
            "context",
        ),
        (
            json!({"name": "t", "provider": "telnyx", "username": "u@x", "password": "p"}),
            "username",
        ),
        (
            json!({"name": "t", "provider": "telnyx", "username": "u", "password": "p", "colour": "red"}),
            "colour",
        ),
    ];
    for (body, field) in cases {
        d.admin(Method::POST, "/api/v1/trunks", Some(body.clone()))
            .await
            .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some(field));
    }
    assert_eq!(
        d.admin(Method::GET, "/api/v1/trunks", None).await.body["total"],
        0,
        "nothing refused was stored"
    );

    // A patch is checked against the provider as the trunk will be after it.
    assert_eq!(
        d.admin(Method::POST, "/api/v1/trunks", Some(telnyx()))
            .await
            .status,
        StatusCode::CREATED
    );
    d.admin(
        Method::PATCH,
        "/api/v1/trunks/telnyx_main",
        Some(json!({"password": null})),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some("password"));
    let to_ip = d
        .admin(
            Method::PATCH,
            "/api/v1/trunks/telnyx_main",
            Some(json!({"provider": "custom_ip"})),
        )
        .await;
    to_ip.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some("password"));
    assert!(
        fields(&to_ip.body).contains(&"username".to_owned()),
        "{}",
        to_ip.body
    );
    let switched = d
        .admin(
            Method::PATCH,
            "/api/v1/trunks/telnyx_main",
            Some(json!({"provider": "custom_ip", "username": null, "password": null})),
        )
        .await;
    assert_eq!(switched.status, StatusCode::OK, "{}", switched.body);
    assert_eq!(switched.body["has_password"], false);
    d.stop().await;
}

async fn password_is_never_readable(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    assert_eq!(
        d.admin(Method::POST, "/api/v1/trunks", Some(telnyx()))
            .await
            .status,
        StatusCode::CREATED
    );
    let new_password = "N3w-Tr*nk-S3cret";
    let patched = d
        .admin(
            Method::PATCH,
            "/api/v1/trunks/telnyx_main",
            Some(json!({"password": new_password})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);

    let mut seen = String::new();
    for path in [
        "/api/v1/trunks",
        "/api/v1/trunks/telnyx_main",
        "/api/v1/audit?limit=100",
    ] {
        seen.push_str(&d.admin(Method::GET, path, None).await.body.to_string());
    }
    seen.push_str(&patched.body.to_string());
    assert!(
        !seen.contains(PASSWORD) && !seen.contains(new_password),
        "a password leaked: {seen}"
    );
    let audit = d.admin(Method::GET, "/api/v1/audit?limit=100", None).await;
    let trunk_entries: Vec<&Value> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["object_kind"] == "trunk")
        .collect();
    assert_eq!(trunk_entries.len(), 2);
    assert_eq!(
        trunk_entries[0]["after"]["password"], "***",
        "the change is marked, not shown"
    );

    // In the database: only ciphertext, which the key in the state dir opens.
    let conn = Database::connect(&d.db.url).await.unwrap();
    let row = trunk::Entity::find()
        .one(&conn)
        .await
        .unwrap()
        .expect("the trunk row");
    let stored = row.secret_enc.clone().expect("an encrypted password");
    let row_text = format!("{row:?}");
    assert!(
        !row_text.contains(PASSWORD) && !row_text.contains(new_password),
        "{row_text}"
    );
    let audit_rows = format!("{:?}", audit_log::Entity::find().all(&conn).await.unwrap());
    assert!(
        !audit_rows.contains(new_password) && !audit_rows.contains(&stored),
        "the audit log keeps no secret"
    );
    conn.close().await.ok();
    let secrets = Secrets::load_or_create(&d.state_dir).unwrap();
    assert_eq!(secrets.decrypt(&stored).unwrap(), new_password);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(d.state_dir.join("secret.key"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    // The plain password appears only where Asterisk needs it: the rendered pjsip.conf.
    let daemon = d.daemon.as_ref().unwrap();
    let snapshot = rayan::store::snapshot::load(daemon.db(), daemon.secrets())
        .await
        .unwrap();
    assert_eq!(snapshot.trunks[0].password.as_deref(), Some(new_password));
    let providers = rayan::store::snapshot::provider_templates(daemon.db())
        .await
        .unwrap();
    let rendered = render_all(&snapshot, &providers, &RenderSettings::default()).unwrap();
    let pjsip: String = rendered.pjsip.iter().map(|b| b.body.as_str()).collect();
    assert!(
        pjsip.contains(&format!("password={new_password}\n")),
        "{pjsip}"
    );
    d.stop().await;
}

async fn injection_is_refused_in_every_field(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    let base = json!({"name": "t", "provider": "custom_credential", "username": "u", "password": "p4ss",
        "server": "sip.example.com", "did": "+15551234567", "context": "from-trunk",
        "codecs": ["ulaw"], "match_addresses": ["203.0.113.5"]});
    assert_eq!(
        d.admin(Method::POST, "/api/v1/trunks", Some(base.clone()))
            .await
            .status,
        StatusCode::CREATED
    );
    let payloads = ["x\n[evil]", "[evil]", "x;y", "x\r\ntype=endpoint"];
    for field in [
        "name",
        "provider",
        "username",
        "password",
        "server",
        "did",
        "context",
        "codecs",
        "match_addresses",
    ] {
        for payload in payloads {
            let mut body = base.clone();
            let (value, named) = match field {
                "codecs" | "match_addresses" => (json!([payload]), format!("{field}[0]")),
                _ => (json!(payload), field.to_owned()),
            };
            body[field] = value.clone();
            d.admin(Method::POST, "/api/v1/trunks", Some(body))
                .await
                .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some(&named));
            if !matches!(field, "name") {
                d.admin(
                    Method::PATCH,
                    "/api/v1/trunks/t",
                    Some(json!({field: value})),
                )
                .await
                .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some(&named));
            }
        }
    }
    let kept = d.admin(Method::GET, "/api/v1/trunks/t", None).await;
    assert_eq!(
        kept.body["server"], "sip.example.com",
        "no refused patch changed anything"
    );
    d.stop().await;
}

async fn viewers_cannot_write(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    let viewer = d.token("viewer").await;
    let operator = d.token("operator").await;
    d.call(
        Method::POST,
        "/api/v1/trunks",
        Some(&viewer),
        Some(telnyx()),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, None);
    assert_eq!(
        d.call(
            Method::POST,
            "/api/v1/trunks",
            Some(&operator),
            Some(telnyx())
        )
        .await
        .status,
        StatusCode::CREATED
    );
    assert_eq!(
        d.call(
            Method::GET,
            "/api/v1/trunks/telnyx_main",
            Some(&viewer),
            None
        )
        .await
        .status,
        StatusCode::OK
    );
    d.call(
        Method::DELETE,
        "/api/v1/trunks/telnyx_main",
        Some(&viewer),
        None,
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, None);
    d.call(Method::GET, "/api/v1/trunks", None, None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, None);
    d.stop().await;
}

async fn writes_answer_with_their_apply(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    let config_dir = d.state_dir.join("asterisk");
    let created = d
        .admin(Method::POST, "/api/v1/trunks", Some(telnyx()))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(
        created.body["apply"]["status"], "verified",
        "{}",
        created.body
    );
    let pjsip = std::fs::read_to_string(config_dir.join("pjsip.conf")).unwrap();
    assert!(
        pjsip.contains("; BEGIN MANAGED - Trunk telnyx_main"),
        "{pjsip}"
    );
    assert!(
        pjsip.contains(&format!("password={PASSWORD}\n")),
        "the rendered file carries the password"
    );
    assert!(
        pjsip.starts_with("; written by the administrator\n"),
        "hand-written lines stay"
    );

    let route = json!({"name": "us_local", "pattern": "_1NXXNXXXXXX", "trunk": "telnyx_main"});
    let routed = d
        .admin(Method::POST, "/api/v1/outbound-routes", Some(route))
        .await;
    assert_eq!(routed.status, StatusCode::CREATED, "{}", routed.body);
    assert_eq!(
        routed.body["apply"]["status"], "verified",
        "{}",
        routed.body
    );
    let dialplan = std::fs::read_to_string(config_dir.join("extensions.conf")).unwrap();
    assert!(
        dialplan.contains("; BEGIN MANAGED - Route outbound us_local"),
        "{dialplan}"
    );

    let unrouted = d
        .admin(Method::DELETE, "/api/v1/outbound-routes/us_local", None)
        .await;
    assert_eq!(unrouted.status, StatusCode::OK, "{}", unrouted.body);
    assert_eq!(unrouted.body["deleted"], "us_local");
    let deleted = d
        .admin(Method::DELETE, "/api/v1/trunks/telnyx_main", None)
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_eq!(
        deleted.body["apply"]["status"], "verified",
        "{}",
        deleted.body
    );
    let pjsip = std::fs::read_to_string(config_dir.join("pjsip.conf")).unwrap();
    assert!(
        !pjsip.contains("telnyx_main") && !pjsip.contains(PASSWORD),
        "{pjsip}"
    );
    d.stop().await;

    // Asterisk down: the trunk is saved and the answer says the apply is pending.
    let down = TestDaemon::start_without_asterisk(backend).await;
    let saved = down
        .admin(Method::POST, "/api/v1/trunks", Some(telnyx()))
        .await;
    assert_eq!(saved.status, StatusCode::ACCEPTED, "{}", saved.body);
    assert_eq!(saved.body["apply"]["status"], "pending", "{}", saved.body);
    assert_eq!(
        down.admin(Method::GET, "/api/v1/trunks/telnyx_main", None)
            .await
            .status,
        StatusCode::OK
    );
    down.stop().await;
}

async fn option_overrides_reach_their_sections(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    let mut bad = telnyx();
    bad["options"] =
        json!({"endpoint": {"dtmf_mode": "bogus_mode"}, "identify": {"match": "1.2.3.4"}});
    let refused = d.admin(Method::POST, "/api/v1/trunks", Some(bad)).await;
    for field in ["options.endpoint.dtmf_mode", "options.identify.match"] {
        refused.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some(field));
    }
    let mut good = telnyx();
    good["options"] = json!({"endpoint": {"dtmf_mode": "info", "direct_media": "yes"}, "registration": {"expiration": 900}});
    let created = d.admin(Method::POST, "/api/v1/trunks", Some(good)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(
        created.body["apply"]["status"], "verified",
        "{}",
        created.body
    );
    assert_eq!(created.body["options"]["registration"]["expiration"], "900");
    let block = d.pjsip_block("Trunk telnyx_main");
    let endpoint = block
        .split("type=endpoint")
        .nth(1)
        .expect("endpoint")
        .split("\n[")
        .next()
        .unwrap_or_default();
    assert!(endpoint.lines().any(|l| l == "dtmf_mode=info"), "{block}");
    assert_eq!(block.matches("direct_media=").count(), 1, "{block}");
    assert!(endpoint.lines().any(|l| l == "direct_media=yes"), "{block}");
    let registration = block
        .split("type=registration")
        .nth(1)
        .expect("registration")
        .split("\n[")
        .next()
        .unwrap_or_default();
    assert_eq!(registration.matches("expiration=").count(), 1, "{block}");
    assert!(
        registration.lines().any(|l| l == "expiration=900"),
        "{block}"
    );
    let cleared = d
        .admin(
            Method::PATCH,
            "/api/v1/trunks/telnyx_main",
            Some(json!({"options": null})),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.body);
    let pjsip = std::fs::read_to_string(d.config_dir().join("pjsip.conf")).expect("pjsip.conf");
    assert!(!pjsip.contains("dtmf_mode=info"), "{pjsip}");
    d.stop().await;
}

async fn trunk_registration(d: &TestDaemon, name: &str) -> Value {
    d.admin(Method::GET, &format!("/api/v1/trunks/{name}"), None)
        .await
        .body["registration"]
        .clone()
}

async fn registration_state_is_live_and_known_after_a_restart(backend: Backend) {
    let mut d = TestDaemon::start(backend).await;
    let created = d
        .admin(Method::POST, "/api/v1/trunks", Some(telnyx()))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let office = d
        .admin(
            Method::POST,
            "/api/v1/trunks",
            Some(json!({"name": "office", "provider": "custom_ip", "server": "203.0.113.5"})),
        )
        .await;
    assert_eq!(office.status, StatusCode::CREATED, "{}", office.body);
    // Known from the snapshot taken after the apply that loaded it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let registration = trunk_registration(&d, "telnyx_main").await;
        if registration["state"] == "unregistered" {
            assert_eq!(registration["registration"], "telnyx_main-reg");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{registration}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // An IP-authenticated trunk registers nowhere.
    assert_eq!(trunk_registration(&d, "office").await["state"], "none");

    // A Registry event (as Asterisk names a registration: by its URIs) updates it
    // and reaches the event stream.
    let viewer = d.token("viewer").await;
    let (mut ws, _) = crate::support::ws::Ws::connect(&d.url, &viewer, "types=trunk_status").await;
    let asterisk = d.asterisk.as_ref().expect("a double");
    asterisk.set_registration_status("telnyx_main-reg", "Registered");
    let event = ws.json().await;
    assert_eq!(event["type"], "trunk_status", "{event}");
    assert_eq!(event["data"]["trunk"], "telnyx_main", "{event}");
    assert_eq!(event["data"]["state"], "registered", "{event}");
    let registration = trunk_registration(&d, "telnyx_main").await;
    assert_eq!(registration["state"], "registered", "{registration}");
    assert!(registration["since"].is_string());
    asterisk.set_registration_status("telnyx_main-reg", "Rejected");
    assert_eq!(ws.json().await["data"]["state"], "rejected");

    // A check registers again and answers what the registrar said, within its bound.
    asterisk.set_registration_outcome("telnyx_main-reg", "Registered");
    let started = std::time::Instant::now();
    let checked = d
        .admin(Method::POST, "/api/v1/trunks/telnyx_main/check", None)
        .await;
    assert_eq!(checked.status, StatusCode::OK, "{}", checked.body);
    assert_eq!(
        checked.body["registration"]["state"], "registered",
        "{}",
        checked.body
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(ws.json().await["data"]["state"], "registered");
    asterisk.set_registration_outcome("telnyx_main-reg", "Rejected");
    let checked = d
        .admin(Method::POST, "/api/v1/trunks/telnyx_main/check", None)
        .await;
    assert_eq!(
        checked.body["registration"]["state"], "rejected",
        "{}",
        checked.body
    );
    let checked = d
        .admin(Method::POST, "/api/v1/trunks/office/check", None)
        .await;
    assert_eq!(
        checked.body["registration"]["state"], "none",
        "{}",
        checked.body
    );
    d.admin(Method::POST, "/api/v1/trunks/nope/check", None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, None);
    // The check qualified too; a static contact's state comes without an
    // endpoint, under the trunk's aor.
    assert!(
        asterisk
            .received()
            .iter()
            .any(|r| r.action() == "PJSIPQualify" && r.get("Endpoint") == Some("office")),
        "a check qualifies"
    );
    asterisk.emit(
        &crate::support::asterisk::AmiEvent::new("ContactStatus", "system,all")
            .with("URI", "sip:192.0.2.50:5060")
            .with("ContactStatus", "Reachable")
            .with("AOR", "office-aor")
            .with("EndpointName", "")
            .with("RoundtripUsec", "12000"),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let office = d.admin(Method::GET, "/api/v1/trunks/office", None).await;
        if office.body["contacts"][0]["status"] == "reachable" {
            assert_eq!(office.body["contacts"][0]["rtt_ms"], 12.0);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", office.body);
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    }

    // A restarted rayand knows the state at once, from its snapshot, with no new event.
    d.restart().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while trunk_registration(&d, "telnyx_main").await["state"] != "rejected" {
        assert!(
            std::time::Instant::now() < deadline,
            "state lost across a restart"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    d.stop().await;
}
