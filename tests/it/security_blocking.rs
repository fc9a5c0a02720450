//! Blocking a source that keeps failing to authenticate: counted from the
//! security events Asterisk sends (j2), blocked with a `type=acl` section of
//! pjsip.conf that res_pjsip_acl enforces, kept across a restart of rayand,
//! and lifted on request.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::support::asterisk::RegisterAttempt;
use crate::support::daemon::{Asterisk, TestDaemon};
use crate::support::db::Backend;

fn source(ip: &str) -> SocketAddr {
    format!("{ip}:5081").parse().expect("a socket address")
}

async fn blocked(d: &TestDaemon) -> Vec<String> {
    let listed = d.admin(Method::GET, "/api/v1/security/blocked", None).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    listed
        .body
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|b| b["address"].as_str().map(str::to_owned))
        .collect()
}

async fn wait_for_block(d: &TestDaemon, address: &str) {
    for _ in 0..100 {
        if blocked(d).await.iter().any(|a| a == address) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{address} was not blocked");
}

#[tokio::test]
async fn a_password_guesser_is_blocked_and_unblocked() {
    let mut d = TestDaemon::start_with(Backend::Postgres, Asterisk::Double, |s| {
        s.security.blocking = true;
        s.security.max_failures = 3;
        s.security.max_blocked = 1;
    })
    .await;
    d.create_extension("2001").await;
    let double = d.asterisk.as_ref().expect("a double");
    // Two failures: counted, not blocked.
    for _ in 0..2 {
        assert!(matches!(
            double.register_attempt(source("127.0.0.5"), "2001", "guess"),
            RegisterAttempt::Refused { .. }
        ));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(blocked(&d).await.is_empty());
    // The guesser's own address and the host's are never blocked.
    for _ in 0..5 {
        double.register_attempt(source("127.0.0.1"), "2001", "guess");
    }
    // The third failure from 127.0.0.5 blocks it.
    double.register_attempt(source("127.0.0.5"), "2001", "guess");
    wait_for_block(&d, "127.0.0.5").await;
    d.wait_until_settled().await;
    assert_eq!(
        blocked(&d).await,
        ["127.0.0.5"],
        "127.0.0.1 is never blocked"
    );
    let listed = d.admin(Method::GET, "/api/v1/security/blocked", None).await;
    assert_eq!(listed.body[0]["blocked_by"], "security");
    assert_eq!(listed.body[0]["failures"], 3);
    assert_eq!(listed.body[0]["live"], true, "{}", listed.body);
    assert_eq!(listed.body[0]["attempts_since_block"], 0);
    let pjsip = std::fs::read_to_string(d.config_dir().join("pjsip.conf")).expect("pjsip.conf");
    assert!(pjsip.contains("[rayan-blocklist]\ntype=acl\ndeny=127.0.0.5/32\n"));
    let double = d.asterisk.as_ref().expect("a double");
    assert_eq!(
        double.acl_sections(),
        ["rayan-blocklist"],
        "{:?}",
        double.log()
    );
    // Live: even the right password from there is refused; others register.
    assert!(matches!(
        double.register_attempt(source("127.0.0.5"), "2001", "S3cret-pass"),
        RegisterAttempt::Refused { .. }
    ));
    assert_eq!(
        double.register_attempt(source("127.0.0.6"), "2001", "S3cret-pass"),
        RegisterAttempt::Registered
    );
    // The busiest sources, for admins only; counted in /metrics.
    let sources = d.admin(Method::GET, "/api/v1/security/sources", None).await;
    assert_eq!(sources.body[0]["address"], "127.0.0.1");
    assert_eq!(sources.body[0]["failures"], 5);
    let operator = d.token("operator").await;
    let refused = d
        .call(
            Method::GET,
            "/api/v1/security/blocked",
            Some(&operator),
            None,
        )
        .await;
    assert_eq!(refused.status, 403);

    // At security.max_blocked automatic blocks, another guesser is counted, not blocked.
    let double = d.asterisk.as_ref().expect("a double");
    for _ in 0..4 {
        double.register_attempt(source("127.0.0.9"), "2001", "guess");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(blocked(&d).await, ["127.0.0.5"]);
    let sources = d.admin(Method::GET, "/api/v1/security/sources", None).await;
    assert!(
        sources
            .body
            .as_array()
            .expect("a list")
            .iter()
            .any(|s| s["address"] == "127.0.0.9" && s["failures"] == 4),
        "{}",
        sources.body
    );

    // Right after a restart of rayand, the block list is known.
    d.restart().await;
    assert_eq!(blocked(&d).await, ["127.0.0.5"]);

    // Rayan's own address cannot be blocked by hand either.
    let own = d
        .admin(
            Method::POST,
            "/api/v1/security/blocked",
            Some(json!({"address": "127.0.0.1"})),
        )
        .await;
    own.assert_problem(reqwest::StatusCode::UNPROCESSABLE_ENTITY, Some("address"));
    let network = d
        .admin(
            Method::POST,
            "/api/v1/security/blocked",
            Some(json!({"address": "203.0.113.0/24"})),
        )
        .await;
    network.assert_problem(reqwest::StatusCode::UNPROCESSABLE_ENTITY, Some("address"));

    let lifted = d
        .admin(Method::DELETE, "/api/v1/security/blocked/127.0.0.5", None)
        .await;
    assert_eq!(lifted.status, 200, "{}", lifted.body);
    assert_eq!(lifted.body["apply"]["status"], "verified");
    assert!(blocked(&d).await.is_empty());
    let double = d.asterisk.as_ref().expect("a double");
    assert!(double.acl_sections().is_empty());
    assert_eq!(
        double.register_attempt(source("127.0.0.5"), "2001", "S3cret-pass"),
        RegisterAttempt::Registered
    );
    let again = d
        .admin(Method::DELETE, "/api/v1/security/blocked/127.0.0.5", None)
        .await;
    assert_eq!(again.status, 404);
}

#[tokio::test]
async fn an_admin_blocks_by_hand_and_blocking_is_off_by_default() {
    let d = TestDaemon::start(Backend::Sqlite).await;
    d.create_extension("2002").await;
    let double = d.asterisk.as_ref().expect("a double");
    for _ in 0..20 {
        double.register_attempt(source("127.0.0.7"), "9999", "guess");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(blocked(&d).await.is_empty(), "blocking is off by default");
    let made = d
        .admin(
            Method::POST,
            "/api/v1/security/blocked",
            Some(json!({"address": "127.0.0.7", "reason": "scanner", "duration_secs": 600})),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.body);
    assert_eq!(made.body["enforced_by"], "asterisk");
    assert!(made.body["expires_at"].is_string());
    d.wait_until_settled().await;
    let double = d.asterisk.as_ref().expect("a double");
    assert!(matches!(
        double.register_attempt(source("127.0.0.7"), "2002", "S3cret-pass"),
        RegisterAttempt::Refused { .. }
    ));
    assert_eq!(
        double.register_attempt(source("127.0.0.8"), "2002", "S3cret-pass"),
        RegisterAttempt::Registered
    );
    let metrics = d.admin(Method::GET, "/metrics", None).await;
    let text = metrics.body.as_str().unwrap_or_default().to_owned();
    assert!(
        // Two requests per attempt for an unknown account, each an InvalidAccountID (j2).
        text.contains("rayan_security_source_failures{address=\"127.0.0.7\"} 40"),
        "{text}"
    );
}

fn ctl(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rayan-ctl"));
    cmd.current_dir(dir).args(args);
    for var in ["RAYAN_URL", "RAYAN_TOKEN", "RAYAN_STATE_DIR"] {
        cmd.env_remove(var);
    }
    cmd.output().expect("run rayan-ctl")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rayan_ctl_blocks_lists_and_unblocks() {
    let d = TestDaemon::start(Backend::Postgres).await;
    let home = d.state_dir.parent().expect("a parent").to_owned();
    let text = |out: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let made = ctl(
        &home,
        &["security", "block", "192.0.2.44", "--reason", "scanner"],
    );
    assert!(made.status.success(), "{}", text(&made));
    let listed = ctl(&home, &["security", "blocked"]);
    let table = text(&listed);
    assert!(
        table.contains("192.0.2.44") && table.contains("scanner") && table.contains("asterisk"),
        "{table}"
    );
    let refused = ctl(&home, &["security", "block", "127.0.0.1"]);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("never blocked"),
        "{}",
        text(&refused)
    );
    let lifted = ctl(&home, &["security", "unblock", "192.0.2.44"]);
    assert!(lifted.status.success(), "{}", text(&lifted));
    let again = ctl(&home, &["security", "blocked", "--json"]);
    assert_eq!(String::from_utf8_lossy(&again.stdout).trim(), "[]");
    let sources = ctl(&home, &["security", "sources"]);
    assert!(sources.status.success(), "{}", text(&sources));
}

/// An AMI user without the `security` read class, or without a class
/// `ExtensionStateList` needs: the status names each missing class.
#[tokio::test]
async fn missing_classes_are_named() {
    let d = TestDaemon::start_with(
        Backend::Sqlite,
        Asterisk::Custom(Box::new(|config| {
            config.read_classes = Some(vec!["system".into(), "call".into()]);
            config.write_classes = Some(vec!["system".into(), "originate".into()]);
        })),
        |_| {},
    )
    .await;
    let mut unavailable = Vec::new();
    for _ in 0..100 {
        let status = d.admin(Method::GET, "/api/v1/asterisk/status", None).await;
        unavailable = status.body["unavailable"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if unavailable.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = serde_json::to_string(&unavailable).expect("json");
    assert!(
        text.contains("presence is unavailable") && text.contains("`reporting`"),
        "{text}"
    );
    assert!(
        text.contains("security events are unavailable") && text.contains("`security` read class"),
        "{text}"
    );
}

/// With every class, nothing is reported unavailable.
#[tokio::test]
async fn nothing_is_unavailable_with_every_class() {
    let d = TestDaemon::start(Backend::Sqlite).await;
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    let status = d.admin(Method::GET, "/api/v1/asterisk/status", None).await;
    assert_eq!(status.body["unavailable"], json!([]), "{}", status.body);
}

on_both_backends!(concurrent_blocks_all_land_once);

/// Admins blocking at once, some the same address: every block lands once, in
/// the database and in the ACL Asterisk loaded.
async fn concurrent_blocks_all_land_once(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    let addresses: Vec<String> = (1..=5).map(|n| format!("127.0.3.{n}")).collect();
    let requests = addresses.iter().chain(addresses.iter()).map(|address| {
        d.admin(
            Method::POST,
            "/api/v1/security/blocked",
            Some(json!({"address": address})),
        )
    });
    for answer in futures_util::future::join_all(requests).await {
        assert!(answer.status.is_success(), "{}", answer.body);
    }
    d.wait_until_settled().await;
    let mut listed = blocked(&d).await;
    listed.sort();
    assert_eq!(listed, addresses);
    let pjsip = std::fs::read_to_string(d.config_dir().join("pjsip.conf")).expect("pjsip.conf");
    assert_eq!(pjsip.matches("deny=127.0.3.").count(), 5, "{pjsip}");
    assert_eq!(
        d.asterisk.as_ref().expect("a double").acl_sections(),
        ["rayan-blocklist"]
    );
}
