//! The event stream under load, end to end: 1,000 WebSocket subscribers of a real
//! `rayand` (a child process, SQLite) while the Asterisk double writes 2,000
//! `ContactStatus` events per second for 10 s into the daemon's AMI event
//! connection.
//!
//! Subscribers run in this process as lean WebSocket readers (upgrade by hand,
//! frames read in place) so that the CPU of this 2-core class of machine goes to
//! the daemon: most take every `contact_status`, 100 only those of 10 endpoints,
//! and 10 never read until the load is over. Each event
//! carries its index in `RoundtripUsec` (so in `rtt_ms`), which maps it back to the
//! moment the double was asked to write it: latency runs from there to the moment
//! a subscriber has read the frame. A second run without stalled subscribers
//! shows what they cost the others.
//!
//! Printed: events lost by subscribers that keep up, lagged frames they got,
//! latency percentiles (end to end, and inside the daemon from its own
//! `rayan_event_delivery_seconds` histogram: AMI read to frame written), what
//! the stalled subscribers got, the daemon's CPU time and peak RSS (VmHWM).
//!
//! `cargo bench --bench ws`; `WS_BENCH_SECONDS` changes the duration.

#[path = "support/latency.rs"]
mod latency;
#[path = "../tests/it/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use futures_util::StreamExt;
use latency::Histogram;
use support::asterisk::{AmiEvent, AsteriskDouble};
use support::daemon::{HAND_WRITTEN_PJSIP, asterisk_for};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

const SUBSCRIBERS: usize = 1_000;
const STALLED: usize = 10;
const FILTERED: usize = 100;
const RATE: u64 = 2_000;
const ENDPOINTS: u64 = 1_000;
const FIRST_ENDPOINT: u64 = 1_000;
/// The endpoints the filtered subscribers ask for.
const FILTERED_ENDPOINTS: std::ops::Range<u64> = 1_000..1_010;
const QUEUE: usize = 1_024;

fn endpoint_of(i: u64) -> u64 {
    FIRST_ENDPOINT + (i * 7) % ENDPOINTS
}

/// When each event was handed to the double, in ns since `base`.
struct Schedule {
    base: Instant,
    sent_ns: Vec<AtomicU64>,
}

impl Schedule {
    fn latency_us(&self, index: usize, now: Instant) -> Option<u64> {
        let sent = self.sent_ns.get(index)?.load(Ordering::Acquire);
        let now_ns = now.duration_since(self.base).as_nanos() as u64;
        Some(now_ns.saturating_sub(sent) / 1_000)
    }
}

/// What a subscriber that keeps up saw.
struct Keeper {
    expected: u64,
    received: u64,
    lagged: u64,
    out_of_order: u64,
    histogram: Histogram,
}

/// What a stalled subscriber read once the load was over.
struct Stalled {
    received: u64,
    lagged_frames: u64,
    dropped: u64,
}

/// `seq` and the event index (from `rtt_ms`) of a `contact_status` frame, read
/// from where they always are (`{"seq":N,` first, `"rtt_ms":X}}` last) without
/// parsing the whole frame. Digits are read by hand: this runs for every frame
/// of 1,000 subscribers, on the cores the daemon needs.
fn seq_and_index(frame: &[u8]) -> Option<(u64, usize)> {
    let seq = frame.strip_prefix(br#"{"seq":"#)?;
    let seq = digits(&seq[..seq.iter().position(|&b| b == b',')?])?;
    let tail = frame.strip_suffix(b"}}")?;
    let rtt = &tail[tail.iter().rposition(|&b| b == b':')? + 1..];
    // rtt_ms is the index + 1 in microseconds, so at most three decimals.
    let (whole, fraction) = match rtt.iter().position(|&b| b == b'.') {
        Some(dot) => (&rtt[..dot], &rtt[dot + 1..]),
        None => (rtt, &b""[..]),
    };
    if fraction.len() > 3 {
        return None;
    }
    let micros = digits(whole)? * 1000 + digits(fraction)? * 10u64.pow(3 - fraction.len() as u32);
    Some((seq, usize::try_from(micros).ok()?.checked_sub(1)?))
}

/// An unsigned decimal number (empty is 0).
fn digits(bytes: &[u8]) -> Option<u64> {
    bytes.iter().try_fold(0u64, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0'))
    })
}

/// `{"type":"lagged","dropped":N}` → N.
fn lagged(frame: &[u8]) -> Option<u64> {
    let rest = frame.strip_prefix(br#"{"type":"lagged","dropped":"#)?;
    std::str::from_utf8(rest.strip_suffix(b"}")?)
        .ok()?
        .parse()
        .ok()
}

const TEXT: u8 = 1;
const CLOSE: u8 = 8;

/// A lean WebSocket subscriber: the upgrade by hand, then server frames (never
/// masked) read in place from one buffer, so that 1,000 of them in this process
/// leave the CPU to the daemon being measured. It answers no pings: a run is
/// shorter than the daemon's idle timeout.
struct Subscriber {
    tcp: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// When the bytes of the last read arrived.
    read_at: Instant,
}

impl Subscriber {
    async fn connect(url: &str, token: &str, query: &str) -> Subscriber {
        let addr = url.trim_start_matches("http://");
        let mut tcp = TcpStream::connect(addr).await.expect("connect");
        tcp.set_nodelay(true).expect("TCP_NODELAY");
        let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>());
        let request = format!(
            "GET /api/v1/events?{query} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
        );
        tcp.write_all(request.as_bytes())
            .await
            .expect("upgrade request");
        let mut sub = Subscriber {
            tcp,
            buf: vec![0; 64 * 1024],
            start: 0,
            end: 0,
            read_at: Instant::now(),
        };
        let head_end = loop {
            if let Some(at) = sub.buf[..sub.end].windows(4).position(|w| w == b"\r\n\r\n") {
                break at;
            }
            assert!(sub.fill().await, "connection closed during the upgrade");
        };
        let head = String::from_utf8_lossy(&sub.buf[..head_end]).into_owned();
        assert!(head.starts_with("HTTP/1.1 101"), "upgrade refused: {head}");
        sub.start = head_end + 4;
        let (opcode, hello) = sub.next_frame().await.expect("the subscribed frame");
        assert!(opcode == TEXT && sub.buf[hello].starts_with(br#"{"type":"subscribed""#));
        sub
    }

    /// Reads more bytes; false once the connection is closed.
    async fn fill(&mut self) -> bool {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
            if self.end == self.buf.len() {
                self.buf.resize(self.buf.len() * 2, 0);
            }
        }
        match self.tcp.read(&mut self.buf[self.end..]).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.end += n;
                self.read_at = Instant::now();
                true
            }
        }
    }

    /// The next frame's opcode and where its payload is in `buf`.
    async fn next_frame(&mut self) -> Option<(u8, std::ops::Range<usize>)> {
        loop {
            if let Some(frame) = self.buffered_frame() {
                return Some(frame);
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    /// The next frame if the bytes read so far hold all of it.
    fn buffered_frame(&mut self) -> Option<(u8, std::ops::Range<usize>)> {
        let available = &self.buf[self.start..self.end];
        let (opcode, header, len) = frame_header(available)?;
        if available.len() < header + len {
            return None;
        }
        let payload = self.start + header..self.start + header + len;
        self.start = payload.end;
        Some((opcode, payload))
    }
}

/// Opcode, header length and payload length of an unmasked frame.
fn frame_header(bytes: &[u8]) -> Option<(u8, usize, usize)> {
    let (b0, b1) = (*bytes.first()?, *bytes.get(1)?);
    let opcode = b0 & 0x0f;
    match b1 & 0x7f {
        126 => Some((
            opcode,
            4,
            usize::from(u16::from_be_bytes([*bytes.get(2)?, *bytes.get(3)?])),
        )),
        127 => Some((
            opcode,
            10,
            u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?) as usize,
        )),
        n => Some((opcode, 2, usize::from(n))),
    }
}

async fn keep_up(
    mut sub: Subscriber,
    expected: u64,
    schedule: Arc<Schedule>,
    deadline: tokio::time::Instant,
) -> Keeper {
    let mut keeper = Keeper {
        expected,
        received: 0,
        lagged: 0,
        out_of_order: 0,
        histogram: Histogram::new(),
    };
    let mut last_seq = 0;
    let give_up = tokio::time::sleep_until(deadline);
    tokio::pin!(give_up);
    'reading: while keeper.received < expected {
        // Every whole frame of the last read first; the deadline is only looked at
        // when the socket has to be read again.
        while let Some((opcode, payload)) = sub.buffered_frame() {
            if opcode == CLOSE {
                break 'reading;
            }
            if opcode != TEXT {
                continue;
            }
            let payload = &sub.buf[payload];
            match seq_and_index(payload) {
                Some((seq, index)) => {
                    keeper.received += 1;
                    if seq <= last_seq {
                        keeper.out_of_order += 1;
                    }
                    last_seq = seq;
                    if let Some(us) = schedule.latency_us(index, sub.read_at) {
                        keeper.histogram.record(us);
                    }
                }
                None if lagged(payload).is_some() => keeper.lagged += 1,
                None => {}
            }
        }
        if keeper.received >= expected {
            break;
        }
        let filled = tokio::select! {
            biased;
            filled = sub.fill() => filled,
            _ = &mut give_up => false,
        };
        if !filled {
            break;
        }
    }
    keeper
}

async fn drain_stalled(mut sub: Subscriber, last_index: usize) -> Stalled {
    let mut stalled = Stalled {
        received: 0,
        lagged_frames: 0,
        dropped: 0,
    };
    while let Ok(Some((opcode, payload))) =
        tokio::time::timeout(Duration::from_secs(5), sub.next_frame()).await
    {
        if opcode == CLOSE {
            break;
        }
        let payload = &sub.buf[payload];
        if let Some((_, index)) = seq_and_index(payload) {
            stalled.received += 1;
            if index == last_index {
                break;
            }
        } else if let Some(dropped) = lagged(payload) {
            stalled.lagged_frames += 1;
            stalled.dropped += dropped;
        }
    }
    stalled
}

/// The daemon as a child process, beside the double, with its own state dir.
struct Daemon {
    child: Child,
    url: String,
    token: String,
    _dir: tempfile::TempDir,
}

async fn start_daemon(double_addr: std::net::SocketAddr, dir: tempfile::TempDir) -> Daemon {
    let state = dir.path().join("state");
    let config_dir = dir.path().join("asterisk");
    let config = format!(
        "listen = \"127.0.0.1:0\"\nstate_dir = {state:?}\nnode = \"bench\"\nlog_level = \"warn\"\n\
         [events]\nring_size = 10000\nsubscriber_queue = {QUEUE}\n\
         [asterisk]\nconfig_dir = {config_dir:?}\nami_addr = \"{double_addr}\"\nami_secret = \"rayan-secret\"\n"
    );
    let config_path = dir.path().join("rayand.toml");
    std::fs::write(&config_path, config).expect("config");
    let child = Command::new(env!("CARGO_BIN_EXE_rayand"))
        .arg("--config")
        .arg(&config_path)
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start rayand");
    let read = |name: &str| {
        std::fs::read_to_string(state.join(name))
            .ok()
            .map(|s| s.trim().to_owned())
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let (url, token) = loop {
        if let (Some(url), Some(token)) = (read("rayand.url"), read("admin.token")) {
            break (url, token);
        }
        assert!(Instant::now() < deadline, "rayand did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let http = reqwest::Client::new();
    loop {
        let status: serde_json::Value = match http
            .get(format!("{url}/api/v1/asterisk/status"))
            .bearer_auth(&token)
            .send()
            .await
        {
            Ok(response) => response.json().await.unwrap_or_default(),
            Err(_) => serde_json::Value::Null,
        };
        if status["connected"] == true
            && status["events_connected"] == true
            && status["pending"] == false
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "rayand never connected to the double: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Daemon {
        child,
        url,
        token,
        _dir: dir,
    }
}

/// `VmHWM`/`VmRSS` (kB) and CPU seconds (user, system) of a process.
fn process_figures(pid: u32) -> (u64, u64, Cpu) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let cpu = Cpu {
        user: ticks(11) as f64 / 100.0,
        system: ticks(12) as f64 / 100.0,
    };
    (kb("VmHWM:"), kb("VmRSS:"), cpu)
}

#[derive(Debug, Clone, Copy)]
struct Cpu {
    user: f64,
    system: f64,
}

impl std::ops::Sub for Cpu {
    type Output = Cpu;
    fn sub(self, earlier: Cpu) -> Cpu {
        Cpu {
            user: self.user - earlier.user,
            system: self.system - earlier.system,
        }
    }
}

impl std::fmt::Display for Cpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.1} s ({:.1} user, {:.1} system)",
            self.user + self.system,
            self.user,
            self.system
        )
    }
}

fn query_for(k: usize, stalled: usize) -> String {
    if k >= stalled && k < stalled + FILTERED {
        let endpoints: Vec<String> = FILTERED_ENDPOINTS.map(|e| e.to_string()).collect();
        format!("types=contact_status&endpoints={}", endpoints.join(","))
    } else {
        "types=contact_status".to_owned()
    }
}

async fn run(seconds: u64, stalled_count: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config_dir = dir.path().join("asterisk");
    std::fs::create_dir_all(&config_dir).expect("config dir");
    std::fs::write(config_dir.join("pjsip.conf"), HAND_WRITTEN_PJSIP).expect("pjsip.conf");
    let double: Arc<AsteriskDouble> = Arc::new(asterisk_for(&config_dir).await);
    let mut daemon = start_daemon(double.addr(), dir).await;
    let pid = daemon.child.id().expect("pid");
    let (_, rss_idle, cpu_idle) = process_figures(pid);
    let (_, _, own_cpu_start) = process_figures(std::process::id());

    let events = RATE * seconds;
    let expected_filtered = (0..events)
        .filter(|&i| FILTERED_ENDPOINTS.contains(&endpoint_of(i)))
        .count() as u64;
    let connect_started = Instant::now();
    let sockets: Vec<(usize, Subscriber)> = futures_util::stream::iter(0..SUBSCRIBERS)
        .map(|k| {
            let (url, token) = (daemon.url.clone(), daemon.token.clone());
            async move {
                (
                    k,
                    Subscriber::connect(&url, &token, &query_for(k, stalled_count)).await,
                )
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let connect_time = connect_started.elapsed();
    let (_, rss_connected, _) = process_figures(pid);

    let schedule = Arc::new(Schedule {
        base: Instant::now(),
        sent_ns: (0..events).map(|_| AtomicU64::new(u64::MAX)).collect(),
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds + 20);
    let mut keepers = Vec::new();
    let mut stalled_sockets = Vec::new();
    for (k, ws) in sockets {
        if k < stalled_count {
            stalled_sockets.push(ws);
        } else {
            let filtered = k < stalled_count + FILTERED;
            let expected = if filtered { expected_filtered } else { events };
            keepers.push((
                filtered,
                tokio::spawn(keep_up(ws, expected, schedule.clone(), deadline)),
            ));
        }
    }

    let producer = {
        let (double, schedule) = (double.clone(), schedule.clone());
        std::thread::spawn(move || {
            let start = Instant::now();
            for i in 0..events {
                let due = start + Duration::from_nanos(i * 1_000_000_000 / RATE);
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                let endpoint = endpoint_of(i).to_string();
                let event = AmiEvent::contact_status(
                    &endpoint,
                    &format!("sip:{endpoint}@10.0.0.7:5060"),
                    "Reachable",
                    i + 1,
                );
                let sent = schedule.base.elapsed().as_nanos() as u64;
                schedule.sent_ns[i as usize].store(sent, Ordering::Release);
                double.emit(&event);
            }
            start.elapsed()
        })
    };
    let produce_time = tokio::task::spawn_blocking(move || producer.join().expect("producer"))
        .await
        .expect("producer thread");

    let mut total = Histogram::new();
    let (mut lost, mut lagged, mut out_of_order, mut keeper_count) = (0u64, 0u64, 0u64, 0usize);
    let mut filtered_received = 0u64;
    for (filtered, keeper) in keepers {
        let keeper = keeper.await.expect("keeper");
        keeper_count += 1;
        lost += keeper.expected.saturating_sub(keeper.received);
        lagged += keeper.lagged;
        out_of_order += keeper.out_of_order;
        if filtered {
            filtered_received += keeper.received;
        }
        total.merge(&keeper.histogram);
    }
    let (hwm_load, rss_load, cpu_load) = process_figures(pid);
    let (_, _, own_cpu_end) = process_figures(std::process::id());
    // Before the stalled subscribers drain: their late writes are not deliveries on time.
    let delivery = daemon_delivery_buckets(&daemon).await;

    let mut stalled = Vec::new();
    for ws in stalled_sockets {
        stalled.push(drain_stalled(ws, events as usize - 1).await);
    }

    println!(
        "--- {SUBSCRIBERS} subscribers ({stalled_count} stalled, {FILTERED} filtered to 10 endpoints), {RATE} events/s for {seconds} s ---"
    );
    println!(
        "produced {events} ContactStatus events in {:.2} s ({:.0}/s); {SUBSCRIBERS} sockets connected in {:.2} s",
        produce_time.as_secs_f64(),
        events as f64 / produce_time.as_secs_f64(),
        connect_time.as_secs_f64()
    );
    println!(
        "subscribers that keep up: {keeper_count}; events lost: {lost}; lagged frames: {lagged}; out of order: {out_of_order}; filtered ones got {filtered_received} (expected {})",
        expected_filtered * FILTERED as u64
    );
    println!(
        "latency, double write -> client read ({} deliveries): p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
        total.total(),
        total.quantile(0.50) as f64 / 1000.0,
        total.quantile(0.90) as f64 / 1000.0,
        total.quantile(0.99) as f64 / 1000.0,
        total.quantile(0.999) as f64 / 1000.0,
        total.max_us as f64 / 1000.0,
    );
    let deliveries = delivery.last().map_or(0, |&(_, count)| count);
    let bound = |q: f64| {
        delivery
            .iter()
            .find(|&&(_, count)| count as f64 >= q * deliveries as f64)
            .map_or(f64::INFINITY, |&(le, _)| le * 1000.0)
    };
    println!(
        "latency inside rayand, AMI read -> write taken by the socket, {deliveries} deliveries (bucket bounds): p50 <= {} ms, p90 <= {} ms, p99 <= {} ms, p99.9 <= {} ms",
        bound(0.50),
        bound(0.90),
        bound(0.99),
        bound(0.999),
    );
    for (i, s) in stalled.iter().enumerate() {
        println!(
            "stalled subscriber {i}: {} lagged frame(s), {} events reported dropped, {} received; received + dropped = {} of {events}",
            s.lagged_frames,
            s.dropped,
            s.received,
            s.received + s.dropped
        );
    }
    println!(
        "rayand: RSS idle {:.1} MB, with {SUBSCRIBERS} sockets {:.1} MB, after the load {:.1} MB; peak RSS (VmHWM) {:.1} MB; CPU {} during the load",
        rss_idle as f64 / 1024.0,
        rss_connected as f64 / 1024.0,
        rss_load as f64 / 1024.0,
        hwm_load as f64 / 1024.0,
        cpu_load - cpu_idle,
    );
    println!(
        "this process (the double and {SUBSCRIBERS} clients): CPU {}; machine load average {}",
        own_cpu_end - own_cpu_start,
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let _ = daemon.child.kill().await;
}

/// The daemon's own delivery-latency histogram from `/metrics`: (upper bound in
/// seconds, cumulative count), in bucket order, `+Inf` last.
async fn daemon_delivery_buckets(daemon: &Daemon) -> Vec<(f64, u64)> {
    let text = reqwest::Client::new()
        .get(format!("{}/metrics", daemon.url))
        .bearer_auth(&daemon.token)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .filter_map(|line| line.strip_prefix("rayan_event_delivery_seconds_bucket{le=\""))
        .filter_map(|rest| {
            let (le, count) = rest.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, count.trim().parse().ok()?))
        })
        .collect()
}

fn main() {
    let seconds = std::env::var("WS_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    // One worker thread carries the 1,000 clients (they need well under a core), so
    // that they take one scheduler slot from the daemon being measured, not two.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(seconds, STALLED));
    runtime.block_on(run(seconds, 0));
}
