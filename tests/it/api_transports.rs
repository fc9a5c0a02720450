//! Transports through the API against the Asterisk double, which behaves as the
//! recordings k1 (what a reload applies) and k2 (`core restart`) show.

use crate::support::daemon::TestDaemon;
use crate::support::db::Backend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_backends!(
    nat_and_tls_transports_are_applied_and_restarted_truthfully,
    bad_values_are_refused_before_anything_is_written,
);

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .map(|t| t["name"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A certificate and key rayand can read (their content is Asterisk's business).
fn tls_files(dir: &std::path::Path) -> (String, String) {
    let cert = dir.join("asterisk.crt");
    let key = dir.join("asterisk.key");
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\n").unwrap();
    std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\n").unwrap();
    (cert.display().to_string(), key.display().to_string())
}

/// The "done when": behind NAT, a UDP and a TLS transport with external
/// addresses and local_net; a change a reload cannot apply is reported as
/// waiting for a restart, `asterisk restart` applies it and rayan verifies it,
/// and phones' endpoints load on both transports.
async fn nat_and_tls_transports_are_applied_and_restarted_truthfully(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    let asterisk = d.asterisk.as_ref().unwrap();
    let (cert, key) = tls_files(&d.state_dir);

    let udp = d
        .admin(
            Method::POST,
            "/api/v1/transports",
            Some(json!({"name": "transport-nat", "protocol": "udp", "bind": "127.0.0.1", "port": 5070,
                "external_media_address": "203.0.113.7", "external_signaling_address": "203.0.113.7",
                "local_net": ["192.168.0.0/16", "10.0.0.0/8"]})),
        )
        .await;
    assert_eq!(udp.status, StatusCode::CREATED, "{}", udp.body);
    // A new transport is created by the reload (k1 V4): nothing waits.
    assert_eq!(udp.body["apply"]["status"], "verified", "{}", udp.body);
    let block = d.pjsip_block("Transport transport-nat");
    assert!(block.contains("bind=127.0.0.1:5070\n"), "{block}");
    assert!(
        block.contains("local_net=192.168.0.0/16,10.0.0.0/8\n"),
        "{block}"
    );

    let tls = d
        .admin(
            Method::POST,
            "/api/v1/transports",
            Some(
                json!({"name": "transport-tls", "protocol": "tls", "bind": "127.0.0.1",
                "external_media_address": "203.0.113.7", "local_net": ["192.168.0.0/16"],
                "tls": {"cert_file": cert, "priv_key_file": key, "method": "tlsv1_2"}}),
            ),
        )
        .await;
    assert_eq!(tls.status, StatusCode::CREATED, "{}", tls.body);
    assert_eq!(tls.body["port"], 5061, "the tls default port");
    assert_eq!(tls.body["apply"]["status"], "verified", "{}", tls.body);

    // Phones on each transport: their endpoints load with it, and the NAT
    // settings are checked through their TransportDetail.
    for (number, transport) in [("1001", "transport-nat"), ("1002", "transport-tls")] {
        let ext = d
            .admin(
                Method::POST,
                "/api/v1/extensions",
                Some(json!({"extension": number, "password": "S3cret-pass-1", "transport": transport})),
            )
            .await;
        assert_eq!(ext.status, StatusCode::CREATED, "{}", ext.body);
        assert_eq!(ext.body["apply"]["status"], "verified", "{}", ext.body);
        assert_eq!(ext.body["transport"], transport);
        assert!(
            d.pjsip_block(&format!("Extension {number}"))
                .contains(&format!("transport={transport}\n"))
        );
    }

    // A NAT setting is applied by the reload: live at once.
    let nat = d
        .admin(
            Method::PATCH,
            "/api/v1/transports/transport-nat",
            Some(json!({"external_media_address": "198.51.100.9"})),
        )
        .await;
    assert_eq!(nat.status, StatusCode::OK, "{}", nat.body);
    assert_eq!(nat.body["apply"]["status"], "verified", "{}", nat.body);

    // A new port is not: it waits for a restart, and rayan says so.
    let moved = d
        .admin(
            Method::PATCH,
            "/api/v1/transports/transport-nat",
            Some(json!({"port": 5072})),
        )
        .await;
    assert_eq!(moved.status, StatusCode::ACCEPTED, "{}", moved.body);
    assert_eq!(moved.body["apply"]["status"], "pending", "{}", moved.body);
    let why = moved.body["apply"]["detail"].as_str().unwrap_or_default();
    assert!(
        why.contains("bind (rendered 127.0.0.1:5072, running 127.0.0.1:5070)")
            && why.contains("restart"),
        "{why}"
    );
    let status = d.admin(Method::GET, "/api/v1/asterisk/status", None).await;
    assert_eq!(status.body["restart_required"], true, "{}", status.body);
    assert!(
        status.body["restart_waiting"][0]
            .as_str()
            .unwrap_or_default()
            .contains("transport-nat"),
        "{}",
        status.body
    );
    assert!(
        asterisk
            .listeners()
            .iter()
            .any(|(name, _, bind)| name == "transport-nat" && bind == "127.0.0.1:5070"),
        "still on the old port: {:?}",
        asterisk.listeners()
    );

    let restarted = d
        .admin(
            Method::POST,
            "/api/v1/asterisk/restart?now=true&wait_secs=20",
            None,
        )
        .await;
    assert_eq!(restarted.status, StatusCode::OK, "{}", restarted.body);
    assert_eq!(restarted.body["status"], "verified", "{}", restarted.body);
    assert_eq!(restarted.body["command"], "core restart now");
    assert_eq!(restarted.body["restart_required"], false);
    assert_eq!(
        names(&restarted.body["transports"]),
        ["transport-nat", "transport-tls"],
        "{}",
        restarted.body
    );
    assert_eq!(asterisk.restarts(), 1);
    assert!(
        asterisk
            .listeners()
            .iter()
            .any(|(name, _, bind)| name == "transport-nat" && bind == "127.0.0.1:5072"),
        "{:?}",
        asterisk.listeners()
    );
    let status = d.admin(Method::GET, "/api/v1/asterisk/status", None).await;
    assert_eq!(status.body["restart_required"], false, "{}", status.body);
    // The phones' endpoints came back with the restart.
    let shown = d
        .admin(Method::GET, "/api/v1/extensions/1001/verify", None)
        .await;
    assert_eq!(shown.body["status"], "verified", "{}", shown.body);

    // A transport in use cannot go; once unused, removing it leaves its socket
    // open until the next restart, and rayan says that too.
    let refused = d
        .admin(Method::DELETE, "/api/v1/transports/transport-tls", None)
        .await;
    refused.assert_problem(StatusCode::CONFLICT, None);
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("1002"),
        "{}",
        refused.body
    );
    let gone = d
        .admin(Method::DELETE, "/api/v1/extensions/1002", None)
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{}", gone.body);
    let removed = d
        .admin(Method::DELETE, "/api/v1/transports/transport-tls", None)
        .await;
    assert_eq!(removed.status, StatusCode::ACCEPTED, "{}", removed.body);
    assert!(
        removed.body["apply"]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("keeps listening until Asterisk restarts"),
        "{}",
        removed.body
    );
    assert!(
        asterisk
            .listeners()
            .iter()
            .any(|(name, _, _)| name == "transport-tls")
    );
    let restarted = d
        .admin(
            Method::POST,
            "/api/v1/asterisk/restart?now=true&wait_secs=20",
            None,
        )
        .await;
    assert_eq!(restarted.body["status"], "verified", "{}", restarted.body);
    assert!(
        !asterisk
            .listeners()
            .iter()
            .any(|(name, _, _)| name == "transport-tls")
    );
    let status = d.admin(Method::GET, "/api/v1/asterisk/status", None).await;
    assert_eq!(status.body["restart_required"], false, "{}", status.body);
}

/// Each bad value gets a 422 naming its field (409 for a socket or name in use),
/// and pjsip.conf is not touched.
async fn bad_values_are_refused_before_anything_is_written(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    let pjsip = d.config_dir().join("pjsip.conf");
    let before = std::fs::read(&pjsip).unwrap();
    let post = |body: Value| d.admin(Method::POST, "/api/v1/transports", Some(body));
    let base = || json!({"name": "t1", "protocol": "udp", "bind": "127.0.0.2", "port": 5070});
    let with = |key: &str, value: Value| {
        let mut body = base();
        body[key] = value;
        body
    };
    for (body, field) in [
        (with("local_net", json!(["192.168.1.1/24"])), "local_net[0]"),
        (
            with("local_net", json!(["10.0.0.0/8\nbind=0.0.0.0"])),
            "local_net[0]",
        ),
        (
            with("external_media_address", json!("not a host!")),
            "external_media_address",
        ),
        (
            with("external_media_address", json!("203.0.113.7;x")),
            "external_media_address",
        ),
        (
            with("external_signaling_address", json!("[evil]")),
            "external_signaling_address",
        ),
        (with("port", json!(0)), "port"),
        (with("port", json!(70000)), "port"),
        (with("bind", json!("999.1.1.1")), "bind"),
        (with("tos", json!("loud")), "tos"),
        (with("cos", json!(9)), "cos"),
        (with("name", json!("bad name")), "name"),
        (with("protocol", json!("sctp")), "protocol"),
        (with("tls", json!({"cert_file": "/etc/x.pem"})), "tls"),
        (
            json!({"name": "t1", "protocol": "tls", "tls": {"cert_file": "/nonexistent/asterisk.crt", "priv_key_file": "/nonexistent/asterisk.key"}}),
            "tls.cert_file",
        ),
        (
            json!({"name": "t1", "protocol": "wss", "port": 8089}),
            "port",
        ),
    ] {
        let answer = post(body.clone()).await;
        answer.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some(field));
        if field == "tls.cert_file" {
            assert!(
                answer
                    .body
                    .to_string()
                    .contains("/nonexistent/asterisk.crt"),
                "the path is named: {}",
                answer.body
            );
        }
    }
    // The administrator's own transport-udp holds 127.0.0.1:5060 and its name.
    post(json!({"name": "transport-udp", "protocol": "udp", "bind": "127.0.0.9", "port": 5090}))
        .await
        .assert_problem(StatusCode::CONFLICT, None);
    post(json!({"name": "t1", "protocol": "udp", "bind": "0.0.0.0", "port": 5060}))
        .await
        .assert_problem(StatusCode::CONFLICT, None);
    assert_eq!(std::fs::read(&pjsip).unwrap(), before, "nothing written");

    let ok = post(base()).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    post(json!({"name": "t2", "protocol": "udp", "bind": "127.0.0.2", "port": 5070}))
        .await
        .assert_problem(StatusCode::CONFLICT, None);
    // tcp on the same port is another socket.
    let tcp =
        post(json!({"name": "t2", "protocol": "tcp", "bind": "127.0.0.2", "port": 5070})).await;
    assert_eq!(tcp.status, StatusCode::CREATED, "{}", tcp.body);

    // Extensions and trunks may only name a transport that exists and fits.
    let ext = d
        .admin(
            Method::POST,
            "/api/v1/extensions",
            Some(json!({"extension": "1001", "transport": "nope"})),
        )
        .await;
    ext.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some("transport"));
    let webrtc = d
        .admin(
            Method::POST,
            "/api/v1/extensions",
            Some(json!({"extension": "1001", "template": "webrtc", "transport": "t1"})),
        )
        .await;
    webrtc.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some("transport"));
    let viewer = d.token("viewer").await;
    let denied = d
        .call(
            Method::POST,
            "/api/v1/transports",
            Some(&viewer),
            Some(json!({"name": "t3", "protocol": "udp", "port": 5099})),
        )
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
}

/// WebRTC phones need a wss transport and TLS on Asterisk's HTTP server: a
/// missing prerequisite is a failed outcome with the reason, never verified.
#[tokio::test]
async fn webrtc_prerequisites_are_reported_not_verified() {
    let d = TestDaemon::start(Backend::Sqlite).await;
    let wss = d
        .admin(
            Method::POST,
            "/api/v1/transports",
            Some(json!({"name": "transport-wss", "protocol": "wss"})),
        )
        .await;
    assert_eq!(wss.status, StatusCode::CREATED, "{}", wss.body);
    let ext = d
        .admin(
            Method::POST,
            "/api/v1/extensions",
            Some(json!({"extension": "2001", "template": "webrtc", "transport": "transport-wss", "password": "S3cret-pass-1"})),
        )
        .await;
    assert_eq!(ext.body["apply"]["status"], "failed", "{}", ext.body);
    assert!(
        ext.body["apply"]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("http.conf"),
        "{}",
        ext.body
    );
    std::fs::write(
        d.config_dir().join("http.conf"),
        "[general]\nenabled=yes\ntlsenable=yes\ntlsbindaddr=0.0.0.0:8089\n",
    )
    .unwrap();
    let fixed = d
        .admin(
            Method::PATCH,
            "/api/v1/extensions/2001",
            Some(json!({"name": "Browser"})),
        )
        .await;
    assert_eq!(fixed.body["apply"]["status"], "verified", "{}", fixed.body);
}

/// Without the `command` class rayan cannot list transports or restart: it says
/// which class is missing instead of pretending.
#[tokio::test]
async fn a_missing_command_class_is_named() {
    let d = TestDaemon::start(Backend::Sqlite).await;
    d.asterisk.as_ref().unwrap().set_command_allowed(false);
    let t = d
        .admin(
            Method::POST,
            "/api/v1/transports",
            Some(json!({"name": "t1", "protocol": "tcp", "port": 5080})),
        )
        .await;
    assert_eq!(t.body["apply"]["status"], "failed", "{}", t.body);
    assert!(
        t.body["apply"]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("`command`"),
        "{}",
        t.body
    );
    let restart = d
        .admin(Method::POST, "/api/v1/asterisk/restart?now=true", None)
        .await;
    restart.assert_problem(StatusCode::CONFLICT, None);
    assert!(
        restart.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("`command`"),
        "{}",
        restart.body
    );
    assert_eq!(d.asterisk.as_ref().unwrap().restarts(), 0);
}

/// Asterisk restarted behind rayan's back (`systemctl restart asterisk`): the
/// new process's FullyBooted and CoreStatus tell it, and what waited for the
/// restart is checked and cleared without anyone asking.
#[tokio::test]
async fn a_restart_by_someone_else_is_noticed() {
    let d = TestDaemon::start(Backend::Sqlite).await;
    let created = d
        .admin(
            Method::POST,
            "/api/v1/transports",
            Some(json!({"name": "t1", "protocol": "tcp", "port": 5080})),
        )
        .await;
    assert_eq!(
        created.body["apply"]["status"], "verified",
        "{}",
        created.body
    );
    let moved = d
        .admin(
            Method::PATCH,
            "/api/v1/transports/t1",
            Some(json!({"port": 5082})),
        )
        .await;
    assert_eq!(moved.body["apply"]["status"], "pending", "{}", moved.body);
    let status = d.admin(Method::GET, "/api/v1/asterisk/status", None).await;
    assert_eq!(status.body["restart_required"], true);

    // CoreStatus gives the start to the second: let the new process start in
    // another second than the old one, as any real restart does.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    d.asterisk.as_ref().unwrap().core_restart();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let status = d.admin(Method::GET, "/api/v1/asterisk/status", None).await;
        if status.body["restart_required"] == false && status.body["connected"] == true {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never cleared: {}",
            status.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let applies = d.admin(Method::GET, "/api/v1/applies", None).await;
    assert!(
        applies.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["trigger"] == "asterisk restarted" && a["status"] == "verified"),
        "{}",
        applies.body
    );
}
