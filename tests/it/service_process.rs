//! The built `rayand` binary as systemd runs it: notify protocol on a socket the
//! test owns, SIGTERM, SIGHUP reloads, start-up failures and log formats. Each
//! test uses SQLite in its own temp state dir.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::net::UnixDatagram;

/// How long any single wait may last before the test gives up (a hang, not a timing goal).
const PATIENCE: Duration = Duration::from_secs(60);

struct Rayand {
    child: Child,
    stderr: Arc<Mutex<String>>,
    state_dir: PathBuf,
    _dir: tempfile::TempDir,
}

/// Base environment: loopback port 0, a temp state dir and Asterisk dir, nothing
/// inherited that could change the settings.
fn command(dir: &Path) -> Command {
    let asterisk_dir = dir.join("asterisk");
    std::fs::create_dir_all(&asterisk_dir).expect("asterisk dir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rayand"));
    for (name, _) in std::env::vars() {
        if name.starts_with("RAYAN_")
            || name == "RUST_LOG"
            || name == "NOTIFY_SOCKET"
            || name.starts_with("WATCHDOG_")
        {
            cmd.env_remove(name);
        }
    }
    cmd.env("RAYAN_STATE_DIR", dir.join("state"))
        .env("RAYAN_ASTERISK_CONFIG_DIR", asterisk_dir)
        .env("RAYAN_LISTEN", "127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

impl Rayand {
    fn spawn(dir: tempfile::TempDir, configure: impl FnOnce(&mut Command)) -> Rayand {
        let mut cmd = command(dir.path());
        configure(&mut cmd);
        let mut child = cmd.spawn().expect("spawn rayand");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("stderr piped");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .expect("stderr buffer")
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Rayand {
            child,
            stderr,
            state_dir: dir.path().join("state"),
            _dir: dir,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr buffer").clone()
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// The base URL, once the daemon has written it (after binding its listener).
    async fn url(&self) -> String {
        let file = self.state_dir.join("rayand.url");
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(text) = std::fs::read_to_string(&file) {
                if text.ends_with('\n') {
                    return text.trim().to_owned();
                }
            }
            assert!(
                Instant::now() < deadline,
                "rayand wrote no URL; stderr:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // Let the reader thread drain the pipe.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "rayand did not exit; stderr:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `text` appears on stderr.
    async fn wait_for_log(&self, text: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let log = self.stderr();
            if log.contains(text) {
                return log;
            }
            assert!(Instant::now() < deadline, "no '{text}' in stderr:\n{log}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Rayand {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Receives notify datagrams until one carries `key`; returns every assignment
/// of that datagram.
async fn receive_until(
    socket: &UnixDatagram,
    key: &str,
    seen: &mut Vec<String>,
) -> HashMap<String, String> {
    let mut buf = vec![0u8; 4096];
    loop {
        let n = tokio::time::timeout(PATIENCE, socket.recv(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no {key} within {PATIENCE:?}; seen {seen:?}"))
            .expect("recv");
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let fields: HashMap<String, String> = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        seen.push(text);
        if fields.contains_key(key) {
            return fields;
        }
    }
}

#[tokio::test]
async fn notifies_ready_watchdog_and_stopping_and_exits_zero_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind notify socket");
    let mut rayand = Rayand::spawn(dir, |cmd| {
        cmd.env("NOTIFY_SOCKET", &socket_path)
            .env("WATCHDOG_USEC", "1000000");
    });
    let mut seen = Vec::new();

    let ready = receive_until(&socket, "READY", &mut seen).await;
    assert_eq!(ready["READY"], "1");
    // No Asterisk listens here: READY=1 still comes, after the first attempt.
    let status = ready.get("STATUS").map(String::as_str).unwrap_or("");
    assert!(
        status.starts_with("AMI disconnected, 0 extensions"),
        "{seen:?}"
    );
    // READY=1 came after migrations and the bound listener: the API answers at once.
    let url = std::fs::read_to_string(rayand.state_dir.join("rayand.url"))
        .expect("url written before READY");
    let health = reqwest::get(format!("{}/healthz", url.trim()))
        .await
        .expect("healthz");
    assert_eq!(health.status(), StatusCode::OK);
    assert!(
        rayand.state_dir.join("admin.token").exists(),
        "bootstrap ran before READY"
    );

    let alive = receive_until(&socket, "WATCHDOG", &mut seen).await;
    assert_eq!(alive["WATCHDOG"], "1");
    // Asterisk is down: the status line says so.
    let status = alive.get("STATUS").map(String::as_str).unwrap_or("");
    assert!(
        status.starts_with("AMI disconnected, 0 extensions"),
        "{status}"
    );

    rayand.signal("TERM");
    let stopping = receive_until(&socket, "STOPPING", &mut seen).await;
    assert_eq!(stopping["STOPPING"], "1");
    let status = rayand.wait_exit().await;
    assert_eq!(status.code(), Some(0), "stderr:\n{}", rayand.stderr());
    let log = rayand.stderr();
    assert!(
        log.contains("shutting down") && log.contains("stopped"),
        "{log}"
    );
}

async fn preflight(http: &reqwest::Client, url: &str, origin: &str) -> Option<String> {
    let resp = http
        .request(reqwest::Method::OPTIONS, format!("{url}/api/v1/extensions"))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await
        .expect("preflight");
    resp.headers()
        .get("access-control-allow-origin")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn write_config(path: &Path, node: &str, log_level: &str, origins: &[&str]) {
    let origins: Vec<String> = origins.iter().map(|o| format!("\"{o}\"")).collect();
    let text = format!(
        "node = \"{node}\"\nlog_level = \"{log_level}\"\ncors_origins = [{}]\n",
        origins.join(", ")
    );
    std::fs::write(path, text).expect("write config");
}

#[tokio::test]
async fn sighup_reloads_cors_and_log_level_and_names_what_needs_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("rayand.toml");
    write_config(&config, "pbx1", "info", &["https://old.example"]);
    let mut rayand = Rayand::spawn(dir, |cmd| {
        cmd.arg("--config").arg(&config);
    });
    let url = rayand.url().await;
    let http = reqwest::Client::new();
    assert_eq!(
        preflight(&http, &url, "https://old.example")
            .await
            .as_deref(),
        Some("https://old.example")
    );
    assert_eq!(preflight(&http, &url, "https://new.example").await, None);
    assert!(!rayand.stderr().contains(" DEBUG "), "info level at start");

    write_config(&config, "pbx2", "debug", &["https://new.example"]);
    rayand.signal("HUP");
    let log = rayand.wait_for_log("SIGHUP: settings reloaded").await;
    assert!(log.contains("changed=cors_origins, log_level"), "{log}");
    let log = rayand.wait_for_log("cannot change at run time").await;
    assert!(log.contains("keys=node"), "{log}");

    assert_eq!(
        preflight(&http, &url, "https://new.example")
            .await
            .as_deref(),
        Some("https://new.example")
    );
    assert_eq!(preflight(&http, &url, "https://old.example").await, None);
    // The request traces of tower-http are at DEBUG: visible only at the new level.
    rayand.wait_for_log(" DEBUG ").await;

    rayand.signal("TERM");
    assert_eq!(
        rayand.wait_exit().await.code(),
        Some(0),
        "stderr:\n{}",
        rayand.stderr()
    );
}

#[tokio::test]
async fn sighup_with_a_broken_file_keeps_the_current_settings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("rayand.toml");
    write_config(&config, "pbx1", "info", &["https://old.example"]);
    let mut rayand = Rayand::spawn(dir, |cmd| {
        cmd.arg("--config").arg(&config);
    });
    let url = rayand.url().await;
    std::fs::write(&config, "cors_origins = [\"https://new.example\"\n")
        .expect("write broken config");
    rayand.signal("HUP");
    rayand.wait_for_log("settings not reloaded").await;
    let http = reqwest::Client::new();
    assert_eq!(
        preflight(&http, &url, "https://old.example")
            .await
            .as_deref(),
        Some("https://old.example")
    );
    rayand.signal("TERM");
    assert_eq!(rayand.wait_exit().await.code(), Some(0));
}

/// Starts rayand expecting it to fail; returns its exit code and stderr.
async fn failed_start(configure: impl FnOnce(&mut Command, &Path)) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path().to_owned();
    let mut rayand = Rayand::spawn(dir, |cmd| configure(cmd, &base));
    let status = rayand.wait_exit().await;
    (status.code(), rayand.stderr())
}

#[tokio::test]
async fn missing_asterisk_config_dir_fails_with_one_line() {
    let (code, stderr) = failed_start(|cmd, base| {
        cmd.env("RAYAN_ASTERISK_CONFIG_DIR", base.join("no-such-asterisk"));
    })
    .await;
    assert_eq!(code, Some(78), "EX_CONFIG; stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("asterisk.config_dir") && stderr.contains("no-such-asterisk"),
        "{stderr}"
    );
}

#[tokio::test]
async fn unreadable_secret_file_fails_with_one_line() {
    let (code, stderr) = failed_start(|cmd, base| {
        // A directory cannot be read as a file, whatever user runs the test.
        cmd.env("RAYAN_ASTERISK_AMI_SECRET_FILE", base);
    })
    .await;
    assert_eq!(code, Some(78), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("asterisk.ami_secret_file"), "{stderr}");
}

#[tokio::test]
async fn json_log_format_writes_one_json_object_per_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rayand = Rayand::spawn(dir, |cmd| {
        cmd.env("RAYAN_LOG_FORMAT", "json");
    });
    rayand.url().await;
    rayand.wait_for_log("rayand ready").await;
    rayand.signal("TERM");
    assert_eq!(rayand.wait_exit().await.code(), Some(0));
    let log = rayand.stderr();
    let mut messages = Vec::new();
    for line in log.lines() {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            value["level"].is_string() && value["timestamp"].is_string(),
            "{line}"
        );
        messages.push(
            value["fields"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    assert!(messages.iter().any(|m| m == "rayand ready"), "{messages:?}");
    assert!(!log.contains("\u{1b}["), "no terminal colours");
}

#[tokio::test]
async fn text_logs_have_no_colour_codes_when_not_on_a_terminal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rayand = Rayand::spawn(dir, |_| {});
    rayand.wait_for_log("rayand ready").await;
    rayand.signal("TERM");
    assert_eq!(rayand.wait_exit().await.code(), Some(0));
    let log = rayand.stderr();
    assert!(
        log.lines()
            .any(|l| l.contains(" INFO ") && l.contains("rayand ready")),
        "{log}"
    );
    assert!(!log.contains("\u{1b}["), "{log}");
}
/// Resident memory of a process, in kB.
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("process status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Sets this process's open-file limit (soft and hard) to `limit` after fork,
/// before rayand starts.
fn limit_open_files(cmd: &mut Command, limit: u64) {
    use std::os::unix::process::CommandExt;
    let rlimit = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    // SAFETY: setrlimit is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
}

/// Raises this test's own soft open-file limit so that it can hold `needed`
/// sockets at once.
fn allow_open_files(needed: u64) {
    let mut rlimit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: both calls only read or write the struct passed.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut rlimit), 0);
        if rlimit.rlim_cur < needed {
            assert!(
                rlimit.rlim_max >= needed,
                "this test needs {needed} open files; the hard limit is {}",
                rlimit.rlim_max
            );
            rlimit.rlim_cur = needed;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit), 0);
        }
    }
}

/// `GET /healthz` on a new connection, as a health checker does; the status and
/// how long the answer took.
async fn healthz_once(url: &str) -> (Option<StatusCode>, Duration) {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let started = Instant::now();
    let status = http
        .get(format!("{url}/healthz"))
        .send()
        .await
        .ok()
        .map(|r| r.status());
    (status, started.elapsed())
}

/// The server closed `socket`: a read returns end of file (or a reset) rather
/// than waiting.
async fn closed_by_server(socket: &tokio::net::TcpStream) -> bool {
    let mut byte = [0u8; 1];
    match tokio::time::timeout(Duration::from_millis(2), socket.peek(&mut byte)).await {
        Ok(Ok(0) | Err(_)) => true,
        Ok(Ok(_)) | Err(_) => false,
    }
}

#[tokio::test]
async fn a_flood_of_silent_and_half_sent_connections_leaves_healthz_answering_and_memory_returns() {
    const FLOOD: usize = 1_500;
    const OPEN_FILES: u64 = 1_024;
    allow_open_files(FLOOD as u64 + 256);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rayand = Rayand::spawn(dir, |cmd| limit_open_files(cmd, OPEN_FILES));
    let url = rayand.url().await;
    rayand.wait_for_log("rayand ready").await;
    let pid = rayand.child.id();
    for _ in 0..20 {
        assert_eq!(healthz_once(&url).await.0, Some(StatusCode::OK));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let start_rss = rss_kb(pid);
    let start_fds = open_fds(pid);

    let addr = url.trim_start_matches("http://").to_owned();
    let mut flood = Vec::with_capacity(FLOOD);
    let (mut peak_rss, mut peak_fds, mut slowest) = (start_rss, start_fds, Duration::ZERO);
    for n in 1..=FLOOD {
        let mut socket = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::TcpStream::connect(&addr),
        )
        .await
        .unwrap_or_else(|_| panic!("connection {n} not accepted within 5 s"))
        .unwrap_or_else(|e| panic!("connection {n}: {e}"));
        // Every other one starts a request and never finishes its head.
        if n % 2 == 0 {
            use tokio::io::AsyncWriteExt;
            let _ = socket.write_all(b"GET /healthz HTTP/1.1\r\n").await;
        }
        flood.push(socket);
        if n % 100 == 0 {
            let (status, took) = healthz_once(&url).await;
            assert_eq!(
                status,
                Some(StatusCode::OK),
                "healthz after {n} connections"
            );
            assert!(
                took < Duration::from_secs(1),
                "healthz took {took:?} after {n} connections"
            );
            slowest = slowest.max(took);
            peak_rss = peak_rss.max(rss_kb(pid));
            peak_fds = peak_fds.max(open_fds(pid));
        }
    }
    assert!(peak_fds <= OPEN_FILES as usize, "{peak_fds} descriptors");
    // The daemon cannot hold them all: it closed the oldest to make room.
    let mut closed = 0;
    for socket in &flood {
        closed += usize::from(closed_by_server(socket).await);
    }
    assert!(
        closed >= FLOOD - OPEN_FILES as usize,
        "only {closed} closed by rayand"
    );
    assert!(
        !rayand.stderr().contains("Too many open files"),
        "{}",
        rayand.stderr()
    );

    drop(flood);
    let deadline = Instant::now() + Duration::from_secs(15);
    while open_fds(pid) > start_fds + 10 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut end_rss = rss_kb(pid);
    while end_rss > start_rss * 12 / 10 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        end_rss = rss_kb(pid);
    }
    let end_fds = open_fds(pid);
    eprintln!(
        "RSS {start_rss} kB at start, {peak_rss} kB peak, {end_rss} kB after; \
         descriptors {start_fds} / {peak_fds} / {end_fds}; {closed} of {FLOOD} closed by rayand; \
         slowest healthz {slowest:?}"
    );
    assert!(
        end_rss <= start_rss * 12 / 10,
        "RSS {end_rss} kB after the flood, {start_rss} kB before"
    );
    assert_eq!(healthz_once(&url).await.0, Some(StatusCode::OK));
    rayand.signal("TERM");
    assert_eq!(
        rayand.wait_exit().await.code(),
        Some(0),
        "{}",
        rayand.stderr()
    );
}

/// Waits until the server closes `socket`; how long that took from `since`, and
/// what the server sent meanwhile.
async fn wait_closed(
    socket: &mut tokio::net::TcpStream,
    since: Instant,
    what: &str,
) -> (Duration, String) {
    use tokio::io::AsyncReadExt;
    let mut received = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(PATIENCE, socket.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (
                    since.elapsed(),
                    String::from_utf8_lossy(&received).into_owned(),
                );
            }
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Err(_) => panic!("{what} still open after {PATIENCE:?}"),
        }
    }
}

#[tokio::test]
async fn slow_and_silent_connections_are_closed_by_their_timers() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let rayand = Rayand::spawn(dir, |cmd| {
        cmd.env("RAYAN_HTTP_HEADER_READ_TIMEOUT_MS", "300")
            .env("RAYAN_HTTP_IDLE_TIMEOUT_MS", "3000");
    });
    let url = rayand.url().await;
    let token = std::fs::read_to_string(rayand.state_dir.join("admin.token")).expect("admin token");
    let addr = url.trim_start_matches("http://").to_owned();
    let connect = || tokio::net::TcpStream::connect(addr.clone());

    let mut silent = connect().await.expect("connect");
    let silent_since = Instant::now();
    let mut kept_alive = connect().await.expect("connect");
    kept_alive
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: rayan\r\n\r\n")
        .await
        .expect("write");
    let mut half = connect().await.expect("connect");
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: rayan\r\n")
        .await
        .expect("write");
    let mut stalled_body = connect().await.expect("connect");
    let head = format!(
        "POST /api/v1/extensions HTTP/1.1\r\nHost: rayan\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"number\": ",
        token.trim()
    );
    stalled_body
        .write_all(head.as_bytes())
        .await
        .expect("write");
    let slow_since = Instant::now();

    let (took, _) = wait_closed(&mut half, slow_since, "a half-sent request head").await;
    assert!(
        took < Duration::from_secs(2),
        "a half-sent request head was closed after {took:?}, by the idle timer rather than the header timer"
    );
    let (took, answer) = wait_closed(&mut stalled_body, slow_since, "a stalled request body").await;
    assert!(
        took < Duration::from_secs(2),
        "a stalled request body was closed after {took:?}"
    );
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        !closed_by_server(&silent).await,
        "a silent connection waits for the idle timeout"
    );
    let (took, _) = wait_closed(&mut silent, silent_since, "a silent connection").await;
    assert!(took >= Duration::from_secs(2), "closed after {took:?}");
    let (took, answer) = wait_closed(
        &mut kept_alive,
        silent_since,
        "an idle kept-alive connection",
    )
    .await;
    assert!(took >= Duration::from_secs(2), "closed after {took:?}");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
