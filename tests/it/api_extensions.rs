//! The extensions REST API against the real server, on PostgreSQL and on SQLite.

use crate::support::daemon::TestDaemon;
use crate::support::db::Backend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_backends!(
    crud_round_trip,
    values_the_renderer_refuses_are_refused_at_the_api,
    generated_password_is_returned_once,
    list_paginates_and_filters,
    patch_changes_only_the_fields_sent,
    invalid_fields_are_named,
    duplicates_conflict,
    unknown_fields_are_refused,
    oversized_bodies_are_refused,
    authentication_and_roles,
    audit_log_masks_secrets,
    openapi_lists_every_route,
    out_of_range_paging_and_ids_are_problems,
    every_list_pages_and_refuses_unknown_parameters,
    nul_in_any_text_is_refused,
    option_overrides_are_checked_rendered_and_cleared,
    bulk_creates_all_or_nothing_in_one_apply_and_exports_csv,
);

/// One past the largest signed 64-bit integer: what a database binds.
const PAST_I64: &str = "9223372036854775808";

/// Every list route; each answers a page.
const LISTS: &[&str] = &[
    "/api/v1/extensions",
    "/api/v1/trunks",
    "/api/v1/outbound-routes",
    "/api/v1/inbound-routes",
    "/api/v1/provider-templates",
    "/api/v1/extension-templates",
    "/api/v1/tokens",
    "/api/v1/audit",
    "/api/v1/applies",
    "/api/v1/calls",
    "/api/v1/nodes",
    "/api/v1/asterisk/endpoints",
    "/api/v1/kamailio/dispatchers",
    "/api/v1/kamailio/addresses",
];

async fn crud_round_trip(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    let created = d
        .admin(
            Method::POST,
            "/api/v1/extensions",
            Some(
                json!({"extension": "1001", "name": "Alice", "password": "S3cret-pass",
                "template": "basic", "context": "from-internal", "codecs": ["ulaw", "alaw"],
                "max_contacts": 1, "caller_id": "\"Alice\" <1001>", "enabled": true}),
            ),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["extension"], "1001");
    assert_eq!(created.body["codecs"], json!(["ulaw", "alaw"]));
    assert_eq!(created.body["caller_id"], "\"Alice\" <1001>");
    assert!(
        created.body.get("password").is_none(),
        "a given password is never echoed"
    );
    assert_eq!(
        created.body["apply"]["status"], "verified",
        "{}",
        created.body
    );
    assert!(created.body["apply"]["id"].is_i64());
    assert_eq!(created.body["registration"]["state"], "unregistered");

    let shown = d.admin(Method::GET, "/api/v1/extensions/1001", None).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert_eq!(shown.body["name"], "Alice");
    assert!(shown.body.get("password").is_none());
    assert!(!shown.body.to_string().contains("S3cret"));

    let deleted = d
        .admin(Method::DELETE, "/api/v1/extensions/1001", None)
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(
        deleted.body["apply"]["status"], "verified",
        "Asterisk dropped it: {}",
        deleted.body
    );
    d.admin(Method::GET, "/api/v1/extensions/1001", None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, None);
    d.admin(Method::DELETE, "/api/v1/extensions/1001", None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, None);
    d.stop().await;
}

async fn generated_password_is_returned_once(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    let created = d
        .admin(
            Method::POST,
            "/api/v1/extensions",
            Some(json!({"extension": "2001"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let password = created.body["password"]
        .as_str()
        .expect("generated password")
        .to_owned();
    assert!(password.len() >= 20);
    assert_eq!(created.body["template"], "basic");
    assert_eq!(created.body["context"], "from-internal");
    assert_eq!(created.body["enabled"], true);
    let shown = d.admin(Method::GET, "/api/v1/extensions/2001", None).await;
    assert!(!shown.body.to_string().contains(&password));
    let listed = d.admin(Method::GET, "/api/v1/extensions", None).await;
    assert!(!listed.body.to_string().contains(&password));
    d.stop().await;
}

async fn list_paginates_and_filters(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    for n in 0..12 {
        let context = if n % 2 == 0 { "from-internal" } else { "sales" };
        let body = json!({"extension": format!("30{n:02}"), "name": format!("User {n}"), "context": context,
            "enabled": n != 3});
        assert_eq!(
            d.admin(Method::POST, "/api/v1/extensions", Some(body))
                .await
                .status,
            StatusCode::CREATED
        );
    }
    let page = d
        .admin(Method::GET, "/api/v1/extensions?limit=5&offset=5", None)
        .await;
    assert_eq!(page.body["total"], 12);
    let numbers: Vec<&str> = page.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["extension"].as_str().unwrap())
        .collect();
    assert_eq!(numbers, ["3005", "3006", "3007", "3008", "3009"]);

    let sales = d
        .admin(Method::GET, "/api/v1/extensions?context=sales", None)
        .await;
    assert_eq!(sales.body["total"], 6);
    let disabled = d
        .admin(Method::GET, "/api/v1/extensions?enabled=false", None)
        .await;
    assert_eq!(disabled.body["total"], 1);
    assert_eq!(disabled.body["items"][0]["extension"], "3003");
    let by_name = d
        .admin(Method::GET, "/api/v1/extensions?q=user%2011", None)
        .await;
    assert_eq!(by_name.body["total"], 1);
    assert_eq!(by_name.body["items"][0]["extension"], "3011");
    let by_prefix = d.admin(Method::GET, "/api/v1/extensions?q=301", None).await;
    assert_eq!(by_prefix.body["total"], 2);
    d.admin(Method::GET, "/api/v1/extensions?limit=many", None)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some("limit"));
    d.admin(Method::GET, "/api/v1/extensions?colour=red", None)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some("colour"));
    d.stop().await;
}

async fn patch_changes_only_the_fields_sent(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    d.admin(
        Method::POST,
        "/api/v1/extensions",
        Some(json!({"extension": "1001", "name": "Alice",
        "caller_id": "Alice <1001>", "codecs": ["g722"], "context": "sales"})),
    )
    .await;
    let patched = d
        .admin(
            Method::PATCH,
            "/api/v1/extensions/1001",
            Some(json!({"name": "Alice B"})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["name"], "Alice B");
    assert_eq!(patched.body["caller_id"], "Alice <1001>");
    assert_eq!(patched.body["codecs"], json!(["g722"]));
    assert_eq!(patched.body["context"], "sales");

    let cleared = d
        .admin(
            Method::PATCH,
            "/api/v1/extensions/1001",
            Some(json!({"caller_id": null, "enabled": false})),
        )
        .await;
    assert_eq!(cleared.body["caller_id"], Value::Null);
    assert_eq!(cleared.body["enabled"], false);
    assert_eq!(cleared.body["name"], "Alice B");

    d.admin(
        Method::PATCH,
        "/api/v1/extensions/1001",
        Some(json!({"context": "bad context"})),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some("context"));
    let unchanged = d.admin(Method::GET, "/api/v1/extensions/1001", None).await;
    assert_eq!(
        unchanged.body["context"], "sales",
        "a refused patch changes nothing"
    );
    d.admin(
        Method::PATCH,
        "/api/v1/extensions/9999",
        Some(json!({"name": "x"})),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, None);
    d.stop().await;
}

async fn invalid_fields_are_named(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    let cases = [
        (json!({"extension": "12a4"}), "extension"),
        (json!({"extension": "1"}), "extension"),
        (json!({"extension": "12345678901"}), "extension"),
        (json!({"extension": 1001}), "extension"),
        (json!({"name": "x"}), "extension"),
        (json!({"extension": "1001", "name": "Al\nice"}), "name"),
        (json!({"extension": "1001", "name": "[evil]"}), "name"),
        (
            json!({"extension": "1001", "caller_id": "x;y"}),
            "caller_id",
        ),
        (
            json!({"extension": "1001", "caller_id": "nul\u{0}byte"}),
            "caller_id",
        ),
        (
            json!({"extension": "1001", "context": "ctx\r\n[default]"}),
            "context",
        ),
        (
            json!({"extension": "1001", "password": "short"}),
            "password",
        ),
        (
            json!({"extension": "1001", "password": "alllowercaseletters"}),
            "password",
        ),
        (
            json!({"extension": "1001", "codecs": ["ulaw", "nope"]}),
            "codecs[1]",
        ),
        (json!({"extension": "1001", "codecs": []}), "codecs"),
        (
            json!({"extension": "1001", "template": "nosuch"}),
            "template",
        ),
        (
            json!({"extension": "1001", "max_contacts": 0}),
            "max_contacts",
        ),
        (json!({"extension": "1001", "enabled": "yes"}), "enabled"),
    ];
    for (body, field) in cases {
        let resp = d
            .admin(Method::POST, "/api/v1/extensions", Some(body.clone()))
            .await;
        resp.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some(field));
    }
    let list = d.admin(Method::GET, "/api/v1/extensions", None).await;
    assert_eq!(list.body["total"], 0, "no refused input was stored");

    let malformed = d
        .http
        .post(format!("{}/api/v1/extensions", d.url))
        .bearer_auth(&d.admin_token)
        .header("content-type", "application/json")
        .body("{\"extension\": ")
        .send()
        .await
        .unwrap();
    crate::support::daemon::Response::read(malformed)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, None);
    let not_json = d
        .http
        .post(format!("{}/api/v1/extensions", d.url))
        .bearer_auth(&d.admin_token)
        .header("content-type", "text/plain")
        .body("extension=1001")
        .send()
        .await
        .unwrap();
    crate::support::daemon::Response::read(not_json)
        .await
        .assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, None);
    d.stop().await;
}

async fn duplicates_conflict(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    let body = json!({"extension": "1001", "name": "Alice"});
    assert_eq!(
        d.admin(Method::POST, "/api/v1/extensions", Some(body.clone()))
            .await
            .status,
        StatusCode::CREATED
    );
    let dup = d
        .admin(
            Method::POST,
            "/api/v1/extensions",
            Some(json!({"extension": "1001", "name": "Bob"})),
        )
        .await;
    dup.assert_problem(StatusCode::CONFLICT, None);
    assert!(dup.body["detail"].as_str().unwrap().contains("1001"));
    let kept = d.admin(Method::GET, "/api/v1/extensions/1001", None).await;
    assert_eq!(kept.body["name"], "Alice", "the original is untouched");
    d.stop().await;
}

async fn unknown_fields_are_refused(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    d.admin(
        Method::POST,
        "/api/v1/extensions",
        Some(json!({"extension": "1001", "colour": "red"})),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some("colour"));
    d.admin(
        Method::POST,
        "/api/v1/extensions",
        Some(json!({"extension": "1002"})),
    )
    .await;
    d.admin(
        Method::PATCH,
        "/api/v1/extensions/1002",
        Some(json!({"md5_cred": "x"})),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some("md5_cred"));
    d.stop().await;
}

async fn oversized_bodies_are_refused(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    let huge = "x".repeat(200 * 1024);
    d.admin(
        Method::POST,
        "/api/v1/extensions",
        Some(json!({"extension": "1001", "name": huge})),
    )
    .await
    .assert_problem(StatusCode::PAYLOAD_TOO_LARGE, None);
    assert_eq!(
        d.admin(Method::GET, "/api/v1/extensions", None).await.body["total"],
        0
    );
    d.stop().await;
}

async fn authentication_and_roles(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    let body = json!({"extension": "1001"});
    d.call(Method::GET, "/api/v1/extensions", None, None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, None);
    d.call(
        Method::GET,
        "/api/v1/extensions",
        Some("rayan_not-a-token"),
        None,
    )
    .await
    .assert_problem(StatusCode::UNAUTHORIZED, None);

    let viewer = d.token("viewer").await;
    let operator = d.token("operator").await;
    assert_eq!(
        d.call(Method::GET, "/api/v1/extensions", Some(&viewer), None)
            .await
            .status,
        StatusCode::OK
    );
    d.call(
        Method::POST,
        "/api/v1/extensions",
        Some(&viewer),
        Some(body.clone()),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, None);
    assert_eq!(
        d.call(
            Method::POST,
            "/api/v1/extensions",
            Some(&operator),
            Some(body)
        )
        .await
        .status,
        StatusCode::CREATED
    );
    d.call(
        Method::POST,
        "/api/v1/tokens",
        Some(&operator),
        Some(json!({"role": "admin"})),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, None);
    d.call(Method::GET, "/api/v1/audit", Some(&operator), None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, None);
    d.admin(
        Method::POST,
        "/api/v1/tokens",
        Some(json!({"role": "root"})),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some("role"));

    // Tokens are stored hashed and can be revoked.
    let tokens = d.admin(Method::GET, "/api/v1/tokens", None).await;
    assert!(!tokens.body.to_string().contains(&viewer));
    let viewer_id = tokens.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["role"] == "viewer")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        d.admin(Method::DELETE, &format!("/api/v1/tokens/{viewer_id}"), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    d.call(Method::GET, "/api/v1/extensions", Some(&viewer), None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, None);

    // Liveness needs no token.
    let health = d
        .http
        .get(format!("{}/healthz", d.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    d.stop().await;
}

async fn audit_log_masks_secrets(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    d.admin(
        Method::POST,
        "/api/v1/extensions",
        Some(json!({"extension": "1001", "name": "Alice", "password": "S3cret-pass"})),
    )
    .await;
    d.admin(
        Method::PATCH,
        "/api/v1/extensions/1001",
        Some(json!({"password": "N3w-secret!", "name": "Alice B"})),
    )
    .await;
    d.admin(Method::DELETE, "/api/v1/extensions/1001", None)
        .await;
    let audit = d.admin(Method::GET, "/api/v1/audit?limit=10", None).await;
    assert_eq!(audit.status, StatusCode::OK);
    let entries: Vec<&Value> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["object_kind"] == "extension")
        .collect();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["delete", "update", "create"]);
    assert!(
        entries
            .iter()
            .all(|e| e["token_id"] == 1 && e["object_id"] == "1001")
    );
    assert_eq!(entries[1]["before"]["name"], "Alice");
    assert_eq!(entries[1]["after"]["name"], "Alice B");
    assert_eq!(entries[1]["after"]["password"], "***");
    let text = audit.body.to_string();
    assert!(!text.contains("S3cret-pass") && !text.contains("N3w-secret!"));
    let md5 =
        rayan::model::ExtensionAuth::from_password("1001", "asterisk", "N3w-secret!").md5_cred;
    assert!(!text.contains(&md5), "the digest is a credential too");
    d.stop().await;
}

async fn openapi_lists_every_route(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    let doc = d.admin(Method::GET, "/api/v1/openapi.json", None).await;
    assert_eq!(doc.status, StatusCode::OK);
    for (path, method) in [
        ("/api/v1/extensions", "get"),
        ("/api/v1/extensions", "post"),
        ("/api/v1/extensions/{number}", "patch"),
        ("/api/v1/extensions/{number}", "delete"),
        ("/api/v1/tokens", "post"),
        ("/api/v1/audit", "get"),
    ] {
        assert!(
            doc.body["paths"][path][method].is_object(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    assert!(doc.body["components"]["schemas"]["NewExtension"].is_object());
    d.stop().await;
}

/// Offsets and ids beyond what the database binds used to panic in the SQLite
/// binder and drop the connection; they are refused as problems naming the
/// parameter, and a huge limit is cut to the maximum.
async fn out_of_range_paging_and_ids_are_problems(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    for list in LISTS {
        for offset in [
            PAST_I64,
            "18446744073709551615",
            "18446744073709551616",
            "-1",
        ] {
            let resp = d
                .admin(Method::GET, &format!("{list}?offset={offset}"), None)
                .await;
            resp.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some("offset"));
        }
        let resp = d
            .admin(Method::GET, &format!("{list}?limit=-1"), None)
            .await;
        resp.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some("limit"));
    }
    let at_the_edge = d
        .admin(
            Method::GET,
            "/api/v1/extensions?offset=9223372036854775807",
            None,
        )
        .await;
    assert_eq!(at_the_edge.status, StatusCode::OK, "{}", at_the_edge.body);
    assert_eq!(at_the_edge.body["items"], json!([]));
    for list in [
        "/api/v1/extensions",
        "/api/v1/audit",
        "/api/v1/applies",
        "/api/v1/calls",
        "/api/v1/tokens",
    ] {
        let resp = d
            .admin(Method::GET, &format!("{list}?limit={PAST_I64}"), None)
            .await;
        assert_eq!(resp.status, StatusCode::OK, "{list}: {}", resp.body);
        assert_eq!(resp.body["limit"], 1000, "{list}: the limit as applied");
    }

    let id_routes = [
        (Method::GET, "/api/v1/inbound-routes/{}"),
        (Method::PATCH, "/api/v1/inbound-routes/{}"),
        (Method::DELETE, "/api/v1/inbound-routes/{}"),
        (Method::GET, "/api/v1/applies/{}"),
        (Method::DELETE, "/api/v1/tokens/{}"),
        (Method::GET, "/api/v1/kamailio/dispatchers/{}"),
        (Method::PATCH, "/api/v1/kamailio/dispatchers/{}"),
        (Method::DELETE, "/api/v1/kamailio/dispatchers/{}"),
        (Method::GET, "/api/v1/kamailio/addresses/{}"),
        (Method::PATCH, "/api/v1/kamailio/addresses/{}"),
        (Method::DELETE, "/api/v1/kamailio/addresses/{}"),
    ];
    for (method, route) in &id_routes {
        for id in [PAST_I64, "99999999999999999999999", "abc", "1.5"] {
            let path = route.replace("{}", id);
            let body = (*method == Method::PATCH).then(|| json!({}));
            let resp = d.admin(method.clone(), &path, body).await;
            resp.assert_problem(StatusCode::BAD_REQUEST, Some("id"));
            assert_eq!(
                resp.body["type"], "urn:rayan:problem:invalid-path",
                "{method} {path}"
            );
        }
    }
    // Names and numbers are text: a huge one is just one that does not exist.
    for (method, route) in [
        (Method::GET, "/api/v1/extensions/{}"),
        (Method::DELETE, "/api/v1/extensions/{}"),
        (Method::GET, "/api/v1/extensions/{}/verify"),
        (Method::GET, "/api/v1/trunks/{}"),
        (Method::GET, "/api/v1/outbound-routes/{}"),
        (Method::GET, "/api/v1/provider-templates/{}"),
        (Method::GET, "/api/v1/extension-templates/{}"),
        (Method::DELETE, "/api/v1/calls/{}"),
    ] {
        let path = route.replace("{}", PAST_I64);
        let resp = d.admin(method.clone(), &path, None).await;
        assert!(
            resp.status.is_client_error(),
            "{method} {path}: {}",
            resp.body
        );
        assert_eq!(
            resp.content_type, "application/problem+json",
            "{method} {path}"
        );
    }
    // Text that is not UTF-8 is refused the same way.
    d.admin(Method::GET, "/api/v1/extensions/%FF", None)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, Some("number"));
    d.stop().await;
}

/// Every list takes `limit` and `offset` the same way and refuses anything else.
async fn every_list_pages_and_refuses_unknown_parameters(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    for n in 0..3 {
        let body = json!({"extension": format!("40{n:02}")});
        assert_eq!(
            d.admin(Method::POST, "/api/v1/extensions", Some(body))
                .await
                .status,
            StatusCode::CREATED
        );
    }
    for list in LISTS {
        let resp = d
            .admin(Method::GET, &format!("{list}?colour=red"), None)
            .await;
        resp.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some("colour"));
        let resp = d
            .admin(Method::GET, &format!("{list}?limit=1&limit=2"), None)
            .await;
        resp.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some("limit"));
    }

    let huge = d
        .admin(Method::GET, "/api/v1/extensions?limit=100000000", None)
        .await;
    assert_eq!(huge.status, StatusCode::OK, "{}", huge.body);
    assert_eq!(
        (huge.body["limit"].as_u64(), huge.body["total"].as_u64()),
        (Some(1000), Some(3))
    );
    let count_only = d
        .admin(Method::GET, "/api/v1/extensions?limit=0", None)
        .await;
    assert_eq!(
        count_only.body["items"],
        json!([]),
        "limit=0 answers no item"
    );
    assert_eq!(
        (
            count_only.body["limit"].as_u64(),
            count_only.body["total"].as_u64()
        ),
        (Some(0), Some(3))
    );

    // Lists held in memory page the same way.
    let templates = d
        .admin(
            Method::GET,
            "/api/v1/extension-templates?limit=2&offset=1",
            None,
        )
        .await;
    assert_eq!(templates.status, StatusCode::OK, "{}", templates.body);
    assert_eq!(templates.body["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        (
            templates.body["total"].as_u64(),
            templates.body["offset"].as_u64()
        ),
        (Some(4), Some(1))
    );
    let tokens = d
        .admin(Method::GET, "/api/v1/tokens?limit=5000", None)
        .await;
    assert_eq!(
        (tokens.body["limit"].as_u64(), tokens.body["total"].as_u64()),
        (Some(1000), Some(1))
    );
    let nodes = d.admin(Method::GET, "/api/v1/nodes?offset=1", None).await;
    assert_eq!(
        (
            nodes.body["items"].as_array().map(Vec::len),
            nodes.body["total"].as_u64()
        ),
        (Some(0), Some(1))
    );
    d.stop().await;
}

/// PostgreSQL refuses NUL in text (a 500 it was), and nothing rayan writes may
/// hold it: a body, query or path with one is refused naming where it is.
async fn nul_in_any_text_is_refused(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    let body = json!({"extension": "1001", "name": "Al\u{0}ice"});
    let resp = d
        .admin(Method::POST, "/api/v1/extensions", Some(body))
        .await;
    resp.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some("name"));
    let resp = d
        .admin(
            Method::POST,
            "/api/v1/calls",
            Some(json!({"from": "\u{0}1", "to": "1002"})),
        )
        .await;
    resp.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some("from"));
    let resp = d.admin(Method::GET, "/api/v1/extensions?q=%00", None).await;
    resp.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some("q"));
    let resp = d
        .admin(Method::GET, "/api/v1/extensions/10%0001", None)
        .await;
    resp.assert_problem(StatusCode::BAD_REQUEST, Some("number"));
    let resp = d
        .admin(Method::POST, "/api/v1/applies?dry_run=%00", None)
        .await;
    resp.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some("dry_run"));
    assert_eq!(
        d.admin(Method::GET, "/api/v1/extensions", None).await.body["total"],
        0
    );
    d.stop().await;
}

/// The document says what the API sends: problems as problem+json, the
/// answers of the extractors on every operation, and schemas that fit.
#[test]
fn openapi_describes_errors_and_bodies_as_sent() {
    let doc = serde_json::to_value(rayan::api::openapi()).unwrap();
    let resolve = |response: &Value| -> Value {
        match response["$ref"].as_str() {
            Some(r) => doc["components"]["responses"]
                [r.trim_start_matches("#/components/responses/")]
            .clone(),
            None => response.clone(),
        }
    };
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let responses = op["responses"].as_object().unwrap();
            for (status, response) in responses {
                let response = resolve(response);
                // Readiness answers 503 with its own report; every other error is a problem.
                let own_body = path == "/readyz" && status == "503";
                if (status.starts_with('4') || status.starts_with('5')) && !own_body {
                    let types: Vec<&String> = response["content"]
                        .as_object()
                        .map(|c| c.keys().collect())
                        .unwrap_or_default();
                    assert_eq!(
                        types,
                        ["application/problem+json"],
                        "{method} {path} {status}"
                    );
                }
            }
            if path == "/healthz" {
                continue;
            }
            for status in ["401", "500"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} lacks {status}"
                );
            }
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            if params.iter().any(|p| p["in"] == "path") {
                assert!(
                    responses.contains_key("400"),
                    "{method} {path} lacks 400 for its path parameters"
                );
            }
            if params.iter().any(|p| p["in"] == "query") {
                assert!(
                    responses.contains_key("422"),
                    "{method} {path} lacks 422 for its query"
                );
            }
            if op.get("requestBody").is_some() {
                for status in ["400", "413", "415", "422"] {
                    assert!(
                        responses.contains_key(status),
                        "{method} {path} lacks {status} for its body"
                    );
                }
            }
            if method != "get" {
                assert!(responses.contains_key("403"), "{method} {path} lacks 403");
            }
            if let Some(offset) = params.iter().find(|p| p["name"] == "offset") {
                assert_eq!(
                    offset["schema"]["maximum"],
                    json!(i64::MAX),
                    "{method} {path}: offset's bound is exact"
                );
            }
        }
    }
    assert!(operations >= 54, "{operations} operations");
    let schemas = &doc["components"]["schemas"];
    for field in ["files", "reloads", "objects"] {
        let types = &schemas["ApplyRecord"]["properties"][field]["type"];
        assert_eq!(types, &json!(["array", "null"]), "ApplyRecord.{field}");
    }
    assert_eq!(
        schemas["AuditView"]["properties"]["before"]["type"],
        json!(["object", "null"])
    );
    let view = &schemas["ProviderTemplateView"];
    assert!(view.get("allOf").is_none(), "one object: {view}");
    for field in ["id", "builtin", "created_at", "updated_at"] {
        assert!(
            view["properties"].get(field).is_some(),
            "ProviderTemplateView.{field}"
        );
    }
}

/// Every value the renderer would refuse is a 422 naming its field, and nothing is
/// stored: an empty caller ID, a name that breaks `"name" <number>`, bidirectional
/// overrides, zero-width characters and a BOM that mislead a reader or a display.
async fn values_the_renderer_refuses_are_refused_at_the_api(backend: Backend) {
    let d = TestDaemon::start_without_asterisk(backend).await;
    let cases = [
        (json!({"extension": "1101", "caller_id": ""}), "caller_id"),
        (json!({"extension": "1102", "name": "a=>b"}), "name"),
        (json!({"extension": "1103", "name": "<sip:evil@x>"}), "name"),
        (
            json!({"extension": "1104", "name": "abc\u{202e}def"}),
            "name",
        ),
        (
            json!({"extension": "1105", "caller_id": "\"A\u{200b}B\" <1105>"}),
            "caller_id",
        ),
        (
            json!({"extension": "1106", "name": "\u{feff}Alice"}),
            "name",
        ),
    ];
    for (body, field) in cases {
        let number = body["extension"].as_str().unwrap_or_default().to_owned();
        let refused = d
            .admin(Method::POST, "/api/v1/extensions", Some(body))
            .await;
        refused.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some(field));
        let gone = d
            .admin(Method::GET, &format!("/api/v1/extensions/{number}"), None)
            .await;
        assert_eq!(gone.status, StatusCode::NOT_FOUND, "{number} was stored");
    }
    let created = d
        .admin(
            Method::POST,
            "/api/v1/extensions",
            Some(json!({"extension": "1107"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::ACCEPTED, "{}", created.body);
    let patched = d
        .admin(
            Method::PATCH,
            "/api/v1/extensions/1107",
            Some(json!({"caller_id": ""})),
        )
        .await;
    patched.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some("caller_id"));
    d.stop().await;
}

async fn option_overrides_are_checked_rendered_and_cleared(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    // A value Asterisk would refuse, an option rayan writes itself, a section an
    // extension does not have: each named, nothing stored.
    let refused = d
        .admin(
            Method::POST,
            "/api/v1/extensions",
            Some(json!({"extension": "1201", "options": {
                "endpoint": {"dtmf_mode": "bogus_mode", "aors": "x"},
                "registration": {"expiration": 60},
                "aor": {"qualify_frequency": "60\n[evil]"},
            }})),
        )
        .await;
    for field in [
        "options.endpoint.dtmf_mode",
        "options.endpoint.aors",
        "options.registration",
        "options.aor.qualify_frequency",
    ] {
        refused.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some(field));
    }
    assert_eq!(
        d.admin(Method::GET, "/api/v1/extensions/1201", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let created = d
        .admin(
            Method::POST,
            "/api/v1/extensions",
            Some(json!({"extension": "1201", "options": {
                "endpoint": {"direct_media": true, "dtmf_mode": "info", "media_address": "203.0.113.7"},
                "aor": {"qualify_frequency": 30},
            }})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(
        created.body["apply"]["status"], "verified",
        "{}",
        created.body
    );
    assert_eq!(created.body["options"]["endpoint"]["direct_media"], "yes");
    let block = d.pjsip_block("Extension 1201");
    // The template's direct_media=no is replaced in place, not repeated.
    assert_eq!(block.matches("direct_media=").count(), 1, "{block}");
    assert!(block.contains("direct_media=yes\n"), "{block}");
    for line in [
        "dtmf_mode=info\n",
        "media_address=203.0.113.7\n",
        "qualify_frequency=30\n",
    ] {
        assert!(block.contains(line), "{line} missing from {block}");
    }
    let aor = block.split("type=aor").nth(1).expect("aor section");
    assert!(aor.contains("qualify_frequency=30"), "{aor}");

    let cleared = d
        .admin(
            Method::PATCH,
            "/api/v1/extensions/1201",
            Some(json!({"options": null})),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.body);
    assert!(cleared.body.get("options").is_none(), "{}", cleared.body);
    let pjsip = std::fs::read_to_string(d.config_dir().join("pjsip.conf")).expect("pjsip.conf");
    assert!(!pjsip.contains("dtmf_mode=info"));
    assert!(!pjsip.contains("direct_media=yes"));
    d.admin(
        Method::PATCH,
        "/api/v1/extensions/1201",
        Some(json!({"options": {"endpoint": {"direct_media": "maybe"}}})),
    )
    .await
    .assert_problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("options.endpoint.direct_media"),
    );
    d.stop().await;
}

async fn bulk_creates_all_or_nothing_in_one_apply_and_exports_csv(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    let asterisk = d.asterisk.as_ref().expect("a double");
    // One bad row refuses the batch, naming each row and field; nothing is created.
    let refused = d
        .admin(
            Method::POST,
            "/api/v1/extensions/bulk",
            Some(json!([{"extension": "1301"}, {"extension": "13a"}, {"extension": "1301"}, {"extension": "1304", "options": {"endpoint": {"dtmf_mode": "bogus_mode"}}}])),
        )
        .await;
    for field in [
        "[1].extension",
        "[2].extension",
        "[3].options.endpoint.dtmf_mode",
    ] {
        refused.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some(field));
    }
    assert_eq!(
        d.admin(Method::GET, "/api/v1/extensions/1301", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // 300 rows: one transaction, one apply, one PJSIP reload.
    let reloads = asterisk.reload_count("res_pjsip.so");
    let mut rows: Vec<Value> = (0..300)
        .map(|i| json!({"extension": format!("{}", 20_000 + i), "name": format!("User {i}")}))
        .collect();
    rows[0]["password"] = json!("Known-pass-1");
    rows[1]["options"] = json!({"endpoint": {"dtmf_mode": "info"}});
    let created = d
        .admin(
            Method::POST,
            "/api/v1/extensions/bulk",
            Some(Value::Array(rows)),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(
        created.body["apply"]["status"], "verified",
        "{}",
        created.body
    );
    let items = created.body["created"].as_array().expect("created");
    assert_eq!(items.len(), 300);
    assert!(
        items[0].get("password").is_none(),
        "a given password is never returned"
    );
    assert!(
        items[1..]
            .iter()
            .all(|e| e["password"].as_str().is_some_and(|p| p.len() >= 12))
    );
    assert_eq!(asterisk.reload_count("res_pjsip.so"), reloads + 1);
    assert!(asterisk.endpoints().contains(&"20299".to_owned()));

    // Skipping the bad rows creates the rest and lists what was left out.
    let partial = d
        .admin(
            Method::POST,
            "/api/v1/extensions/bulk?skip_invalid=true",
            Some(json!([{"extension": "20000"}, {"extension": "1401"}, {"extension": "x"}])),
        )
        .await;
    assert_eq!(partial.status, StatusCode::CREATED, "{}", partial.body);
    assert_eq!(partial.body["created"][0]["extension"], "1401");
    let skipped: Vec<i64> = partial.body["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .filter_map(|s| s["index"].as_i64())
        .collect();
    assert_eq!(skipped, [0, 2]);

    // The export: CSV with a header row, every extension, no secret.
    let response = d
        .http
        .get(format!("{}/api/v1/extensions/export", d.url))
        .bearer_auth(&d.admin_token)
        .send()
        .await
        .expect("export");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/csv")
    );
    let csv = response.text().await.expect("csv");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "extension,name,template,context,codecs,max_contacts,caller_id,enabled,options,transport,password"
        )
    );
    assert_eq!(lines.clone().count(), 301);
    assert!(csv.contains("20001,User 1,basic,from-internal,,,,true,\"{\"\"endpoint\"\":{\"\"dtmf_mode\"\":\"\"info\"\"}}\","), "{csv}");
    assert!(!csv.contains("Known-pass-1"));
    assert!(!csv.contains("md5"));
    d.stop().await;
}
