//! rayand killed with SIGKILL after a commit and before the reload: on restart
//! it renders from the database and converges with no manual step, and removes the
//! temporary files an interrupted write leaves (full copies of the config, secrets
//! included) and nothing else.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::daemon::{Asterisk, HAND_WRITTEN_PJSIP, TestDaemon, asterisk_for};
use crate::support::db::{Backend, TestDb};
use rayan::config::KamailioSettings;
use serde_json::{Value, json};

/// What a write killed between creating its temporary file and renaming it leaves.
const INTERRUPTED: &str =
    "[1001]\ntype=auth\nauth_type=md5\nmd5_cred=0123456789abcdef0123456789abcdef\n";
/// Names of files that are not rayan's temporary files, though close: they stay.
const NOT_OURS: &[&str] = &[
    ".pjsip.conf.swp",
    "pjsip.conf.rayan-tmp.1.0",
    ".pjsip.conf.rayan-tmp.notes",
    "pjsip.conf.rayan-bak.1",
];

fn spawn_rayand(dir: &Path, db_url: &str, ami_addr: &str) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rayand"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("RAYAN_")) {
        cmd.env_remove(k);
    }
    cmd.env("RAYAN_LISTEN", "127.0.0.1:0")
        .env("RAYAN_DATABASE_URL", db_url)
        .env("RAYAN_STATE_DIR", dir.join("state"))
        .env("RAYAN_ASTERISK_CONFIG_DIR", dir.join("asterisk"))
        .env("RAYAN_ASTERISK_AMI_ADDR", ami_addr)
        .env("RAYAN_ASTERISK_AMI_SECRET", "rayan-secret")
        .env("RAYAN_NODE", "crash1")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd.spawn().expect("start rayand")
}

async fn wait_url(dir: &Path, previous: Option<&str>) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(url) = std::fs::read_to_string(dir.join("state/rayand.url")) {
            let url = url.trim().to_owned();
            if Some(url.as_str()) != previous
                && reqwest::get(format!("{url}/healthz")).await.is_ok()
            {
                return url;
            }
        }
        assert!(Instant::now() < deadline, "rayand did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_commit_and_reload_converges_on_restart() {
    let db = TestDb::postgres().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("asterisk")).unwrap();
    std::fs::write(dir.path().join("asterisk/pjsip.conf"), HAND_WRITTEN_PJSIP).unwrap();
    let asterisk = asterisk_for(&dir.path().join("asterisk")).await;
    let ami = asterisk.addr().to_string();
    asterisk.stop();

    let mut first = spawn_rayand(dir.path(), &db.url, &ami);
    let url = wait_url(dir.path(), None).await;
    let token = std::fs::read_to_string(dir.path().join("state/admin.token"))
        .unwrap()
        .trim()
        .to_owned();
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{url}/api/v1/extensions"))
        .bearer_auth(&token)
        .json(&json!({"extension": "1001"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        reqwest::StatusCode::ACCEPTED,
        "committed, not reloaded"
    );
    let stale = dir
        .path()
        .join(format!("asterisk/.pjsip.conf.rayan-tmp.{}.0", first.id()));
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    assert!(!asterisk.endpoints().contains(&"1001".to_owned()));
    std::fs::write(&stale, INTERRUPTED).unwrap();
    for name in NOT_OURS {
        std::fs::write(dir.path().join("asterisk").join(name), "kept\n").unwrap();
    }

    asterisk.restart();
    let mut second = spawn_rayand(dir.path(), &db.url, &ami);
    let url = wait_url(dir.path(), Some(&url)).await;
    assert!(
        !stale.exists(),
        "the interrupted write's temporary file is removed at start"
    );
    for name in NOT_OURS {
        let kept = std::fs::read_to_string(dir.path().join("asterisk").join(name));
        assert_eq!(
            kept.ok().as_deref(),
            Some("kept\n"),
            "{name} is not rayan's and stays"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status: Value = http
            .get(format!("{url}/api/v1/asterisk/status"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if asterisk.endpoints().contains(&"1001".to_owned())
            && status["last_apply"]["status"] == "verified"
        {
            break;
        }
        assert!(Instant::now() < deadline, "never converged: {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let verify: Value = http
        .get(format!("{url}/api/v1/extensions/1001/verify"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verify["status"], "verified", "{verify}");
    second.kill().unwrap();
    second.wait().unwrap();
}

/// The Kamailio lists are written the same way: a start cleans their directories too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_temporary_files_beside_the_kamailio_lists_are_removed_at_start() {
    let lists = tempfile::tempdir().unwrap();
    let dispatcher_dir = lists.path().join("dispatcher");
    let address_dir = lists.path().join("address");
    let stale = [
        dispatcher_dir.join(".dispatcher.list.rayan-tmp.4242.0"),
        address_dir.join(".address.list.rayan-tmp.4242.1"),
    ];
    let kept = [
        dispatcher_dir.join(".dispatcher.list.rayan-tmp.4242"),
        address_dir.join("address.list.orig"),
    ];
    for path in stale.iter().chain(&kept) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "1 sip:192.0.2.1:5060 0 0\n").unwrap();
    }
    let kamailio = KamailioSettings {
        // Nothing listens there: Kamailio is down, which does not matter here.
        rpc_url: "http://127.0.0.1:9/RPC".into(),
        dispatcher_list: dispatcher_dir.join("dispatcher.list"),
        address_list: address_dir.join("address.list"),
        node_sip_uri: None,
    };
    let d = TestDaemon::start_with(Backend::Sqlite, Asterisk::Down, move |s| {
        s.kamailio = Some(kamailio)
    })
    .await;
    for path in &stale {
        assert!(!path.exists(), "{} is removed at start", path.display());
    }
    for path in &kept {
        assert!(path.exists(), "{} is not rayan's and stays", path.display());
    }
    d.stop().await;
}
