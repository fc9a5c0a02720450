//! rayan-ctl end to end, against a running daemon.

use std::process::{Command, Output};

use crate::support::daemon::{Asterisk, TestDaemon};
use crate::support::db::Backend;
use serde_json::Value;

fn ctl(dir: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rayan-ctl"));
    cmd.current_dir(dir).args(args);
    for var in ["RAYAN_URL", "RAYAN_TOKEN", "RAYAN_STATE_DIR"] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run rayan-ctl")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// On the daemon's host, with no flags: rayan-ctl finds the URL and the
/// bootstrap admin token in the state dir (here `./state`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_issue_walkthrough_works_with_no_flags() {
    let d = TestDaemon::start(Backend::Postgres).await;
    let home = d.state_dir.parent().unwrap().to_owned();
    let run = |args: &[&str]| ctl(&home, &[], args);

    let created = run(&[
        "extension",
        "create",
        "1001",
        "--name",
        "Alice",
        "--password",
        "S3cret-pass",
    ]);
    assert!(created.status.success(), "{}", stderr(&created));
    assert!(stdout(&created).contains("Alice"));
    assert!(!stdout(&created).contains("S3cret-pass"));

    let listed = run(&["extension", "list"]);
    assert!(listed.status.success());
    let table = stdout(&listed);
    assert!(
        table.contains("EXTENSION") && table.contains("1001") && table.contains("Alice"),
        "{table}"
    );

    let shown = run(&["extension", "show", "1001", "--json"]);
    let json: Value = serde_json::from_slice(&shown.stdout).expect("--json prints JSON");
    assert_eq!(json["extension"], "1001");
    assert_eq!(json["name"], "Alice");

    let updated = run(&["extension", "update", "1001", "--name", "Alice B"]);
    assert!(updated.status.success(), "{}", stderr(&updated));
    let json: Value =
        serde_json::from_slice(&run(&["extension", "show", "1001", "--json"]).stdout).unwrap();
    assert_eq!(json["name"], "Alice B");

    // Option overrides: given as SECTION.OPTION=VALUE, refused by the server by name.
    let with_options = run(&[
        "extension",
        "update",
        "1001",
        "--option",
        "endpoint.dtmf_mode=info",
        "--option",
        "aor.qualify_frequency=30",
    ]);
    assert!(with_options.status.success(), "{}", stderr(&with_options));
    let json: Value =
        serde_json::from_slice(&run(&["extension", "show", "1001", "--json"]).stdout).unwrap();
    assert_eq!(json["options"]["endpoint"]["dtmf_mode"], "info");
    assert_eq!(json["options"]["aor"]["qualify_frequency"], "30");
    let bogus = run(&[
        "extension",
        "update",
        "1001",
        "--option",
        "endpoint.dtmf_mode=bogus_mode",
    ]);
    assert!(!bogus.status.success());
    assert!(
        stderr(&bogus).contains("options.endpoint.dtmf_mode"),
        "{}",
        stderr(&bogus)
    );
    let cleared = run(&["extension", "update", "1001", "--clear-options"]);
    assert!(cleared.status.success(), "{}", stderr(&cleared));
    let json: Value =
        serde_json::from_slice(&run(&["extension", "show", "1001", "--json"]).stdout).unwrap();
    assert!(json.get("options").is_none(), "{json}");

    // Bulk import from CSV (any column order, a known password kept secret,
    // the others generated and printed once), then export.
    let csv_path = home.join("phones.csv");
    std::fs::write(
        &csv_path,
        "name,extension,password,options\nReception,3001,Known-pass-1,\nSales,3002,,\"{\"\"endpoint\"\": {\"\"dtmf_mode\"\": \"\"info\"\"}}\"\nStore,3003,,\n",
    )
    .expect("csv");
    let imported = run(&["extension", "import", csv_path.to_str().unwrap_or_default()]);
    assert!(imported.status.success(), "{}", stderr(&imported));
    let printed = String::from_utf8_lossy(&imported.stdout).to_string();
    assert!(printed.contains("created 3 extension(s)"), "{printed}");
    assert!(
        printed.lines().any(|l| l.starts_with("3002\t")),
        "{printed}"
    );
    assert!(
        !printed.contains("3001\t") && !printed.contains("Known-pass-1"),
        "{printed}"
    );
    let exported = run(&["extension", "export"]);
    assert!(exported.status.success(), "{}", stderr(&exported));
    let exported = String::from_utf8_lossy(&exported.stdout).to_string();
    assert!(
        exported.starts_with("extension,name,template"),
        "{exported}"
    );
    assert!(exported.contains("3001,Reception,basic"), "{exported}");
    let bad_path = home.join("bad.csv");
    std::fs::write(&bad_path, "extension,colour\n3009,red\n").expect("csv");
    let bad = run(&["extension", "import", bad_path.to_str().unwrap_or_default()]);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("unknown CSV column 'colour'"),
        "{}",
        stderr(&bad)
    );

    let deleted = run(&["extension", "delete", "1001"]);
    assert!(deleted.status.success());
    let gone = run(&["extension", "show", "1001"]);
    assert!(!gone.status.success());
    assert!(
        stderr(&gone).contains("extension 1001 not found"),
        "{}",
        stderr(&gone)
    );

    let token = run(&["token", "create", "--role", "viewer", "--json"]);
    assert!(token.status.success(), "{}", stderr(&token));
    let json: Value = serde_json::from_slice(&token.stdout).unwrap();
    assert_eq!(json["role"], "viewer");
    assert!(json["token"].as_str().unwrap().starts_with("rayan_"));
    d.stop().await;
}

/// From anywhere, with RAYAN_URL/RAYAN_TOKEN or --url/--token; errors carry the
/// server's message and a non-zero exit code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_url_and_token_and_errors() {
    let d = TestDaemon::start(Backend::Sqlite).await;
    let elsewhere = tempfile::tempdir().unwrap();
    let viewer = d.token("viewer").await;
    let env = [
        ("RAYAN_URL", d.url.as_str()),
        ("RAYAN_TOKEN", d.admin_token.as_str()),
    ];

    let created = ctl(
        elsewhere.path(),
        &env,
        &["extension", "create", "2001", "--json"],
    );
    assert!(created.status.success(), "{}", stderr(&created));
    let json: Value = serde_json::from_slice(&created.stdout).unwrap();
    assert!(
        json["password"].as_str().unwrap().len() >= 20,
        "a generated password is shown once"
    );

    let dup = ctl(elsewhere.path(), &env, &["extension", "create", "2001"]);
    assert_eq!(dup.status.code(), Some(1));
    assert!(stderr(&dup).contains("already exists"), "{}", stderr(&dup));

    let bad = ctl(
        elsewhere.path(),
        &env,
        &[
            "extension",
            "create",
            "2002",
            "--name",
            "a;b",
            "--codecs",
            "ulaw,nope",
        ],
    );
    assert_eq!(bad.status.code(), Some(1));
    let err = stderr(&bad);
    assert!(err.contains("name:") && err.contains("codecs[1]:"), "{err}");

    let flags = ctl(
        elsewhere.path(),
        &[],
        &[
            "--url",
            &d.url,
            "--token",
            &viewer,
            "extension",
            "list",
            "--json",
        ],
    );
    assert!(flags.status.success(), "{}", stderr(&flags));
    let json: Value = serde_json::from_slice(&flags.stdout).unwrap();
    assert_eq!(json["total"], 1);

    let forbidden = ctl(
        elsewhere.path(),
        &[],
        &[
            "--url",
            &d.url,
            "--token",
            &viewer,
            "extension",
            "delete",
            "2001",
        ],
    );
    assert_eq!(forbidden.status.code(), Some(1));
    assert!(
        stderr(&forbidden).contains("operator"),
        "{}",
        stderr(&forbidden)
    );

    let no_token = ctl(
        elsewhere.path(),
        &[("RAYAN_URL", d.url.as_str())],
        &["extension", "list"],
    );
    assert!(!no_token.status.success());
    assert!(
        stderr(&no_token).contains("no token"),
        "{}",
        stderr(&no_token)
    );

    let unreachable = ctl(
        elsewhere.path(),
        &[("RAYAN_URL", "http://127.0.0.1:9"), ("RAYAN_TOKEN", "x")],
        &["extension", "list"],
    );
    assert!(!unreachable.status.success());
    assert!(
        stderr(&unreachable).contains("cannot reach rayand"),
        "{}",
        stderr(&unreachable)
    );
    d.stop().await;
}

/// Tables show nested values as words, and say why a change is pending: here Asterisk
/// refuses rayan's AMI login, which is not the same as Asterisk being unreachable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_speak_words_and_name_a_refused_login() {
    let d = TestDaemon::start_with(Backend::Postgres, Asterisk::RefusesLogin, |_| {}).await;
    let home = d.state_dir.parent().unwrap().to_owned();
    let run = |args: &[&str]| ctl(&home, &[], args);
    let no_json = |out: &Output| {
        let text = stdout(out);
        assert!(
            !text.contains("{\"") && !text.contains("\":"),
            "JSON in a table:\n{text}"
        );
        text
    };

    let created = run(&["extension", "create", "1001", "--password", "S3cret-pass"]);
    assert!(
        created.status.success(),
        "pending is not a failure: {}",
        stderr(&created)
    );
    let table = no_json(&created);
    assert!(
        table.contains("pending — AMI login refused for user rayan"),
        "{table}"
    );
    assert!(
        stderr(&created).contains("check asterisk.ami_user"),
        "{}",
        stderr(&created)
    );

    let shown = run(&["extension", "show", "1001"]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    assert!(
        no_json(&shown).contains("unregistered"),
        "{}",
        stdout(&shown)
    );

    let status = run(&["status"]);
    assert!(status.status.success(), "{}", stderr(&status));
    let table = no_json(&status);
    let last_error = table
        .lines()
        .find(|l| l.contains("last_error"))
        .unwrap_or_default();
    assert!(
        last_error.contains("AMI login refused for user rayan"),
        "{table}"
    );
    let last_apply = table
        .lines()
        .find(|l| l.contains("last_apply"))
        .unwrap_or_default();
    assert!(last_apply.contains(" pending at "), "{table}");

    let json: Value =
        serde_json::from_slice(&run(&["status", "--json"]).stdout).expect("--json prints JSON");
    assert!(json["last_apply"].is_object(), "{json}");
    assert!(
        json["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("asterisk.ami_user"),
        "{json}"
    );
    d.stop().await;
}

/// Transports, network detection and a restart from the command line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transports_network_and_restart_from_the_command_line() {
    let d = TestDaemon::start(Backend::Sqlite).await;
    let home = d.state_dir.parent().unwrap().to_owned();
    let run = |args: &[&str]| ctl(&home, &[], args);

    let created = run(&[
        "transport",
        "create",
        "transport-nat",
        "--protocol",
        "udp",
        "--bind",
        "127.0.0.1",
        "--port",
        "5070",
        "--external-media-address",
        "203.0.113.7",
        "--local-net",
        "192.168.0.0/16,10.0.0.0/8",
    ]);
    assert!(created.status.success(), "{}", stderr(&created));
    let listed = run(&["transport", "list"]);
    assert!(
        stdout(&listed).contains("transport-nat"),
        "{}",
        stdout(&listed)
    );

    let bad = run(&[
        "transport",
        "create",
        "t2",
        "--protocol",
        "udp",
        "--local-net",
        "10.0.0.1/8",
    ]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("local_net[0]"), "{}", stderr(&bad));

    // A new port waits for a restart: the command says so and does not claim success.
    let moved = run(&["transport", "update", "transport-nat", "--port", "5072"]);
    assert!(moved.status.success(), "{}", stderr(&moved));
    assert!(stderr(&moved).contains("restart"), "{}", stderr(&moved));

    let detected = run(&["network", "detect"]);
    assert!(detected.status.success(), "{}", stderr(&detected));
    let text = stdout(&detected);
    assert!(
        text.contains("Interfaces:") && text.contains("127.0.0.1/8"),
        "{text}"
    );
    assert!(text.contains("transport-nat"), "{text}");
    assert!(text.contains("local_net"), "{text}");

    let restarted = run(&["asterisk", "restart", "--now", "--wait", "20"]);
    assert!(
        restarted.status.success(),
        "{}{}",
        stdout(&restarted),
        stderr(&restarted)
    );
    assert!(
        stdout(&restarted).contains("verified"),
        "{}",
        stdout(&restarted)
    );
    let status = run(&["status", "--json"]);
    let json: Value = serde_json::from_slice(&status.stdout).expect("JSON");
    assert_eq!(json["restart_required"], false, "{json}");
}

/// `rayan-ctl import --dry-run` prints the plan and the diffs and changes
/// nothing; `rayan-ctl import` switches over and succeeds only when every
/// phone came through as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_from_the_command_line() {
    let d = TestDaemon::start_over(
        Backend::Sqlite,
        |dir| crate::support::daemon::install_corpus("freepbx", dir),
        |_| {},
    )
    .await;
    let home = d.state_dir.parent().unwrap().to_owned();
    let run = |args: &[&str]| ctl(&home, &[], args);
    let before = std::fs::read(d.config_dir().join("pjsip.endpoint.conf")).unwrap();

    let plan = run(&["import", "--dry-run"]);
    assert!(plan.status.success(), "{}", stderr(&plan));
    let text = stdout(&plan);
    assert!(text.contains("Would adopt 3 phone(s)"), "{text}");
    assert!(text.contains("from-internal-custom"), "{text}");
    assert!(text.contains("-[1001-auth]"), "the diff is printed: {text}");
    assert!(
        !text.contains("Alice-S3cret-pw"),
        "passwords are masked: {text}"
    );
    assert_eq!(
        std::fs::read(d.config_dir().join("pjsip.endpoint.conf")).unwrap(),
        before
    );

    let done = run(&["import"]);
    assert!(done.status.success(), "{}{}", stdout(&done), stderr(&done));
    assert!(
        stdout(&done).contains("Adopted 3 phone(s)"),
        "{}",
        stdout(&done)
    );
    let listed = run(&["extension", "list"]);
    assert!(stdout(&listed).contains("1003"), "{}", stdout(&listed));
    let again = run(&["import"]);
    assert!(again.status.success());
    assert!(
        stdout(&again).contains("Nothing to adopt"),
        "{}",
        stdout(&again)
    );
}
