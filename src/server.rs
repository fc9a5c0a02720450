//! The HTTP server: accepts connections and serves the API on each with hyper,
//! so that slow or silent clients cannot exhaust the daemon.
//!
//! - A connection that sends nothing is closed after the idle timeout, whether
//!   it is new or kept alive after a response. A new one costs only its socket
//!   and a small task until its first byte arrives: no HTTP buffers.
//! - Once a request's first byte arrived, its head must be complete within the
//!   header-read timeout; its body may pause no longer than that either.
//! - At most [`Limits::max_connections`] connections are open, lowered to what
//!   the open-file limit leaves after [`FD_RESERVE`]. At the bound a new
//!   connection takes the place of the longest-open one that runs no request
//!   and is no event stream, so a flood of silent connections cannot lock out a
//!   health check or an administrator; with none such it is answered 503.
//! - Event streams (upgraded connections) count towards the bound but are never
//!   closed by these timers or to make room; they have their own keepalive.
//! - The router is shared by every connection: each holds a reference, not a
//!   copy of the route table.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::Service;

/// What the server allows its clients.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
}

/// File descriptors kept free of HTTP connections: the database pool, the AMI
/// and Kamailio connections, the files an apply writes, the drift watcher and
/// the runtime's own, with room to spare.
pub const FD_RESERVE: u64 = 256;
/// Connections past the bound that are answered 503 at the same time; more are
/// closed without an answer.
const OVERFLOW_ANSWERS: usize = 64;
/// The longest an overflow answer waits for the client to finish sending.
const OVERFLOW_LINGER: Duration = Duration::from_secs(1);
/// The shortest gap between two warnings about the bound or the open-file limit.
const WARN_EVERY: Duration = Duration::from_secs(10);
/// How long accepting pauses after the process ran out of file descriptors (or
/// another error that is no single connection's).
const FD_PAUSE: Duration = Duration::from_millis(20);
/// Memory is given back to the system once at least this many connections were
/// open at once and half of them closed again.
const TRIM_AFTER: usize = 256;
/// The wait between the end of a surge and giving memory back, during which
/// the rest of the surge closes; also the shortest gap between two trims.
const TRIM_DELAY: Duration = Duration::from_secs(1);

const OVERLOADED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/problem+json\r\n\
retry-after: 1\r\n\
connection: close\r\n\
content-length: 134\r\n\
\r\n\
{\"type\":\"urn:rayan:problem:overloaded\",\"title\":\"Too many connections\",\"status\":503,\"detail\":\"every connection is busy; retry shortly\"}";

/// The open-file limit (soft) of this process, if the system says.
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The connection bound: the configured one, or less if the open-file limit
/// leaves no room for it beside [`FD_RESERVE`].
pub fn connection_bound(configured: usize, open_files: Option<u64>) -> usize {
    let Some(open_files) = open_files else {
        return configured;
    };
    let room = if open_files > 2 * FD_RESERVE {
        open_files - FD_RESERVE
    } else {
        open_files / 2
    };
    configured
        .min(usize::try_from(room).unwrap_or(usize::MAX))
        .max(1)
}

/// Serves `app` on `listener` until `shutdown` resolves; then stops accepting,
/// closes connections that run no request, lets running requests finish and
/// returns once every connection is closed. Event streams are closed by their
/// owner. Dropping the returned future closes every connection at once.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let bound = connection_bound(limits.max_connections, open_file_limit());
    if bound < limits.max_connections {
        let configured = limits.max_connections;
        // Only a bound the administrator chose is worth a warning; the default
        // one is lowered in any shell with the usual limit of 1,024 files.
        if configured == crate::config::DEFAULT_MAX_CONNECTIONS {
            tracing::info!(
                bound,
                "the open-file limit lowers the HTTP connection bound"
            );
        } else {
            tracing::warn!(
                configured,
                bound,
                "the open-file limit lowers http.max_connections; raise LimitNOFILE"
            );
        }
    }
    tracing::debug!(bound, "HTTP connections bounded");
    let stopping = CancellationToken::new();
    let trigger = stopping.clone();
    let signal = tokio::spawn(async move {
        shutdown.await;
        trigger.cancel();
    });
    let registry = Arc::new(Registry::new(bound));
    let trimmer = tokio::spawn(give_back_memory(registry.clone()));
    let mut server = Server {
        // Routes become services once here, not once per connection.
        app: app.with_state(()),
        limits,
        registry,
        overflow: Arc::new(Semaphore::new(OVERFLOW_ANSWERS)),
        stopping: stopping.clone(),
        tasks: JoinSet::new(),
        last_warning: None,
    };
    loop {
        let accepted = tokio::select! {
            biased;
            () = stopping.cancelled() => break,
            Some(_) = server.tasks.join_next(), if !server.tasks.is_empty() => continue,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((tcp, _peer)) => server.admit(tcp),
            Err(error) if out_of_descriptors(&error) => {
                // The connection waits in the backlog: make room and take it soon,
                // rather than sleeping a second as a generic server would.
                server.warn(
                    || tracing::warn!(%error, "out of file descriptors; closing idle connections"),
                );
                server.registry.evict_oldest_idle();
                tokio::time::sleep(FD_PAUSE).await;
            }
            Err(error) if is_connection_error(&error) => {
                tracing::debug!(%error, "a connection failed before it was accepted");
            }
            Err(error) => {
                server.warn(|| tracing::warn!(%error, "accept failed"));
                tokio::time::sleep(FD_PAUSE).await;
            }
        }
    }
    drop(listener);
    signal.abort();
    trimmer.abort();
    while server.tasks.join_next().await.is_some() {}
    Ok(())
}

/// Gives the memory of closed connections back to the system after a surge.
///
/// Each connection's buffers are freed when it closes, but glibc keeps freed
/// memory that lies between chunks still in use in its per-thread arenas:
/// measured on 2,000 connections that sent half a request, RSS stayed 28 MB
/// above its start after all of them closed, with under 200 kB of it in use.
/// Neither `M_TRIM_THRESHOLD` nor fewer arenas changed that (both only trim
/// the top of a heap); `malloc_trim` releases the free pages inside the heaps.
async fn give_back_memory(registry: Arc<Registry>) {
    loop {
        registry.surge_over.notified().await;
        tokio::time::sleep(TRIM_DELAY).await;
        let started = tokio::time::Instant::now();
        if tokio::task::spawn_blocking(trim_heap).await.is_ok() {
            tracing::debug!(took = ?started.elapsed(), "gave the memory of closed connections back");
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim_heap() {
    // SAFETY: malloc_trim only reorganises the allocator's free lists under its
    // own locks; it touches no memory that is in use.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_heap() {}

fn is_connection_error(error: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        error.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused
    )
}

fn out_of_descriptors(error: &io::Error) -> bool {
    // EMFILE (24): this process; ENFILE (23): the whole system.
    matches!(error.raw_os_error(), Some(23 | 24))
}

struct Server {
    app: Router,
    limits: Limits,
    registry: Arc<Registry>,
    overflow: Arc<Semaphore>,
    stopping: CancellationToken,
    tasks: JoinSet<()>,
    last_warning: Option<tokio::time::Instant>,
}

impl Server {
    fn warn(&mut self, log: impl FnOnce()) {
        let now = tokio::time::Instant::now();
        if self
            .last_warning
            .is_none_or(|last| now.duration_since(last) >= WARN_EVERY)
        {
            self.last_warning = Some(now);
            log();
        }
    }

    fn admit(&mut self, tcp: TcpStream) {
        // Event frames are small writes spaced apart: with Nagle's algorithm each
        // could wait for the client's delayed ACK of the previous one.
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY on an accepted connection");
        }
        let (slot, evicted) = match self.registry.admit() {
            Ok(admitted) => admitted,
            Err(Full) => {
                let bound = self.registry.bound;
                self.warn(|| tracing::warn!(bound, "every HTTP connection is busy; answering 503"));
                if let Ok(permit) = self.overflow.clone().try_acquire_owned() {
                    self.tasks.spawn(async move {
                        answer_overloaded(tcp).await;
                        drop(permit);
                    });
                }
                return;
            }
        };
        if evicted {
            let bound = self.registry.bound;
            self.warn(|| {
                tracing::warn!(
                    bound,
                    "HTTP connection limit reached; closing the longest-open idle ones"
                )
            });
        }
        let connection = Connection {
            tcp,
            slot,
            app: self.app.clone(),
            limits: self.limits,
            stopping: self.stopping.clone(),
        };
        self.tasks.spawn(connection.run());
    }
}

/// Answers 503 without reading the request, then lingers briefly so that the
/// client reads the answer instead of a reset.
async fn answer_overloaded(mut tcp: TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = tokio::time::timeout(OVERFLOW_LINGER, async {
        tcp.write_all(OVERLOADED).await?;
        tcp.shutdown().await?;
        let mut sink = [0u8; 1024];
        while tcp.read(&mut sink).await? > 0 {}
        io::Result::Ok(())
    })
    .await;
}

/// One accepted connection, from its first byte to its close.
struct Connection {
    tcp: TcpStream,
    slot: Slot,
    app: Router,
    limits: Limits,
    stopping: CancellationToken,
}

impl Connection {
    async fn run(self) {
        let Connection {
            tcp,
            slot,
            app,
            limits,
            stopping,
        } = self;
        let (state, registry, id) = (slot.state.clone(), slot.registry.clone(), slot.id);
        // Until its first byte a connection costs its socket and this task only.
        // (`readable` may report a new socket ready before anything arrived.)
        let mut first_byte = [0u8; 1];
        tokio::select! {
            first = tokio::time::timeout(limits.idle_timeout, tcp.peek(&mut first_byte)) => {
                if !matches!(first, Ok(Ok(1..))) {
                    return;
                }
            }
            () = state.evict.cancelled() => return,
            () = stopping.cancelled() => return,
        }
        let io = TokioIo::new(Counted { tcp, slot });
        let service = Handler {
            app,
            state: state.clone(),
            body_timeout: limits.header_read_timeout,
        };
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(HeadTimer {
                state: state.clone(),
                limits,
            })
            .header_read_timeout(limits.header_read_timeout);
        {
            let conn = builder.serve_connection(io, service).with_upgrades();
            tokio::pin!(conn);
            let mut draining = false;
            loop {
                tokio::select! {
                    result = conn.as_mut() => {
                        if let Err(error) = result {
                            tracing::debug!(%error, "HTTP connection ended");
                        }
                        break;
                    }
                    () = state.evict.cancelled() => return,
                    () = stopping.cancelled(), if !draining => {
                        // Idle connections close at once; a running request finishes.
                        draining = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        }
        // hyper handed the socket of an upgrade to the event stream; any other
        // socket closed with `conn` above.
        if !state.closed.load(Ordering::Acquire) {
            state.upgraded.store(true, Ordering::Release);
            registry.keep(id);
        }
    }
}

/// A connection's state shared by its socket, task, timer and request handler.
#[derive(Default)]
struct ConnState {
    /// Bytes read from the socket so far.
    bytes_read: AtomicU64,
    /// Requests being handled (the handler has not answered yet).
    busy: AtomicUsize,
    /// Handed to an event stream.
    upgraded: AtomicBool,
    /// The socket was closed.
    closed: AtomicBool,
    /// Closes the connection to make room for a new one.
    evict: CancellationToken,
}

impl ConnState {
    fn evictable(&self) -> bool {
        self.busy.load(Ordering::Acquire) == 0 && !self.upgraded.load(Ordering::Acquire)
    }
}

/// The open connections, oldest first.
struct Registry {
    bound: usize,
    inner: Mutex<Open>,
    /// Told when most connections of a surge have closed.
    surge_over: Notify,
}

#[derive(Default)]
struct Open {
    next_id: u64,
    connections: BTreeMap<u64, Entry>,
    /// Entries told to close that have not closed yet.
    evicting: usize,
    /// The most connections open at once since memory was last given back.
    high_water: usize,
}

struct Entry {
    state: Arc<ConnState>,
    evicted: bool,
}

/// No room: every connection runs a request or is an event stream.
struct Full;

impl Registry {
    fn new(bound: usize) -> Self {
        Registry {
            bound,
            inner: Mutex::new(Open::default()),
            surge_over: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        // The map stays consistent whatever panicked while holding it.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A place for a new connection; `true` if an older one was told to close for it.
    fn admit(self: &Arc<Self>) -> Result<(Slot, bool), Full> {
        let mut open = self.lock();
        let mut evicted = false;
        if open.connections.len() - open.evicting >= self.bound {
            if !Self::evict_in(&mut open) {
                return Err(Full);
            }
            evicted = true;
        }
        let id = open.next_id;
        open.next_id += 1;
        let state = Arc::new(ConnState::default());
        open.connections.insert(
            id,
            Entry {
                state: state.clone(),
                evicted: false,
            },
        );
        open.high_water = open.high_water.max(open.connections.len());
        Ok((
            Slot {
                registry: self.clone(),
                id,
                state,
            },
            evicted,
        ))
    }

    fn evict_oldest_idle(&self) {
        Self::evict_in(&mut self.lock());
    }

    fn evict_in(open: &mut Open) -> bool {
        let Some(entry) = open
            .connections
            .values_mut()
            .find(|e| !e.evicted && e.state.evictable())
        else {
            return false;
        };
        entry.evicted = true;
        entry.state.evict.cancel();
        open.evicting += 1;
        true
    }

    /// Withdraws an eviction that came too late: the connection became an event stream.
    fn keep(&self, id: u64) {
        let mut guard = self.lock();
        let open = &mut *guard;
        if let Some(entry) = open.connections.get_mut(&id) {
            if entry.evicted {
                entry.evicted = false;
                open.evicting -= 1;
            }
        }
    }

    fn release(&self, id: u64) {
        let mut open = self.lock();
        if let Some(entry) = open.connections.remove(&id) {
            if entry.evicted {
                open.evicting -= 1;
            }
        }
        let still_open = open.connections.len();
        if open.high_water >= TRIM_AFTER && still_open <= open.high_water / 2 {
            open.high_water = still_open;
            self.surge_over.notify_one();
        }
    }
}

/// A connection's place in the registry, given back when its socket closes.
struct Slot {
    registry: Arc<Registry>,
    id: u64,
    state: Arc<ConnState>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.state.closed.store(true, Ordering::Release);
        self.registry.release(self.id);
    }
}

/// The socket, counting what it reads and holding the connection's slot for as
/// long as it is open, upgraded or not.
struct Counted {
    tcp: TcpStream,
    slot: Slot,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.tcp).poll_read(cx, buf);
        let read = (buf.filled().len() - before) as u64;
        if read > 0 {
            self.slot
                .state
                .bytes_read
                .fetch_add(read, Ordering::Release);
        }
        result
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// Calls the router, marking the connection busy until the answer is ready.
struct Handler {
    app: Router,
    state: Arc<ConnState>,
    /// The longest a request body may pause: a busy connection is never closed
    /// to make room, so a stalled upload must end on its own.
    body_timeout: Duration,
}

type HandlerFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl hyper::service::Service<hyper::Request<Incoming>> for Handler {
    type Response = Response;
    type Error = Infallible;
    type Future = HandlerFuture;

    fn call(&self, request: hyper::Request<Incoming>) -> HandlerFuture {
        let busy = Busy::enter(&self.state);
        let timeout = self.body_timeout;
        let answer = self.app.clone().call(request.map(|body| {
            Body::new(TimedBody {
                body,
                timeout,
                stalled: None,
            })
        }));
        Box::pin(async move {
            let response = answer.await;
            drop(busy);
            response
        })
    }
}

/// A request body that fails when no data arrives for `timeout`.
struct TimedBody {
    body: Incoming,
    timeout: Duration,
    /// Runs while the body waits for data.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// The error a stalled request body ends with.
#[derive(Debug, thiserror::Error)]
#[error("the request body stalled for {0:?}")]
struct BodyStalled(Duration);

impl hyper::body::Body for TimedBody {
    type Data = bytes::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.stalled = None;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let timeout = this.timeout;
                let stalled = this
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match stalled.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(BodyStalled(timeout).into()))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

struct Busy(Arc<ConnState>);

impl Busy {
    fn enter(state: &Arc<ConnState>) -> Busy {
        state.busy.fetch_add(1, Ordering::AcqRel);
        Busy(state.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// hyper's timer for its header-read timeout, which hyper starts whenever it
/// begins to wait for a request head: on a new connection and after each
/// response. The wait ends after the idle timeout while no byte arrives, and
/// after the header-read timeout counted from the first byte once one did.
struct HeadTimer {
    state: Arc<ConnState>,
    limits: Limits,
}

impl hyper::rt::Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(Plain(Box::pin(tokio::time::sleep(duration))))
    }

    fn sleep_until(&self, _deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        let now = tokio::time::Instant::now();
        Box::pin(HeadWait {
            state: self.state.clone(),
            read_before: self.state.bytes_read.load(Ordering::Acquire),
            head_started: false,
            header_read_timeout: self.limits.header_read_timeout,
            sleep: Box::pin(tokio::time::sleep_until(now + self.limits.idle_timeout)),
        })
    }
}

struct Plain(Pin<Box<tokio::time::Sleep>>);

impl Future for Plain {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for Plain {}

struct HeadWait {
    state: Arc<ConnState>,
    read_before: u64,
    head_started: bool,
    header_read_timeout: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl Future for HeadWait {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // hyper polls this after each read that left the head incomplete, so the
        // first such poll after bytes arrived is when the head began.
        if !self.head_started && self.state.bytes_read.load(Ordering::Acquire) > self.read_before {
            self.head_started = true;
            let deadline = tokio::time::Instant::now() + self.header_read_timeout;
            self.sleep.as_mut().reset(deadline);
        }
        self.sleep.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for HeadWait {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_leaves_descriptors_for_the_rest_of_the_daemon() {
        assert_eq!(connection_bound(4096, Some(1024)), 768);
        assert_eq!(connection_bound(4096, Some(16384)), 4096);
        assert_eq!(connection_bound(4096, None), 4096);
        assert_eq!(connection_bound(4096, Some(256)), 128);
        assert_eq!(connection_bound(4096, Some(0)), 1);
    }

    #[test]
    fn the_overload_answer_declares_its_length() {
        let text = std::str::from_utf8(OVERLOADED).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{}",
            body.len()
        );
        let problem: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(problem["status"], 503);
    }

    #[test]
    fn at_the_bound_the_oldest_idle_connection_makes_room() {
        let registry = Arc::new(Registry::new(2));
        let (first, _) = registry.admit().ok().unwrap();
        let (second, _) = registry.admit().ok().unwrap();
        let busy = Busy::enter(&first.state);
        let (third, evicted) = registry.admit().ok().unwrap();
        assert!(evicted);
        assert!(
            !first.state.evict.is_cancelled(),
            "a running request is kept"
        );
        assert!(
            second.state.evict.is_cancelled(),
            "the oldest idle one closes"
        );
        // An event stream is never closed to make room.
        third.state.upgraded.store(true, Ordering::Release);
        assert!(registry.admit().is_err(), "nothing left to close");
        drop(second);
        assert_eq!(registry.lock().evicting, 0);
        assert_eq!(registry.lock().connections.len(), 2);
        drop(busy);
        let (_fourth, evicted) = registry.admit().ok().unwrap();
        assert!(
            evicted && first.state.evict.is_cancelled(),
            "idle again after its answer"
        );
    }
}
