//! `rayan-ctl events tail`, `calls` and `call` end to end: the real binary against
//! the real daemon, on PostgreSQL and on SQLite.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::asterisk::{AmiEvent, AsteriskDouble, Contact};
use crate::support::daemon::TestDaemon;
use crate::support::db::Backend;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, ChildStdout, Command};
use tokio::task::AbortHandle;

on_both_backends!(
    tail_json_prints_the_events_and_stops_cleanly_on_ctrl_c,
    tail_prints_one_readable_line_per_event,
    tail_resumes_after_a_lost_connection,
    call_calls_list_and_hangup,
);

fn asterisk(d: &TestDaemon) -> &AsteriskDouble {
    d.asterisk.as_ref().expect("an Asterisk double")
}

fn contact(d: &TestDaemon, aor: &str, status: &str) {
    asterisk(d).emit(&AmiEvent::contact_status(
        aor,
        &format!("sip:{aor}@127.0.0.1:5081"),
        status,
        0,
    ));
}

fn ctl(url: &str, token: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rayan-ctl"));
    cmd.args(args)
        .env("RAYAN_URL", url)
        .env("RAYAN_TOKEN", token)
        .env_remove("RAYAN_STATE_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

struct Tail {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Tail {
    fn spawn(url: &str, token: &str, args: &[&str]) -> Tail {
        let mut child = ctl(url, token, args).spawn().expect("spawn rayan-ctl");
        let stdout = child.stdout.take().expect("stdout");
        Tail {
            child,
            lines: BufReader::new(stdout).lines(),
        }
    }

    async fn line(&mut self) -> String {
        match tokio::time::timeout(crate::support::ws::PATIENCE, self.lines.next_line()).await {
            Ok(Ok(Some(line))) => line,
            other => {
                let mut err = String::new();
                if let Some(stderr) = self.child.stderr.as_mut() {
                    let _ = tokio::time::timeout(
                        Duration::from_millis(200),
                        stderr.read_to_string(&mut err),
                    )
                    .await;
                }
                panic!("no line from events tail: {other:?}; stderr: {err}")
            }
        }
    }

    async fn stderr(&mut self) -> String {
        let mut err = String::new();
        if let Some(stderr) = self.child.stderr.as_mut() {
            let _ =
                tokio::time::timeout(Duration::from_secs(2), stderr.read_to_string(&mut err)).await;
        }
        err
    }
}

/// Waits until the hub has `n` subscribers (the tail is connected).
async fn subscribers(d: &TestDaemon, n: usize) {
    let hub = &d.daemon.as_ref().expect("daemon").services.streams().hub();
    let deadline = tokio::time::Instant::now() + crate::support::ws::PATIENCE;
    while hub.subscriber_count() != n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never {n} subscribers"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn tail_json_prints_the_events_and_stops_cleanly_on_ctrl_c(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    let viewer = d.token("viewer").await;
    let mut tail = Tail::spawn(
        &d.url,
        &viewer,
        &[
            "--json",
            "events",
            "tail",
            "--type",
            "contact_status",
            "--endpoint",
            "1001",
        ],
    );
    subscribers(&d, 1).await;
    contact(&d, "1002", "Reachable");
    contact(&d, "1001", "NonQualified");
    asterisk(&d).emit(&AmiEvent::new("DeviceStateChange", "call,all").with("Device", "PJSIP/1001"));
    contact(&d, "1001", "Reachable");
    contact(&d, "1001", "Removed");
    let mut seqs = Vec::new();
    for status in ["nonqualified", "reachable", "removed"] {
        let frame: Value =
            serde_json::from_str(&tail.line().await).expect("one JSON frame per line");
        assert_eq!(frame["type"], "contact_status");
        assert_eq!(frame["node"], "test1");
        assert_eq!(
            (
                frame["data"]["endpoint"].as_str(),
                frame["data"]["status"].as_str()
            ),
            (Some("1001"), Some(status))
        );
        seqs.push(frame["seq"].as_u64().expect("seq"));
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    let pid = tail.child.id().expect("pid").to_string();
    let sent = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await
        .expect("kill -INT");
    assert!(sent.success());
    let status = tokio::time::timeout(Duration::from_secs(5), tail.child.wait())
        .await
        .expect("exits")
        .expect("status");
    assert!(status.success(), "Ctrl-C is a clean exit: {status:?}");
    subscribers(&d, 0).await;
    d.stop().await;
}

async fn tail_prints_one_readable_line_per_event(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    let viewer = d.token("viewer").await;
    let mut tail = Tail::spawn(
        &d.url,
        &viewer,
        &["events", "tail", "--type", "contact_status,hangup"],
    );
    subscribers(&d, 1).await;
    contact(&d, "1001", "Reachable");
    contact(&d, "1001", "Removed");
    let first = tail.line().await;
    assert!(
        first.ends_with(" contact_status 1001 reachable sip:1001@127.0.0.1:5081 rtt 0 ms"),
        "{first}"
    );
    assert!(
        first.contains('T') && first.contains("Z #"),
        "starts with the time and seq: {first}"
    );
    let second = tail.line().await;
    assert!(
        second.ends_with(" contact_status 1001 removed sip:1001@127.0.0.1:5081"),
        "{second}"
    );
    tail.child.kill().await.expect("kill");

    let refused = ctl(&d.url, &viewer, &["events", "tail", "--type", "raw"])
        .output()
        .await
        .expect("run");
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("403") && err.contains("admin"), "{err}");
    d.stop().await;
}

/// A TCP relay between the CLI and the daemon that records each connection's
/// request line and can cut every connection.
struct Relay {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
    links: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Relay {
    async fn start(target: &str) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let target = target.trim_start_matches("http://").to_owned();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let links = Arc::new(Mutex::new(Vec::new()));
        let (seen, held) = (requests.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let target = target.clone();
                let seen = seen.clone();
                let link = tokio::spawn(async move {
                    let mut server = TcpStream::connect(&target).await.expect("daemon");
                    let mut first = vec![0u8; 2048];
                    let n = client.peek(&mut first).await.unwrap_or(0);
                    let request = String::from_utf8_lossy(&first[..n])
                        .lines()
                        .next()
                        .unwrap_or("")
                        .to_owned();
                    seen.lock().expect("lock").push(request);
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
                held.lock().expect("lock").push(link.abort_handle());
            }
        });
        Relay {
            url,
            requests,
            links,
        }
    }

    fn cut(&self) {
        for link in self.links.lock().expect("lock").drain(..) {
            link.abort();
        }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("lock").clone()
    }
}

async fn tail_resumes_after_a_lost_connection(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    let viewer = d.token("viewer").await;
    let relay = Relay::start(&d.url).await;
    let mut tail = Tail::spawn(
        &relay.url,
        &viewer,
        &["--json", "events", "tail", "--type", "contact_status"],
    );
    subscribers(&d, 1).await;
    contact(&d, "1001", "NonQualified");
    let first: Value = serde_json::from_str(&tail.line().await).expect("JSON");
    let seen = first["seq"].as_u64().expect("seq");

    relay.cut();
    subscribers(&d, 0).await;
    // Published while the tail is away: replayed from the ring when it is back.
    contact(&d, "1001", "Reachable");
    contact(&d, "1001", "Removed");
    for status in ["reachable", "removed"] {
        let frame: Value = serde_json::from_str(&tail.line().await).expect("JSON");
        assert_eq!(frame["data"]["status"], status, "{frame}");
    }
    let requests = relay.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(!requests[0].contains("since="), "{}", requests[0]);
    assert!(
        requests[1].contains(&format!("since={seen} ")),
        "resumes after what it printed: {}",
        requests[1]
    );
    tail.child.kill().await.expect("kill");
    assert!(tail.stderr().await.contains("reconnecting"));
    d.stop().await;
}

async fn call_calls_list_and_hangup(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    for number in ["1001", "1002"] {
        let created = d
            .admin(
                reqwest::Method::POST,
                "/api/v1/extensions",
                Some(json!({"extension": number})),
            )
            .await;
        assert_eq!(created.status, reqwest::StatusCode::CREATED);
    }
    asterisk(&d).add_contact(Contact::registered("1001", 5081));
    let operator = d.token("operator").await;

    let called = ctl(&d.url, &operator, &["--json", "call", "1001", "1002"])
        .output()
        .await
        .expect("run");
    assert!(
        called.status.success(),
        "{}",
        String::from_utf8_lossy(&called.stderr)
    );
    let started: Value = serde_json::from_slice(&called.stdout).expect("JSON");
    let id = started["id"].as_str().expect("id").to_owned();
    assert_eq!(started["from"], "1001");

    let hung = ctl(&d.url, &operator, &["calls", "hangup", &id])
        .output()
        .await
        .expect("run");
    assert!(
        hung.status.success(),
        "{}",
        String::from_utf8_lossy(&hung.stderr)
    );
    assert!(
        String::from_utf8_lossy(&hung.stdout).contains(&format!("call {id} hung up (PJSIP/1001-"))
    );

    let deadline = tokio::time::Instant::now() + crate::support::ws::PATIENCE;
    let table = loop {
        let listed = ctl(&d.url, &operator, &["calls", "list", "--extension", "1002"])
            .output()
            .await
            .expect("run");
        assert!(
            listed.status.success(),
            "{}",
            String::from_utf8_lossy(&listed.stderr)
        );
        let table = String::from_utf8_lossy(&listed.stdout).into_owned();
        if table.contains("1 of 1 calls") || tokio::time::Instant::now() > deadline {
            break table;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        table.contains("ANSWERED") && table.contains(&id) && table.contains("1 of 1 calls"),
        "{table}"
    );

    let unknown = ctl(&d.url, &operator, &["call", "1001", "9999"])
        .output()
        .await
        .expect("run");
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("to: there is no extension"));
    d.stop().await;
}
