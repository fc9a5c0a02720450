//! Extension and provider templates over REST, on PostgreSQL and on SQLite: the built-in
//! ones synchronised at start, and administrators' own provider templates.

use crate::support::daemon::TestDaemon;
use crate::support::db::Backend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_backends!(
    openapi_lists_the_new_routes,
    builtin_templates_are_listed,
    admin_templates_are_validated,
    start_up_sync_keeps_admin_templates
);

fn lab_template() -> Value {
    json!({"id": "lab", "display_name": "Lab provider", "auth_type": "credential",
        "default_server": "sip.lab.example.com", "register": true,
        "required_fields": ["username", "password"], "optional_fields": ["did", "context"],
        "default_codecs": ["ulaw"],
        "registration": {"retry_interval": 30, "expiration": 600},
        "endpoint": {"from_domain": "{server}", "send_pai": true}})
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn builtin_templates_are_listed(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    let providers = d
        .admin(Method::GET, "/api/v1/provider-templates", None)
        .await;
    assert_eq!(providers.status, StatusCode::OK);
    assert_eq!(
        ids(&providers.body),
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
    assert!(
        providers.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["builtin"] == true)
    );
    let telnyx = d
        .admin(Method::GET, "/api/v1/provider-templates/telnyx", None)
        .await;
    assert_eq!(telnyx.body["default_server"], "sip.telnyx.com");
    assert_eq!(telnyx.body["auth_type"], "credential");
    assert_eq!(
        telnyx.body["required_fields"],
        json!(["username", "password"])
    );
    d.admin(Method::GET, "/api/v1/provider-templates/nope", None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, None);

    let extensions = d
        .admin(Method::GET, "/api/v1/extension-templates", None)
        .await;
    let mut got = ids(&extensions.body);
    got.sort();
    assert_eq!(got, ["advanced", "basic", "mobile", "webrtc"]);
    let webrtc = d
        .admin(Method::GET, "/api/v1/extension-templates/webrtc", None)
        .await;
    assert_eq!(webrtc.body["transport"], "wss");
    assert_eq!(webrtc.body["builtin"], true);
    let basic = d
        .admin(Method::GET, "/api/v1/extension-templates/basic", None)
        .await;
    assert_eq!(basic.body["default_codecs"], json!(["ulaw", "alaw"]));
    assert_eq!(basic.body["default_max_contacts"], 1);
    d.admin(Method::GET, "/api/v1/extension-templates/nope", None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, None);
    let viewer = d.token("viewer").await;
    assert_eq!(
        d.call(
            Method::GET,
            "/api/v1/provider-templates",
            Some(&viewer),
            None
        )
        .await
        .status,
        StatusCode::OK
    );
    d.stop().await;
}

async fn admin_templates_are_validated(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    let mut bad = lab_template();
    bad["endpoint"]["no_such_option"] = json!("1");
    bad["endpoint"]["aors"] = json!("x");
    bad["registration"]["retry_interval"] = json!("30;x");
    bad["aor"] = json!({"max_contacts": "1\n[evil]"});
    bad["default_codecs"] = json!(["ulaw", "nope"]);
    let refused = d
        .admin(Method::POST, "/api/v1/provider-templates", Some(bad))
        .await;
    refused.assert_problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("endpoint.no_such_option"),
    );
    for field in [
        "endpoint.aors",
        "registration.retry_interval",
        "aor.max_contacts",
        "default_codecs[1]",
    ] {
        refused.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some(field));
    }
    // An option Asterisk knows, with a value it would refuse (and drop the trunk for).
    for (section, option, value) in [
        ("endpoint", "dtmf_mode", "bogus_mode"),
        ("endpoint", "direct_media", "maybe"),
        ("aor", "qualify_frequency", "90000"),
        ("registration", "retry_interval", "010"),
    ] {
        let mut body = lab_template();
        body[section][option] = json!(value);
        d.admin(Method::POST, "/api/v1/provider-templates", Some(body))
            .await
            .assert_problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&format!("{section}.{option}")),
            );
    }
    let mut wrong_section = lab_template();
    wrong_section["identify"] = json!({"qualify_frequency": 60});
    d.admin(
        Method::POST,
        "/api/v1/provider-templates",
        Some(wrong_section),
    )
    .await
    .assert_problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("identify.qualify_frequency"),
    );
    let mut ip_with_password = lab_template();
    ip_with_password["auth_type"] = json!("ip");
    ip_with_password["register"] = json!(false);
    ip_with_password["registration"] = json!({});
    d.admin(
        Method::POST,
        "/api/v1/provider-templates",
        Some(ip_with_password),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some("required_fields"));
    for (field, value) in [
        ("id", json!("lab;x")),
        ("display_name", json!("Lab\n[evil]")),
        ("description", json!("a\nb")),
        ("colour", json!("red")),
    ] {
        let mut body = lab_template();
        body[field] = value;
        d.admin(Method::POST, "/api/v1/provider-templates", Some(body))
            .await
            .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some(field));
    }
    let operator = d.token("operator").await;
    d.call(
        Method::POST,
        "/api/v1/provider-templates",
        Some(&operator),
        Some(lab_template()),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, None);

    let created = d
        .admin(
            Method::POST,
            "/api/v1/provider-templates",
            Some(lab_template()),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["builtin"], false);
    assert_eq!(created.body["registration"]["retry_interval"], "30");
    d.admin(
        Method::POST,
        "/api/v1/provider-templates",
        Some(lab_template()),
    )
    .await
    .assert_problem(StatusCode::CONFLICT, None);

    // A trunk can use it, and then it cannot be deleted.
    let trunk = json!({"name": "lab1", "provider": "lab", "username": "u", "password": "p4ss"});
    let made = d.admin(Method::POST, "/api/v1/trunks", Some(trunk)).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let in_use = d
        .admin(Method::DELETE, "/api/v1/provider-templates/lab", None)
        .await;
    in_use.assert_problem(StatusCode::CONFLICT, None);
    assert!(
        in_use.body["detail"]
            .as_str()
            .unwrap()
            .contains("trunk lab1"),
        "{}",
        in_use.body
    );
    d.admin(Method::DELETE, "/api/v1/trunks/lab1", None).await;
    assert_eq!(
        d.admin(Method::DELETE, "/api/v1/provider-templates/lab", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    d.admin(Method::GET, "/api/v1/provider-templates/lab", None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, None);

    let builtin = d
        .admin(Method::DELETE, "/api/v1/provider-templates/telnyx", None)
        .await;
    builtin.assert_problem(StatusCode::CONFLICT, None);
    assert!(
        builtin.body["detail"]
            .as_str()
            .unwrap()
            .contains("built in")
    );
    d.stop().await;
}

async fn start_up_sync_keeps_admin_templates(backend: Backend) {
    let extra = tempfile::tempdir().unwrap();
    std::fs::write(
        extra.path().join("site.toml"),
        "id = \"site\"\ndisplay_name = \"Site carrier\"\nauth_type = \"ip\"\nrequired_fields = [\"server\"]\ndefault_codecs = [\"alaw\"]\n",
    )
    .unwrap();
    let telnyx = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/provider_templates/telnyx.toml"
    ))
    .unwrap();
    std::fs::write(
        extra.path().join("telnyx.toml"),
        telnyx.replace(
            "display_name = \"Telnyx\"",
            "display_name = \"Telnyx (site)\"",
        ),
    )
    .unwrap();
    let dir = extra.path().to_owned();
    let d = TestDaemon::start_with(backend, crate::support::daemon::Asterisk::Double, |s| {
        s.provider_templates_dir = Some(dir)
    })
    .await;

    let site = d
        .admin(Method::GET, "/api/v1/provider-templates/site", None)
        .await;
    assert_eq!(site.status, StatusCode::OK, "{}", site.body);
    assert_eq!(site.body["builtin"], true);
    let telnyx = d
        .admin(Method::GET, "/api/v1/provider-templates/telnyx", None)
        .await;
    assert_eq!(
        telnyx.body["display_name"], "Telnyx (site)",
        "a directory file replaces the shipped one"
    );

    assert_eq!(
        d.admin(
            Method::POST,
            "/api/v1/provider-templates",
            Some(lab_template())
        )
        .await
        .status,
        StatusCode::CREATED
    );
    let services = &d.daemon.as_ref().unwrap().services;
    services
        .templates()
        .sync_builtin_templates()
        .await
        .expect("a second sync");
    let lab = d
        .admin(Method::GET, "/api/v1/provider-templates/lab", None)
        .await;
    assert_eq!(
        lab.status,
        StatusCode::OK,
        "an administrator's template survives the sync"
    );
    assert_eq!(lab.body["builtin"], false);
    assert_eq!(
        ids(&d
            .admin(Method::GET, "/api/v1/provider-templates", None)
            .await
            .body)
        .len(),
        12
    );
    d.stop().await;
}

async fn openapi_lists_the_new_routes(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    let doc = d.admin(Method::GET, "/api/v1/openapi.json", None).await;
    assert_eq!(doc.status, StatusCode::OK);
    for (path, methods) in [
        ("/api/v1/trunks", &["get", "post"][..]),
        ("/api/v1/trunks/{name}", &["get", "patch", "delete"][..]),
        ("/api/v1/outbound-routes", &["get", "post"][..]),
        (
            "/api/v1/outbound-routes/{name}",
            &["get", "patch", "delete"][..],
        ),
        ("/api/v1/inbound-routes", &["get", "post"][..]),
        (
            "/api/v1/inbound-routes/{id}",
            &["get", "patch", "delete"][..],
        ),
        ("/api/v1/provider-templates", &["get", "post"][..]),
        ("/api/v1/provider-templates/{id}", &["get", "delete"][..]),
        ("/api/v1/extension-templates", &["get"][..]),
        ("/api/v1/extension-templates/{id}", &["get"][..]),
    ] {
        for method in methods {
            assert!(
                doc.body["paths"][path][method].is_object(),
                "{method} {path} missing from the OpenAPI document"
            );
        }
    }
    for schema in [
        "NewTrunk",
        "TrunkPatch",
        "TrunkView",
        "NewOutboundRoute",
        "NewInboundRoute",
        "ProviderTemplate",
    ] {
        assert!(
            doc.body["components"]["schemas"][schema].is_object(),
            "{schema} missing"
        );
    }
    d.stop().await;
}
