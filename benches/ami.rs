//! AMI client figures, printed:
//! 1. decoding recorded-style events from memory (goal: 4,000,000 events/s on one core);
//! 2. a loopback TCP event stream consumed through `AmiClient::subscribe`, next to a raw
//!    reader that only splits on blank lines, in the same run (goal: 2,000,000 events/s);
//! 3. 10,000 actions in flight at once through `AmiClient::send`.
//!
//! Run with `cargo bench --bench ami`. Rates are printed per wall-clock second and per
//! CPU-second of the threads doing the work (Linux), the latter being meaningful on a busy
//! machine. `AMI_BENCH=decode|stream|actions` runs one part, `AMI_EVENT_BUFFER=n` sets the
//! client's event buffer, `AMI_PAUSE=1` waits 3 s before the client phase (for a profiler).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use futures_util::StreamExt;
use futures_util::future::join_all;
use rayan::ami::{AmiClient, AmiCodec, AmiSettings, AuthMethod, CodecLimits, Frame, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_util::codec::{Decoder, FramedRead};

/// Events as Asterisk 22.10.1 sent them in f1 and f2.
const EVENTS: &[&[u8]] = &[
    b"Event: Newchannel\r\nPrivilege: call,all\r\nChannel: PJSIP/1001-00000006\r\nChannelState: 4\r\nChannelStateDesc: Ring\r\nCallerIDNum: 1001\r\nCallerIDName: 1001\r\nConnectedLineNum: <unknown>\r\nConnectedLineName: <unknown>\r\nLanguage: en\r\nAccountCode: \r\nContext: from-internal\r\nExten: 1002\r\nPriority: 1\r\nUniqueid: 1795279363.14\r\nLinkedid: 1795279363.14\r\n\r\n",
    b"Event: VarSet\r\nPrivilege: dialplan,all\r\nChannel: PJSIP/1001-00000006\r\nChannelState: 4\r\nChannelStateDesc: Ring\r\nCallerIDNum: 1001\r\nCallerIDName: 1001\r\nConnectedLineNum: <unknown>\r\nConnectedLineName: <unknown>\r\nLanguage: en\r\nAccountCode: \r\nContext: from-internal\r\nExten: 1002\r\nPriority: 1\r\nUniqueid: 1795279363.14\r\nLinkedid: 1795279363.14\r\nVariable: SIPDOMAIN\r\nValue: 127.0.0.1\r\n\r\n",
    b"Event: ContactStatus\r\nPrivilege: system,all\r\nURI: sip:1001@127.0.0.1:5081\r\nContactStatus: Reachable\r\nAOR: 1001\r\nEndpointName: 1001\r\nRoundtripUsec: 293\r\n\r\n",
    b"Event: Newstate\r\nPrivilege: call,all\r\nChannel: PJSIP/1002-00000007\r\nChannelState: 5\r\nChannelStateDesc: Ringing\r\nCallerIDNum: 1002\r\nCallerIDName: <unknown>\r\nConnectedLineNum: 1001\r\nConnectedLineName: 1001\r\nLanguage: en\r\nAccountCode: \r\nContext: from-internal\r\nExten: 1002\r\nPriority: 1\r\nUniqueid: 1795279363.15\r\nLinkedid: 1795279363.14\r\n\r\n",
    b"Event: DeviceStateChange\r\nPrivilege: call,all\r\nDevice: PJSIP/1002\r\nState: NOT_INUSE\r\n\r\n",
    b"Event: Hangup\r\nPrivilege: call,all\r\nChannel: PJSIP/1002-00000007\r\nChannelState: 6\r\nChannelStateDesc: Up\r\nCallerIDNum: 1002\r\nCallerIDName: <unknown>\r\nConnectedLineNum: 1001\r\nConnectedLineName: 1001\r\nLanguage: en\r\nAccountCode: \r\nContext: from-internal\r\nExten: \r\nPriority: 1\r\nUniqueid: 1795279363.15\r\nLinkedid: 1795279363.14\r\nCause: 16\r\nCause-txt: Normal Clearing\r\n\r\n",
];

fn event_stream(count: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..count {
        out.extend_from_slice(EVENTS[i % EVENTS.len()]);
    }
    out
}

/// CPU time of the calling thread (Linux), so figures stay meaningful on a busy machine.
fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(Duration::from_nanos(
        text.split_whitespace().next()?.parse().ok()?,
    ))
}

/// Thread name of the bench's own AMI server, whose CPU time is not the client's.
const SERVER_THREAD: &str = "bench-server";

/// CPU time of every thread of this process but the server's (Linux).
fn process_cpu() -> Option<Duration> {
    let mut total = Duration::ZERO;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if name.trim() == SERVER_THREAD {
            continue;
        }
        let text = std::fs::read_to_string(path.join("schedstat")).ok()?;
        total += Duration::from_nanos(text.split_whitespace().next()?.parse().ok()?);
    }
    Some(total)
}

/// CPU time of the runtime's worker threads (where the client's connection tasks run).
fn worker_cpu() -> Option<Duration> {
    let mut total = Duration::ZERO;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if name.trim() == "tokio-rt-worker" {
            let text = std::fs::read_to_string(path.join("schedstat")).ok()?;
            total += Duration::from_nanos(text.split_whitespace().next()?.parse().ok()?);
        }
    }
    Some(total)
}

/// Runs `serve` on its own thread and runtime, apart from the client under test.
fn spawn_server(blob: Arc<Vec<u8>>, go: Arc<Notify>) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    listener.set_nonblocking(true).expect("non-blocking");
    std::thread::Builder::new()
        .name(SERVER_THREAD.to_owned())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("server runtime");
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("listener");
                serve(listener, blob, go).await;
            });
        })
        .expect("server thread");
    addr
}

fn cpu_since(before: Option<Duration>) -> Option<Duration> {
    Some(process_cpu()?.saturating_sub(before?))
}

fn rate(events: usize, elapsed: Duration) -> f64 {
    events as f64 / elapsed.as_secs_f64()
}

fn millions(rate: f64) -> String {
    format!("{:.2}M events/s", rate / 1e6)
}

/// How messages are taken out of the read buffer.
#[derive(Clone, Copy, PartialEq)]
enum DecodeMode {
    /// `Decoder::decode`, one message per call, each owning its text.
    OnePerCall,
    /// `AmiCodec::decode_batch`, every message of a read at once sharing one block: what
    /// the connection does.
    Batch,
}

/// 1. Decoding from memory, in 64 KiB reads.
fn bench_decode(mode: DecodeMode) {
    const COUNT: usize = 1_000_000;
    let stream = event_stream(COUNT);
    let mut best = f64::MAX;
    let mut best_cpu = f64::MAX;
    let mut checksum = 0usize;
    let mut batch = Vec::new();
    for _ in 0..7 {
        let mut codec = AmiCodec::server(CodecLimits::default());
        let mut buffer = BytesMut::with_capacity(128 * 1024);
        let cpu_before = thread_cpu();
        let started = Instant::now();
        let mut decoded = 0usize;
        for chunk in stream.chunks(64 * 1024) {
            buffer.put_slice(chunk);
            match mode {
                DecodeMode::OnePerCall => {
                    while let Some(frame) = codec.decode(&mut buffer).expect("valid") {
                        if let Frame::Message(message) = frame {
                            checksum += message.len();
                            decoded += 1;
                        }
                    }
                }
                DecodeMode::Batch => {
                    codec.decode_batch(&mut buffer, &mut batch).expect("valid");
                    for message in batch.drain(..) {
                        checksum += message.len();
                        decoded += 1;
                    }
                }
            }
        }
        assert_eq!(decoded, COUNT);
        best = best.min(started.elapsed().as_secs_f64());
        if let (Some(before), Some(after)) = (cpu_before, thread_cpu()) {
            best_cpu = best_cpu.min((after - before).as_secs_f64());
        }
    }
    let how = match mode {
        DecodeMode::OnePerCall => "one message per decode call",
        DecodeMode::Batch => "decode_batch, the connection's path",
    };
    println!(
        "decode from memory ({how}): {} wall, {} per CPU-second on one core ({:.0} MB/s, {} bytes/event, best of 7 runs of {COUNT}) [goal >= 4M]",
        millions(COUNT as f64 / best),
        millions(COUNT as f64 / best_cpu),
        stream.len() as f64 / best_cpu / 1e6,
        stream.len() / COUNT,
    );
    std::hint::black_box(checksum);
}

/// A minimal manager interface for the loopback benches: logs anyone in, answers Ping and
/// CoreSettings, and on `go` streams `blob` to the event connection.
async fn serve(listener: TcpListener, blob: Arc<Vec<u8>>, go: Arc<Notify>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let blob = blob.clone();
        let go = go.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let (read, mut write) = stream.into_split();
            let _ = write.write_all(b"Asterisk Call Manager/11.0.0\r\n").await;
            let mut requests = FramedRead::new(read, AmiCodec::server(CodecLimits::default()));
            let mut out = BytesMut::new();
            let mut events_on = false;
            while let Some(Ok(Frame::Message(request))) = requests.next().await {
                let id = request.action_id().unwrap_or_default().to_owned();
                let action = request
                    .action_name()
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                let mut answer = Message::new()
                    .with("Response", "Success")
                    .with("ActionID", &id);
                match action.as_str() {
                    "login" => answer.push("Message", "Authentication accepted"),
                    "coresettings" => answer.push("AsteriskVersion", "22.10.1"),
                    "ping" => answer.push("Ping", "Pong"),
                    "logoff" => return,
                    _ => {}
                }
                rayan::ami::codec::encode_message(&answer, &mut out).expect("encodes");
                // Answer a pipelined batch with one write.
                if requests.read_buffer().is_empty() {
                    if write.write_all(&out).await.is_err() {
                        return;
                    }
                    out.clear();
                }
                if action == "login" {
                    events_on = request.get("Events") != Some("off");
                }
                // The client's event connection is up once CoreSettings is answered; the
                // raw reader sends only a Login.
                let stream_now = (action == "coresettings" && events_on)
                    || (action == "login" && request.get("Stream") == Some("now"));
                if stream_now {
                    if write.write_all(&out).await.is_err() {
                        return;
                    }
                    out.clear();
                    go.notified().await;
                    let _ = write.write_all(&blob).await;
                }
            }
        });
    }
}

/// A raw reader: counts blank-line-terminated messages and nothing else.
async fn raw_reader(addr: std::net::SocketAddr, count: usize) -> Duration {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"Action: Login\r\nUsername: bench\r\nSecret: x\r\nStream: now\r\n\r\n")
        .await
        .expect("login");
    let finder = memchr::memmem::Finder::new(b"\r\n\r\n");
    let mut buffer = vec![0u8; 64 * 1024];
    let mut carry = 0usize;
    let mut seen = 0usize;
    let mut started = None;
    // The login answer is one message; the banner line has no blank line.
    while seen < count + 1 {
        let n = stream.read(&mut buffer[carry..]).await.expect("read");
        assert!(n > 0, "stream ended early");
        started.get_or_insert_with(Instant::now);
        let filled = carry + n;
        let mut last_end = 0;
        for position in finder.find_iter(&buffer[..filled]) {
            seen += 1;
            last_end = position + 4;
        }
        if seen <= 1 {
            // Only the login answer so far: the stream has not started.
            started = None;
        }
        let keep = (filled - last_end).min(3);
        buffer.copy_within(filled - keep..filled, 0);
        carry = keep;
    }
    started.map_or(Duration::ZERO, |s| s.elapsed())
}

async fn bench_stream() {
    const COUNT: usize = 2_000_000;
    let blob = Arc::new(event_stream(COUNT));

    // Raw reader first, same blob, same kind of server.
    let go = Arc::new(Notify::new());
    let addr = spawn_server(blob.clone(), go.clone());
    let raw = tokio::spawn(raw_reader(addr, COUNT));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let cpu_before = process_cpu();
    go.notify_one();
    let raw_time = raw.await.expect("raw reader");
    let raw_cpu = cpu_since(cpu_before);
    let raw_rate = rate(COUNT, raw_time);
    if std::env::var_os("AMI_PAUSE").is_some() {
        // Lets a profiler attach to the client phase alone.
        tokio::time::sleep(Duration::from_secs(3)).await;
    }

    // The client through its public event API.
    let go = Arc::new(Notify::new());
    let addr = spawn_server(blob.clone(), go.clone());
    let mut settings = AmiSettings::new(addr.to_string(), "bench", "x");
    settings.auth = AuthMethod::Plain;
    if let Some(buffer) = std::env::var("AMI_EVENT_BUFFER")
        .ok()
        .and_then(|b| b.parse().ok())
    {
        settings.event_buffer = buffer;
    }
    let event_buffer = settings.event_buffer;
    let client = AmiClient::start(settings);
    let mut events = client.subscribe();
    let mut state = client.event_state();
    state
        .wait_for(|s| s.is_connected())
        .await
        .expect("connected");
    let cpu_before = process_cpu();
    let workers_before = worker_cpu();
    let started = Instant::now();
    go.notify_one();
    let mut received = 0usize;
    let mut lagged = 0u64;
    while received + (lagged as usize) < COUNT {
        match events.next().await.expect("stream open") {
            Ok(event) => {
                std::hint::black_box(event.event());
                received += 1;
            }
            Err(missed) => lagged += missed.0,
        }
    }
    let client_time = started.elapsed();
    let client_cpu = cpu_since(cpu_before);
    let workers_cpu = worker_cpu()
        .zip(workers_before)
        .map(|(a, b)| a.saturating_sub(b));
    let client_rate = rate(COUNT, client_time);
    client.shutdown().await;

    println!(
        "loopback TCP, {COUNT} events, event_buffer {event_buffer}, wall clock: raw blank-line splitter {} | AmiClient::subscribe {} ({received} received, {lagged} lagged) | client/raw = {:.2} [goal >= 2M]",
        millions(raw_rate),
        millions(client_rate),
        client_rate / raw_rate,
    );
    if let (Some(raw_cpu), Some(client_cpu)) = (raw_cpu, client_cpu) {
        println!(
            "loopback TCP, per CPU-second of the reading side (server thread excluded): raw {} | client {} | client/raw = {:.2}",
            millions(rate(COUNT, raw_cpu)),
            millions(rate(COUNT, client_cpu)),
            raw_cpu.as_secs_f64() / client_cpu.as_secs_f64(),
        );
        if let Some(workers) = workers_cpu {
            let consumer = client_cpu.saturating_sub(workers);
            println!(
                "  client CPU per event: connection reader {:.0} ns, subscriber {:.0} ns",
                workers.as_nanos() as f64 / COUNT as f64,
                consumer.as_nanos() as f64 / COUNT as f64,
            );
        }
    }
}

async fn bench_in_flight() {
    const ACTIONS: usize = 10_000;
    let addr = spawn_server(Arc::new(Vec::new()), Arc::new(Notify::new()));
    let mut settings = AmiSettings::new(addr.to_string(), "bench", "x");
    settings.auth = AuthMethod::Plain;
    let client = AmiClient::start(settings);
    client
        .state()
        .wait_for(|s| s.is_connected())
        .await
        .expect("connected");
    let mut times = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let answers = join_all((0..ACTIONS).map(|_| client.send(Message::action("Ping")))).await;
        let elapsed = started.elapsed();
        let ok = answers
            .iter()
            .filter(|a| a.as_ref().is_ok_and(|m| m.get("Ping") == Some("Pong")))
            .count();
        assert_eq!(ok, ACTIONS, "every action answered");
        times.push(elapsed);
    }
    times.sort();
    println!(
        "{ACTIONS} actions in flight: median {:?}, best {:?} ({} actions/s at the median)",
        times[times.len() / 2],
        times[0],
        (ACTIONS as f64 / times[times.len() / 2].as_secs_f64()) as u64
    );
    client.shutdown().await;
}

fn main() {
    // `cargo test --benches` runs bench binaries with --bench absent: keep that quick.
    if !std::env::args().any(|a| a == "--bench") {
        println!("run with `cargo bench --bench ami` for figures");
        return;
    }
    // AMI_BENCH=decode|stream|actions runs one part only.
    let only = std::env::var("AMI_BENCH").ok();
    let runs = |part: &str| only.as_deref().is_none_or(|o| o == part);
    if runs("decode") {
        bench_decode(DecodeMode::Batch);
        bench_decode(DecodeMode::OnePerCall);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        if runs("stream") {
            bench_stream().await;
        }
        if runs("actions") {
            bench_in_flight().await;
        }
    });
}
