//! SIGTERM while an apply runs: the apply completes, the waiting write gets its
//! verified answer, and rayand exits 0.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::daemon::{HAND_WRITTEN_PJSIP, asterisk_for};
use crate::support::db::TestDb;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_an_apply_lets_it_finish_and_exits_zero() {
    let db = TestDb::postgres().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("asterisk")).unwrap();
    std::fs::write(dir.path().join("asterisk/pjsip.conf"), HAND_WRITTEN_PJSIP).unwrap();
    let asterisk = asterisk_for(&dir.path().join("asterisk")).await;

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rayand"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("RAYAN_")) {
        cmd.env_remove(k);
    }
    let mut rayand = cmd
        .env("RAYAN_LISTEN", "127.0.0.1:0")
        .env("RAYAN_DATABASE_URL", &db.url)
        .env("RAYAN_STATE_DIR", dir.path().join("state"))
        .env("RAYAN_ASTERISK_CONFIG_DIR", dir.path().join("asterisk"))
        .env("RAYAN_ASTERISK_AMI_ADDR", asterisk.addr().to_string())
        .env("RAYAN_ASTERISK_AMI_SECRET", "rayan-secret")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(20);
    let url = loop {
        if let Ok(url) = std::fs::read_to_string(dir.path().join("state/rayand.url")) {
            let url = url.trim().to_owned();
            if reqwest::get(format!("{url}/healthz")).await.is_ok() {
                break url;
            }
        }
        assert!(Instant::now() < deadline, "rayand did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let token = std::fs::read_to_string(dir.path().join("state/admin.token"))
        .unwrap()
        .trim()
        .to_owned();
    // Let the start-up apply finish, then make the next reload slow.
    while asterisk.reload_count("res_pjsip.so") < 1 {
        assert!(Instant::now() < deadline, "no start-up reload");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    asterisk.set_reload_duration(Duration::from_millis(1500));
    let reloads = asterisk.reload_count("res_pjsip.so");

    let write = tokio::spawn({
        let url = url.clone();
        async move {
            let resp = reqwest::Client::new()
                .post(format!("{url}/api/v1/extensions"))
                .bearer_auth(token)
                .json(&json!({"extension": "1001"}))
                .send()
                .await
                .expect("the write is answered, not cut off");
            resp.json::<Value>().await.unwrap()
        }
    });
    while asterisk.reload_count("res_pjsip.so") == reloads {
        assert!(Instant::now() < deadline, "the apply never reloaded");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let kill = Command::new("kill")
        .args(["-TERM", &rayand.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());

    let answer = write.await.unwrap();
    assert_eq!(
        answer["apply"]["status"], "verified",
        "the running apply finished: {answer}"
    );
    assert!(asterisk.endpoints().contains(&"1001".to_owned()));
    let status = tokio::task::spawn_blocking(move || rayand.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
}
