//! rayand killed with SIGKILL after a commit and before the reload: on restart
//! it renders from the database and converges with no manual step.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::daemon::{HAND_WRITTEN_PJSIP, asterisk_for};
use support::db::TestDb;

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
            if Some(url.as_str()) != previous && reqwest::get(format!("{url}/healthz")).await.is_ok() {
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
    let token = std::fs::read_to_string(dir.path().join("state/admin.token")).unwrap().trim().to_owned();
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{url}/api/v1/extensions"))
        .bearer_auth(&token)
        .json(&json!({"extension": "1001"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::ACCEPTED, "committed, not reloaded");
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    assert!(!asterisk.endpoints().contains(&"1001".to_owned()));

    asterisk.restart();
    let mut second = spawn_rayand(dir.path(), &db.url, &ami);
    let url = wait_url(dir.path(), Some(&url)).await;
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
        if asterisk.endpoints().contains(&"1001".to_owned()) && status["last_apply"]["status"] == "verified" {
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
