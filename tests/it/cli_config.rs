//! rayan-ctl end to end for trunks, routes and templates, against a running daemon.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::support::daemon::TestDaemon;
use crate::support::db::Backend;
use serde_json::Value;

fn ctl(d: &TestDaemon, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rayan-ctl"));
    cmd.args(args)
        .env_remove("RAYAN_STATE_DIR")
        .env("RAYAN_URL", &d.url)
        .env("RAYAN_TOKEN", &d.admin_token)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run rayan-ctl");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("rayan-ctl output")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(out)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trunks_routes_and_templates_from_the_command_line() {
    let d = TestDaemon::start(Backend::Sqlite).await;
    let password = "Stdin-Tr*nk-S3cret";

    let templates = ctl(&d, &["template", "list"], None);
    assert!(templates.status.success(), "{}", stderr(&templates));
    let table = stdout(&templates);
    for expected in [
        "KIND",
        "extension",
        "webrtc",
        "provider",
        "telnyx",
        "Telnyx",
        "credential",
    ] {
        assert!(table.contains(expected), "{expected} missing from\n{table}");
    }
    let listed = json(&ctl(
        &d,
        &["template", "list", "--kind", "provider", "--json"],
        None,
    ));
    assert_eq!(listed["provider_templates"].as_array().unwrap().len(), 10);
    assert!(listed.get("extension_templates").is_none());

    let created = ctl(
        &d,
        &[
            "trunk",
            "create",
            "telnyx_main",
            "--provider",
            "telnyx",
            "--username",
            "rayanlab",
            "--password-stdin",
            "--did",
            "+15551234567",
            "--codecs",
            "ulaw,alaw",
        ],
        Some(&format!("{password}\n")),
    );
    assert!(created.status.success(), "{}", stderr(&created));
    assert!(stdout(&created).contains("telnyx_main"));
    assert!(!stdout(&created).contains(password));

    let missing = ctl(
        &d,
        &["trunk", "create", "gen", "--provider", "custom_credential"],
        None,
    );
    assert_eq!(missing.status.code(), Some(1));
    let err = stderr(&missing);
    assert!(
        err.contains("username:") && err.contains("password:") && err.contains("server:"),
        "{err}"
    );

    let list = ctl(&d, &["trunk", "list"], None);
    assert!(list.status.success(), "{}", stderr(&list));
    let table = stdout(&list);
    assert!(
        table.contains("NAME") && table.contains("telnyx_main") && table.contains("+15551234567"),
        "{table}"
    );

    let updated = ctl(
        &d,
        &[
            "trunk",
            "update",
            "telnyx_main",
            "--server",
            "sip-eu.telnyx.com",
        ],
        None,
    );
    assert!(updated.status.success(), "{}", stderr(&updated));
    let shown = json(&ctl(&d, &["trunk", "show", "telnyx_main", "--json"], None));
    assert_eq!(shown["server"], "sip-eu.telnyx.com");
    assert_eq!(shown["has_password"], true);
    assert!(!shown.to_string().contains(password));

    let route = ctl(
        &d,
        &[
            "route",
            "outbound",
            "create",
            "us_local",
            "--pattern",
            "_1NXXNXXXXXX",
            "--trunk",
            "telnyx_main",
        ],
        None,
    );
    assert!(route.status.success(), "{}", stderr(&route));
    let routes = json(&ctl(&d, &["route", "outbound", "list", "--json"], None));
    assert_eq!(routes["items"][0]["trunk"], "telnyx_main");

    let refused = ctl(&d, &["trunk", "delete", "telnyx_main"], None);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("outbound route us_local"),
        "{}",
        stderr(&refused)
    );

    assert!(
        ctl(&d, &["route", "outbound", "delete", "us_local"], None)
            .status
            .success()
    );
    let deleted = ctl(&d, &["trunk", "delete", "telnyx_main"], None);
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    assert!(stdout(&deleted).contains("trunk telnyx_main deleted"));
    let empty = json(&ctl(&d, &["trunk", "list", "--json"], None));
    assert_eq!(empty["total"], 0);
    d.stop().await;
}

/// A database that refuses the daemon is named once: each cause of the error
/// chain appears a single time on one line.
#[test]
fn rayand_says_each_cause_of_an_error_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_rayand"))
        .arg("migrate")
        .env("RAYAN_STATE_DIR", dir.path())
        .env("RAYAN_ASTERISK_CONFIG_DIR", dir.path())
        .env(
            "RAYAN_DATABASE_URL",
            "postgres://no_such_role_for_rayan@127.0.0.1:5432/postgres",
        )
        .env("RAYAN_LOG_FORMAT", "text")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run rayand");
    assert!(!out.status.success());
    let err = stderr(&out);
    let line = err
        .lines()
        .find(|l| l.starts_with("rayand: "))
        .unwrap_or_else(|| panic!("no error line: {err}"));
    assert!(line.contains("no_such_role_for_rayan"), "{line}");
    assert_eq!(line.matches("does not exist").count(), 1, "{line}");
}
