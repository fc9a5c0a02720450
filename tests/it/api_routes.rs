//! The inbound and outbound routes REST API against the real server, on PostgreSQL and
//! on SQLite, and the snapshot the apply worker renders from.

use crate::support::daemon::TestDaemon;
use crate::support::db::Backend;
use rayan::render::{RenderSettings, render_all};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_backends!(
    outbound_crud_and_checks,
    inbound_crud_and_checks,
    deleting_what_routes_use_is_refused,
    injection_is_refused_in_every_field,
    snapshot_resolves_names_and_renders,
);

/// Extension 1001, trunks `telnyx_main` and `office` (both in `from-trunk`).
async fn setup(d: &TestDaemon) {
    let created = d
        .admin(
            Method::POST,
            "/api/v1/extensions",
            Some(json!({"extension": "1001", "name": "Alice"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let telnyx = json!({"name": "telnyx_main", "provider": "telnyx", "username": "rayanlab", "password": "S3cret-trunk"});
    assert_eq!(
        d.admin(Method::POST, "/api/v1/trunks", Some(telnyx))
            .await
            .status,
        StatusCode::CREATED
    );
    let office = json!({"name": "office", "provider": "custom_ip", "server": "203.0.113.5"});
    assert_eq!(
        d.admin(Method::POST, "/api/v1/trunks", Some(office))
            .await
            .status,
        StatusCode::CREATED
    );
}

async fn outbound_crud_and_checks(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    setup(&d).await;
    let created = d
        .admin(
            Method::POST,
            "/api/v1/outbound-routes",
            Some(json!({"name": "us_local", "pattern": "_1NXXNXXXXXX", "trunk": "telnyx_main", "strip": 1, "prepend": "+1"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["trunk"], "telnyx_main");
    assert_eq!(created.body["priority"], 100, "the default priority");
    assert_eq!(
        created.body["context"], "from-internal",
        "the default context"
    );
    let second = json!({"name": "intl", "pattern": "_011.", "trunk": "office", "priority": 10});
    assert_eq!(
        d.admin(Method::POST, "/api/v1/outbound-routes", Some(second))
            .await
            .status,
        StatusCode::CREATED
    );

    let list = d.admin(Method::GET, "/api/v1/outbound-routes", None).await;
    let names: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["intl", "us_local"], "listed by priority");
    let by_trunk = d
        .admin(Method::GET, "/api/v1/outbound-routes?trunk=office", None)
        .await;
    assert_eq!(by_trunk.body["total"], 1);

    let patched = d
        .admin(
            Method::PATCH,
            "/api/v1/outbound-routes/us_local",
            Some(json!({"trunk": "office", "prepend": ""})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["trunk"], "office");
    assert_eq!(patched.body["prepend"], "");
    assert_eq!(patched.body["strip"], 1, "fields not sent stay");
    assert_eq!(patched.body["pattern"], "_1NXXNXXXXXX");

    let refused = [
        (
            json!({"name": "r", "pattern": "_1X.X", "trunk": "office"}),
            "pattern",
        ),
        (
            json!({"name": "r", "pattern": "1X", "trunk": "office"}),
            "pattern",
        ),
        (
            json!({"name": "r", "pattern": "_9X", "trunk": "office", "strip": 3}),
            "strip",
        ),
        (
            json!({"name": "r", "pattern": "_9X", "trunk": "office", "prepend": "1a"}),
            "prepend",
        ),
        (
            json!({"name": "r", "pattern": "_9X", "trunk": "missing"}),
            "trunk",
        ),
        (
            json!({"name": "r", "pattern": "_9X", "trunk": "office", "context": "rayan-out-x"}),
            "context",
        ),
        (
            json!({"name": "r", "pattern": "_9X", "trunk": "office", "priority": -5}),
            "priority",
        ),
        (json!({"name": "r", "pattern": "_9X"}), "trunk"),
    ];
    for (body, field) in refused {
        d.admin(Method::POST, "/api/v1/outbound-routes", Some(body))
            .await
            .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some(field));
    }
    d.admin(
        Method::PATCH,
        "/api/v1/outbound-routes/us_local",
        Some(json!({"trunk": "missing"})),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some("trunk"));
    d.admin(
        Method::PATCH,
        "/api/v1/outbound-routes/us_local",
        Some(json!({"strip": 12})),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some("strip"));
    let dup = json!({"name": "intl", "pattern": "_00.", "trunk": "office"});
    d.admin(Method::POST, "/api/v1/outbound-routes", Some(dup))
        .await
        .assert_problem(StatusCode::CONFLICT, None);

    assert_eq!(
        d.admin(Method::DELETE, "/api/v1/outbound-routes/intl", None)
            .await
            .status,
        StatusCode::OK
    );
    d.admin(Method::GET, "/api/v1/outbound-routes/intl", None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, None);
    assert_eq!(
        d.admin(Method::GET, "/api/v1/outbound-routes", None)
            .await
            .body["total"],
        1
    );
    d.stop().await;
}

async fn inbound_crud_and_checks(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    setup(&d).await;
    let created = d
        .admin(
            Method::POST,
            "/api/v1/inbound-routes",
            Some(json!({"did": "+15551234567", "trunk": "telnyx_main", "extension": "1001"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_i64().unwrap();
    assert_eq!(
        created.body["apply"]["status"], "verified",
        "{}",
        created.body
    );
    assert_eq!(created.body["trunk"], "telnyx_main");
    assert_eq!(created.body["extension"], "1001");

    let refused = [
        (
            json!({"did": "+15550000000", "extension": "4040"}),
            "extension",
        ),
        (
            json!({"did": "+15550000000", "extension": "1001", "trunk": "missing"}),
            "trunk",
        ),
        (json!({"did": "555-0000", "extension": "1001"}), "did"),
        (json!({"did": "+15550000000"}), "extension"),
        // `office` shares the context `from-trunk`: a route for the same number from
        // any trunk would answer it twice there.
        (json!({"did": "+15551234567", "extension": "1001"}), "did"),
        (
            json!({"did": "+15551234567", "extension": "1001", "trunk": "office"}),
            "did",
        ),
    ];
    for (body, field) in refused {
        d.admin(Method::POST, "/api/v1/inbound-routes", Some(body))
            .await
            .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some(field));
    }
    let dup = json!({"did": "+15551234567", "trunk": "telnyx_main", "extension": "1001"});
    d.admin(Method::POST, "/api/v1/inbound-routes", Some(dup))
        .await
        .assert_problem(StatusCode::CONFLICT, None);

    // A trunk moved into the context of another route's number is refused too.
    let elsewhere = json!({"name": "other", "provider": "custom_ip", "server": "203.0.113.9", "context": "from-other"});
    assert_eq!(
        d.admin(Method::POST, "/api/v1/trunks", Some(elsewhere))
            .await
            .status,
        StatusCode::CREATED
    );
    let any = d
        .admin(
            Method::POST,
            "/api/v1/inbound-routes",
            Some(json!({"did": "+15559990000", "extension": "1001"})),
        )
        .await;
    assert_eq!(any.status, StatusCode::CREATED, "{}", any.body);
    let via_other = json!({"did": "+15551234567", "trunk": "other", "extension": "1001"});
    assert_eq!(
        d.admin(Method::POST, "/api/v1/inbound-routes", Some(via_other))
            .await
            .status,
        StatusCode::CREATED
    );
    d.admin(
        Method::PATCH,
        "/api/v1/trunks/other",
        Some(json!({"context": "from-trunk"})),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some("context"));

    let path = format!("/api/v1/inbound-routes/{id}");
    let patched = d
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"did": "+15551112222", "trunk": null})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["trunk"], Value::Null);
    assert_eq!(patched.body["extension"], "1001", "fields not sent stay");
    d.admin(Method::PATCH, &path, Some(json!({"extension": "4040"})))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some("extension"));
    assert_eq!(
        d.admin(Method::GET, &path, None).await.body["did"],
        "+15551112222"
    );
    let by_extension = d
        .admin(Method::GET, "/api/v1/inbound-routes?extension=1001", None)
        .await;
    assert_eq!(by_extension.body["total"], 3);
    let by_trunk = d
        .admin(Method::GET, "/api/v1/inbound-routes?trunk=other", None)
        .await;
    assert_eq!(by_trunk.body["total"], 1);

    assert_eq!(
        d.admin(Method::DELETE, &path, None).await.status,
        StatusCode::OK
    );
    d.admin(Method::GET, &path, None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, None);

    // A number that is both a DID and an extension in the same context is refused too.
    let short = json!({"did": "2002", "trunk": "office", "extension": "1001"});
    assert_eq!(
        d.admin(Method::POST, "/api/v1/inbound-routes", Some(short))
            .await
            .status,
        StatusCode::CREATED
    );
    d.admin(
        Method::POST,
        "/api/v1/extensions",
        Some(json!({"extension": "2002", "context": "from-trunk"})),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some("extension"));
    let internal = d
        .admin(
            Method::POST,
            "/api/v1/extensions",
            Some(json!({"extension": "2002"})),
        )
        .await;
    assert_eq!(internal.status, StatusCode::CREATED, "{}", internal.body);
    d.admin(
        Method::PATCH,
        "/api/v1/extensions/2002",
        Some(json!({"context": "from-trunk"})),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some("context"));
    d.stop().await;
}

async fn deleting_what_routes_use_is_refused(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    setup(&d).await;
    let out = json!({"name": "us_local", "pattern": "_1NXXNXXXXXX", "trunk": "telnyx_main"});
    assert_eq!(
        d.admin(Method::POST, "/api/v1/outbound-routes", Some(out))
            .await
            .status,
        StatusCode::CREATED
    );
    let inbound = d
        .admin(
            Method::POST,
            "/api/v1/inbound-routes",
            Some(json!({"did": "+15551234567", "trunk": "telnyx_main", "extension": "1001"})),
        )
        .await;
    let id = inbound.body["id"].as_i64().unwrap();

    let trunk = d
        .admin(Method::DELETE, "/api/v1/trunks/telnyx_main", None)
        .await;
    trunk.assert_problem(StatusCode::CONFLICT, None);
    let detail = trunk.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("outbound route us_local") && detail.contains("+15551234567"),
        "{detail}"
    );
    let extension = d
        .admin(Method::DELETE, "/api/v1/extensions/1001", None)
        .await;
    extension.assert_problem(StatusCode::CONFLICT, None);
    let detail = extension.body["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("inbound route {id} (+15551234567)")),
        "{detail}"
    );
    assert_eq!(
        d.admin(Method::GET, "/api/v1/trunks/telnyx_main", None)
            .await
            .status,
        StatusCode::OK,
        "still there"
    );

    d.admin(
        Method::DELETE,
        &format!("/api/v1/inbound-routes/{id}"),
        None,
    )
    .await;
    assert_eq!(
        d.admin(Method::DELETE, "/api/v1/extensions/1001", None)
            .await
            .status,
        StatusCode::OK
    );
    d.admin(Method::DELETE, "/api/v1/trunks/telnyx_main", None)
        .await
        .assert_problem(StatusCode::CONFLICT, None);
    d.admin(Method::DELETE, "/api/v1/outbound-routes/us_local", None)
        .await;
    assert_eq!(
        d.admin(Method::DELETE, "/api/v1/trunks/telnyx_main", None)
            .await
            .status,
        StatusCode::OK
    );
    d.stop().await;
}

async fn injection_is_refused_in_every_field(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    setup(&d).await;
    let outbound = json!({"name": "r", "pattern": "_9X.", "trunk": "office", "strip": 1, "prepend": "0", "context": "from-internal"});
    let inbound = json!({"did": "+15551234567", "trunk": "office", "extension": "1001"});
    let payloads = [
        "9\n[evil]",
        "[evil]",
        "9;x",
        "9\r\nexten => 1,1,System(id)",
        "${SHELL(id)}",
    ];
    for payload in payloads {
        for field in ["name", "pattern", "trunk", "prepend", "context"] {
            let mut body = outbound.clone();
            body[field] = json!(payload);
            d.admin(Method::POST, "/api/v1/outbound-routes", Some(body))
                .await
                .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some(field));
        }
        for field in ["did", "trunk", "extension"] {
            let mut body = inbound.clone();
            body[field] = json!(payload);
            d.admin(Method::POST, "/api/v1/inbound-routes", Some(body))
                .await
                .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some(field));
        }
    }
    assert_eq!(
        d.admin(Method::GET, "/api/v1/outbound-routes", None)
            .await
            .body["total"],
        0
    );
    assert_eq!(
        d.admin(Method::GET, "/api/v1/inbound-routes", None)
            .await
            .body["total"],
        0
    );
    d.stop().await;
}

async fn snapshot_resolves_names_and_renders(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    setup(&d).await;
    let out = json!({"name": "us_local", "pattern": "_1NXXNXXXXXX", "trunk": "telnyx_main", "strip": 1, "prepend": "+1"});
    assert_eq!(
        d.admin(Method::POST, "/api/v1/outbound-routes", Some(out))
            .await
            .status,
        StatusCode::CREATED
    );
    let inbound = json!({"did": "+15551234567", "trunk": "telnyx_main", "extension": "1001"});
    assert_eq!(
        d.admin(Method::POST, "/api/v1/inbound-routes", Some(inbound))
            .await
            .status,
        StatusCode::CREATED
    );

    let daemon = d.daemon.as_ref().unwrap();
    let snapshot = rayan::store::snapshot::load(daemon.db(), daemon.secrets())
        .await
        .unwrap();
    assert_eq!(snapshot.extensions.len(), 1);
    assert_eq!(
        snapshot
            .trunks
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        ["office", "telnyx_main"]
    );
    assert_eq!(snapshot.outbound_routes[0].trunk, "telnyx_main");
    assert_eq!(
        snapshot.inbound_routes[0].trunk.as_deref(),
        Some("telnyx_main")
    );
    assert_eq!(snapshot.inbound_routes[0].extension, "1001");

    let providers = rayan::store::snapshot::provider_templates(daemon.db())
        .await
        .unwrap();
    assert_eq!(providers.len(), 10);
    let rendered = render_all(&snapshot, &providers, &RenderSettings::default())
        .expect("what the API accepted renders");
    let dialplan: String = rendered
        .extensions
        .iter()
        .map(|b| b.body.as_str())
        .collect();
    assert!(
        dialplan.contains("exten => 1001,1,Dial(PJSIP/1001,30)"),
        "{dialplan}"
    );
    assert!(
        dialplan.contains("exten => +15551234567,1,Goto(from-internal,1001,1)"),
        "{dialplan}"
    );
    assert!(
        dialplan.contains("Dial(PJSIP/+1${EXTEN:1}@telnyx_main)"),
        "{dialplan}"
    );
    let ids: Vec<&str> = rendered.pjsip.iter().map(|b| b.id.as_str()).collect();
    assert_eq!(ids, ["Extension 1001", "Trunk office", "Trunk telnyx_main"]);
    d.stop().await;
}
