//! A TCP server that behaves like the Asterisk 22.10.1 manager interface of the recordings in
//! `tests/fixtures/asterisk/transcripts/`: same banner, login replies, framing, ActionID echo, list
//! shapes and error messages, byte for byte (checked by `tests/ami_double_fidelity.rs`).
//!
//! It loads `pjsip.conf` from disk on start and on every `Reload` of `res_pjsip`, dropping
//! broken objects the way Asterisk does, and offers controls to tests: inject events, drop
//! connections, delay or refuse answers, slow reloads, count reloads, go down and come back.

mod actions;
pub mod config_file;
pub mod dialplan;
pub mod events;
pub mod live;
pub mod pjsip_objects;
pub mod runtime;
pub mod wire;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

pub use dialplan::Dialplan;
pub use events::{AmiEvent, ChannelSnapshot, call_sequence};
pub use live::{Call, RegisterAttempt};
pub use pjsip_objects::{OptionValidator, PjsipConfig, PjsipObject, builtin_validator};
pub use runtime::{Channel, Contact};

use wire::{Request, Wire, take_request};

pub const BANNER: &[u8] = b"Asterisk Call Manager/11.0.0\r\n";

#[derive(Clone)]
pub struct DoubleConfig {
    pub username: String,
    pub secret: String,
    /// Read on start and on every reload of `res_pjsip`.
    pub pjsip_conf: Option<PathBuf>,
    /// Read on start and on every reload of `pbx_config`; without it the lab's dialplan.
    pub extensions_conf: Option<PathBuf>,
    /// Asterisk waits about a second before answering a failed login, then hangs up.
    pub login_failure_delay: Duration,
    pub option_validator: OptionValidator,
    /// Fixed MD5 challenge; random digits when `None`.
    pub challenge: Option<String>,
    /// The AMI user's `read=` classes (`None`: all). A session receives only events
    /// all of whose classes it may read (manager.c checks `readperm & category`).
    pub read_classes: Option<Vec<String>>,
    /// The AMI user's `write=` classes (`None`: all). manager.c runs an action only when
    /// `writeperm` shares a class with the action's registration, else `Permission
    /// denied` (ExtensionState/ExtensionStateList: call,reporting; ShowDialPlan:
    /// config,reporting; DialplanExtensionAdd/Remove: system, per pbx_config.c).
    pub write_classes: Option<Vec<String>>,
}

impl Default for DoubleConfig {
    fn default() -> Self {
        Self {
            username: "rayan".to_owned(),
            secret: "rayan-secret".to_owned(),
            pjsip_conf: None,
            extensions_conf: None,
            login_failure_delay: Duration::from_secs(1),
            option_validator: builtin_validator(),
            challenge: None,
            read_classes: None,
            write_classes: None,
        }
    }
}

/// Which events a logged-in session receives (`Events:` of its Login).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventFilter {
    All,
    Off,
    Classes(Vec<String>),
}

impl EventFilter {
    fn from_login(value: Option<&str>) -> Self {
        match value.map(str::trim) {
            None | Some("") => Self::All,
            Some(v) if v.eq_ignore_ascii_case("on") || v.eq_ignore_ascii_case("yes") => Self::All,
            Some(v) if v.eq_ignore_ascii_case("off") || v.eq_ignore_ascii_case("no") => Self::Off,
            Some(v) => Self::Classes(
                v.split(',')
                    .map(|c| c.trim().to_ascii_lowercase())
                    .filter(|c| !c.is_empty())
                    .collect(),
            ),
        }
    }

    fn accepts(&self, event: &AmiEvent) -> bool {
        match self {
            Self::All => true,
            Self::Off => false,
            Self::Classes(classes) => event
                .classes()
                .iter()
                .any(|c| classes.iter().any(|k| k == c || k == "all")),
        }
    }
}

/// One action the double received, for tests that check what the client sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub session: u64,
    /// Whether the session had logged in when this arrived.
    pub logged_in: bool,
    pub headers: Vec<(String, String)>,
}

impl Received {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn action(&self) -> &str {
        self.get("Action").unwrap_or_default()
    }
}

struct SessionEntry {
    out: mpsc::UnboundedSender<Vec<u8>>,
    /// `None` until the session logs in.
    filter: Option<EventFilter>,
    tasks: Vec<AbortHandle>,
}

struct State {
    pjsip: PjsipConfig,
    log: Vec<String>,
    contacts: Vec<Contact>,
    /// Outbound registration name → its status (`Unregistered` when absent).
    registration_status: HashMap<String, String>,
    /// What a `PJSIPRegister` of a registration ends in (`Registered` when absent).
    registration_outcome: HashMap<String, String>,
    channels: Vec<Channel>,
    dialplan: Dialplan,
    reloads: HashMap<String, usize>,
    response_delay: Duration,
    reload_duration: Duration,
    refuse_responses: bool,
    write_chunk: Option<usize>,
    received: Vec<Received>,
    processed_calls: u64,
    channel_seq: u64,
    last_reload: Instant,
    /// Sockets open per transport: (name, protocol, bind). A reload opens new
    /// transports' and keeps removed ones' until a restart (k1).
    listeners: Vec<(String, String, String)>,
    /// When this Asterisk process started (a restart starts a new one).
    booted: Instant,
    /// The same, as CoreStatus reports it.
    booted_at: chrono::DateTime<chrono::Utc>,
    /// Until then a login is answered without `FullyBooted`, which follows (k2).
    booting_until: Option<Instant>,
    restarts: usize,
    /// Whether the AMI user holds the `command` class.
    command_allowed: bool,
    /// Last published state per device (`PJSIP/2001` -> `NOT_INUSE`).
    device_states: HashMap<String, String>,
    /// Last published extension state per hint (context, exten).
    hint_states: HashMap<(String, String), i32>,
    register_seq: u64,
    /// DialplanExtensionAdd and DialplanExtensionRemove actions run.
    dialplan_actions: usize,
    /// Events a reload produced, sent after its answer.
    deferred: Vec<AmiEvent>,
}

struct Shared {
    config: DoubleConfig,
    addr: SocketAddr,
    state: Mutex<State>,
    sessions: Mutex<HashMap<u64, SessionEntry>>,
    listener: Mutex<Option<AbortHandle>>,
    next_session: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The running double. Dropping it stops the listener and every session.
pub struct AsteriskDouble {
    shared: Arc<Shared>,
}

impl Drop for AsteriskDouble {
    fn drop(&mut self) {
        self.shared.stop_listening();
        self.shared.drop_sessions();
    }
}

impl AsteriskDouble {
    /// Listens on 127.0.0.1 on a free port and loads `pjsip_conf` when configured.
    pub async fn start(config: DoubleConfig) -> Self {
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0)));
        let addr = listener.local_addr().expect("bound address");
        let mut state = State {
            pjsip: PjsipConfig::default(),
            log: Vec::new(),
            contacts: Vec::new(),
            registration_status: HashMap::new(),
            registration_outcome: HashMap::new(),
            channels: Vec::new(),
            dialplan: Dialplan::lab(),
            reloads: HashMap::new(),
            response_delay: Duration::ZERO,
            reload_duration: Duration::ZERO,
            refuse_responses: false,
            write_chunk: None,
            received: Vec::new(),
            processed_calls: 0,
            channel_seq: 0,
            last_reload: Instant::now(),
            listeners: Vec::new(),
            booted: Instant::now(),
            booted_at: chrono::Utc::now(),
            booting_until: None,
            restarts: 0,
            command_allowed: true,
            device_states: HashMap::new(),
            hint_states: HashMap::new(),
            register_seq: 0,
            dialplan_actions: 0,
            deferred: Vec::new(),
        };
        if let Some(path) = &config.pjsip_conf {
            actions::reload_pjsip(&config, &mut state, path);
        }
        if let Some(path) = &config.extensions_conf {
            actions::reload_dialplan(&mut state, path);
        }
        state.deferred.clear();
        let shared = Arc::new(Shared {
            config,
            addr,
            state: Mutex::new(state),
            sessions: Mutex::new(HashMap::new()),
            listener: Mutex::new(None),
            next_session: AtomicU64::new(1),
        });
        shared.accept_on(listener);
        Self { shared }
    }

    /// A double with the lab's credentials and the given `pjsip.conf`.
    pub async fn with_pjsip_conf(path: impl Into<PathBuf>) -> Self {
        Self::start(DoubleConfig {
            pjsip_conf: Some(path.into()),
            ..DoubleConfig::default()
        })
        .await
    }

    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// Client settings for this double with test-sized timeouts.
    pub fn client_settings(&self) -> rayan::ami::AmiSettings {
        let mut settings = rayan::ami::AmiSettings::new(
            self.addr().to_string(),
            &self.shared.config.username,
            &self.shared.config.secret,
        );
        settings.action_timeout = Duration::from_secs(5);
        settings.ping_interval = Duration::from_secs(5);
        settings.reconnect_min = Duration::from_millis(20);
        settings.reconnect_max = Duration::from_millis(200);
        settings.auth_retry = Duration::from_millis(500);
        settings
    }

    /// Sends `event` to every logged-in session whose `Events:` filter accepts it.
    pub fn emit(&self, event: &AmiEvent) {
        self.shared.emit(event);
    }

    /// Writes raw bytes to every logged-in session, framing or not.
    pub fn inject_raw(&self, bytes: &[u8]) {
        for entry in lock(&self.shared.sessions).values() {
            if entry.filter.is_some() {
                let _ = entry.out.send(bytes.to_vec());
            }
        }
    }

    /// Closes every client connection at once; the listener stays up.
    pub fn drop_connections(&self) {
        self.shared.drop_sessions();
    }

    /// Asterisk goes down: stop listening and close every connection.
    pub fn stop(&self) {
        self.shared.stop_listening();
        self.shared.drop_sessions();
    }

    /// Asterisk comes back on the same port.
    pub fn restart(&self) {
        let listener = bind(self.shared.addr);
        self.shared.accept_on(listener);
    }

    /// The sockets Asterisk has open: (transport, protocol, bind).
    pub fn listeners(&self) -> Vec<(String, String, String)> {
        lock(&self.shared.state).listeners.clone()
    }

    /// Asterisk restarted by someone else (`systemctl restart asterisk`): as
    /// `core restart now` does it.
    pub fn core_restart(&self) {
        self.shared.restart_asterisk(false);
    }

    /// Restarts done by `core restart`.
    pub fn restarts(&self) -> usize {
        lock(&self.shared.state).restarts
    }

    /// Whether `Action: Command` is allowed (the `command` class).
    pub fn set_command_allowed(&self, allowed: bool) {
        lock(&self.shared.state).command_allowed = allowed;
    }

    /// Every action answer waits this long first.
    pub fn set_response_delay(&self, delay: Duration) {
        lock(&self.shared.state).response_delay = delay;
    }

    /// A reload of `res_pjsip` takes this long (a 10,000-endpoint reload took 4.6 s).
    pub fn set_reload_duration(&self, duration: Duration) {
        lock(&self.shared.state).reload_duration = duration;
    }

    /// Read actions but never answer them (a hung Asterisk).
    pub fn set_refuse_responses(&self, refuse: bool) {
        lock(&self.shared.state).refuse_responses = refuse;
    }

    /// Write everything in pieces of `size` bytes with a pause between them, so that the
    /// client sees many small reads.
    pub fn set_write_chunk(&self, size: Option<usize>) {
        lock(&self.shared.state).write_chunk = size;
    }

    /// Reloads of `module` received so far (`res_pjsip` and `res_pjsip.so` count together),
    /// by `Reload`, `ModuleLoad` or `Command: module reload`.
    pub fn reload_count(&self, module: &str) -> usize {
        let key = module_key(module);
        lock(&self.shared.state)
            .reloads
            .get(&key)
            .copied()
            .unwrap_or(0)
    }

    pub fn endpoints(&self) -> Vec<String> {
        lock(&self.shared.state).pjsip.endpoint_names()
    }

    pub fn pjsip(&self) -> PjsipConfig {
        lock(&self.shared.state).pjsip.clone()
    }

    pub fn replace_pjsip(&self, config: PjsipConfig) {
        lock(&self.shared.state).pjsip = config;
    }

    /// What the double's "Asterisk log" says about config loading.
    pub fn log(&self) -> Vec<String> {
        lock(&self.shared.state).log.clone()
    }

    /// Every action received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.shared.state).received.clone()
    }

    /// Open client connections.
    pub fn session_count(&self) -> usize {
        lock(&self.shared.sessions).len()
    }

    /// Registers a contact: `PeerStatus` when it is the endpoint's first,
    /// `DeviceStateChange` and `ExtensionStatus` when states move, then `ContactStatus`
    /// with its status (order of j2/j3).
    pub fn add_contact(&self, contact: Contact) {
        let events = live::add_contact_events(&mut lock(&self.shared.state), contact);
        for event in &events {
            self.emit(event);
        }
    }

    /// Sets an outbound registration's status and emits `Registry` as Asterisk 22
    /// does (transcripts e2, j1): the registration named by its client and server
    /// URIs. Nothing happens for a registration the loaded pjsip.conf lacks.
    pub fn set_registration_status(&self, name: &str, status: &str) {
        let event = {
            let mut state = lock(&self.shared.state);
            let Some(registration) = state.pjsip.get("registration", name) else {
                return;
            };
            let event = AmiEvent::new("Registry", "system,all")
                .with("ChannelType", "PJSIP")
                .with(
                    "Username",
                    registration.get("client_uri").unwrap_or_default(),
                )
                .with("Domain", registration.get("server_uri").unwrap_or_default())
                .with("Status", status);
            state
                .registration_status
                .insert(name.to_owned(), status.to_owned());
            event
        };
        self.emit(&event);
    }

    /// What the next `PJSIPRegister` of `name` ends in (the registrar's answer).
    pub fn set_registration_outcome(&self, name: &str, status: &str) {
        lock(&self.shared.state)
            .registration_outcome
            .insert(name.to_owned(), status.to_owned());
    }

    /// The status the double reports for an outbound registration.
    pub fn registration_status(&self, name: &str) -> String {
        lock(&self.shared.state)
            .registration_status
            .get(name)
            .cloned()
            .unwrap_or_else(|| "Unregistered".into())
    }

    /// Changes a contact's status and emits `ContactStatus`; `Removed` unregisters it
    /// (an unregistration or an expiry) with the events of j3: `PeerStatus`,
    /// `ExtensionStatus`, `DeviceStateChange`, `ContactStatus`.
    pub fn set_contact_status(&self, uri: &str, status: &str, roundtrip_usec: Option<u64>) {
        if status == "Removed" {
            let events = live::remove_contact_events(&mut lock(&self.shared.state), uri);
            for event in &events {
                self.emit(event);
            }
            return;
        }
        let event = {
            let mut state = lock(&self.shared.state);
            let Some(contact) = state.contacts.iter_mut().find(|c| c.uri == uri) else {
                return;
            };
            contact.status = status.to_owned();
            contact.roundtrip_usec = roundtrip_usec;
            let event =
                AmiEvent::contact_status(&contact.aor, uri, status, roundtrip_usec.unwrap_or(0));
            if status == "Removed" {
                state.contacts.retain(|c| c.uri != uri);
            }
            event
        };
        self.emit(&event);
    }

    pub fn contacts(&self) -> Vec<Contact> {
        lock(&self.shared.state).contacts.clone()
    }

    pub fn channels(&self) -> Vec<String> {
        lock(&self.shared.state)
            .channels
            .iter()
            .map(|c| c.snapshot.channel.clone())
            .collect()
    }

    pub fn set_dialplan(&self, dialplan: Dialplan) {
        lock(&self.shared.state).dialplan = dialplan;
    }

    /// The live dialplan's lines of `exten@context`: (label, application, data), the
    /// label `hint` or the priority number; `None` when there is no such extension.
    pub fn dialplan_priorities(
        &self,
        context: &str,
        exten: &str,
    ) -> Option<Vec<(String, String, String)>> {
        let state = lock(&self.shared.state);
        let extension = state
            .dialplan
            .context(context)?
            .extensions
            .iter()
            .find(|e| e.name == exten)?;
        Some(
            extension
                .priorities
                .iter()
                .map(|p| (p.label(), p.application.clone(), p.data.clone()))
                .collect(),
        )
    }

    /// DialplanExtensionAdd and DialplanExtensionRemove actions run so far.
    pub fn dialplan_action_count(&self) -> usize {
        lock(&self.shared.state).dialplan_actions
    }
}

fn bind(addr: SocketAddr) -> tokio::net::TcpListener {
    let socket = TcpSocket::new_v4().expect("TCP socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket.bind(addr).expect("bind the double's port");
    socket.listen(1024).expect("listen")
}

/// `res_pjsip.so` and `res_pjsip` are the same module.
pub fn module_key(module: &str) -> String {
    module.trim().trim_end_matches(".so").to_ascii_lowercase()
}

impl Shared {
    fn accept_on(self: &Arc<Self>, listener: tokio::net::TcpListener) {
        let shared = self.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let id = shared.next_session.fetch_add(1, Ordering::Relaxed);
                Session::spawn(shared.clone(), stream, id);
            }
        });
        *lock(&self.listener) = Some(task.abort_handle());
    }

    /// `core restart`: Asterisk closes every AMI connection without an answer,
    /// refuses connections for a moment, then runs a new process that reads its
    /// files from scratch. A login is accepted before it is fully booted;
    /// `FullyBooted` follows with its headers in another order (k2).
    fn restart_asterisk(self: &Arc<Self>, graceful: bool) {
        let shared = self.clone();
        tokio::spawn(async move {
            while graceful && !lock(&shared.state).channels.is_empty() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            shared.stop_listening();
            shared.drop_sessions();
            tokio::time::sleep(Duration::from_millis(300)).await;
            {
                let mut state = lock(&shared.state);
                state.pjsip = PjsipConfig::default();
                state.listeners.clear();
                state.channels.clear();
                if let Some(path) = &shared.config.pjsip_conf {
                    actions::reload_pjsip(&shared.config, &mut state, path);
                }
                if let Some(path) = &shared.config.extensions_conf {
                    actions::reload_dialplan(&mut state, path);
                }
                state.deferred.clear();
                state.booted = Instant::now();
                state.booted_at = chrono::Utc::now();
                state.booting_until = Some(Instant::now() + Duration::from_millis(150));
                state.restarts += 1;
            }
            shared.accept_on(bind(shared.addr));
            tokio::time::sleep(Duration::from_millis(150)).await;
            let booted = {
                let mut state = lock(&shared.state);
                state.booting_until = None;
                AmiEvent::new("FullyBooted", "system,all")
                    .with("Status", "Fully Booted")
                    .with("Uptime", state.booted.elapsed().as_secs().to_string())
                    .with(
                        "LastReload",
                        state.last_reload.elapsed().as_secs().to_string(),
                    )
            };
            shared.emit(&booted);
        });
    }

    fn stop_listening(&self) {
        if let Some(task) = lock(&self.listener).take() {
            task.abort();
        }
    }

    fn drop_sessions(&self) {
        let sessions: Vec<SessionEntry> = lock(&self.sessions).drain().map(|(_, e)| e).collect();
        for entry in sessions {
            for task in entry.tasks {
                task.abort();
            }
        }
    }

    fn emit(&self, event: &AmiEvent) {
        self.emit_except(event, 0);
    }

    /// Whether the AMI user's `read=` classes cover every class of `event`.
    fn may_read(&self, event: &AmiEvent) -> bool {
        match &self.config.read_classes {
            None => true,
            Some(read) => {
                read.iter().any(|c| c.eq_ignore_ascii_case("all"))
                    || event
                        .classes()
                        .iter()
                        .all(|c| read.iter().any(|r| r.eq_ignore_ascii_case(c)))
            }
        }
    }

    /// Whether the AMI user's `write=` classes allow an action registered with `classes`.
    fn may_run(&self, classes: &[&str]) -> bool {
        match &self.config.write_classes {
            None => true,
            Some(write) => write.iter().any(|w| {
                w.eq_ignore_ascii_case("all") || classes.iter().any(|c| w.eq_ignore_ascii_case(c))
            }),
        }
    }

    /// Sends `event` to every accepting session but `skip` (session ids start at 1).
    fn emit_except(&self, event: &AmiEvent, skip: u64) {
        let bytes = event.render();
        if !self.may_read(event) {
            return;
        }
        for (id, entry) in lock(&self.sessions).iter() {
            if *id != skip && entry.filter.as_ref().is_some_and(|f| f.accepts(event)) {
                let _ = entry.out.send(bytes.clone());
            }
        }
    }
}

/// What to do after an action.
enum Flow {
    Continue,
    Close,
}

/// One client connection: reads requests and answers them one at a time, as Asterisk does.
struct Session {
    shared: Arc<Shared>,
    id: u64,
    out: mpsc::UnboundedSender<Vec<u8>>,
    logged_in: bool,
    challenge: Option<String>,
    local: SocketAddr,
    peer: SocketAddr,
    started_tv: String,
}

impl Session {
    fn spawn(shared: Arc<Shared>, stream: TcpStream, id: u64) {
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().unwrap_or(shared.addr);
        let peer = stream.peer_addr().unwrap_or(shared.addr);
        let (read, write) = stream.into_split();
        let (out, out_rx) = mpsc::unbounded_channel();
        let writer = tokio::spawn(write_loop(shared.clone(), write, out_rx));
        let session = Session {
            shared: shared.clone(),
            id,
            out: out.clone(),
            logged_in: false,
            challenge: None,
            local,
            peer,
            started_tv: event_tv(),
        };
        let _ = out.send(BANNER.to_vec());
        lock(&shared.sessions).insert(
            id,
            SessionEntry {
                out,
                filter: None,
                tasks: vec![writer.abort_handle()],
            },
        );
        let reader = tokio::spawn(session.read_loop(read));
        if let Some(entry) = lock(&shared.sessions).get_mut(&id) {
            entry.tasks.push(reader.abort_handle());
        }
    }

    async fn read_loop(mut self, mut read: tokio::net::tcp::OwnedReadHalf) {
        let mut buf = Vec::new();
        'session: loop {
            while let Some(request) = take_request(&mut buf) {
                if let Flow::Close = self.handle(request).await {
                    break 'session;
                }
            }
            match read.read_buf(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        // Dropping the entry closes the writer's queue: it flushes and closes the socket.
        lock(&self.shared.sessions).remove(&self.id);
    }

    fn send(&self, bytes: Vec<u8>) {
        let _ = self.out.send(bytes);
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.shared.state)
    }

    fn session_id(&self) -> String {
        format!("0x{:012x}", 0x7f71_2800_0000u64 + self.id * 0x1160)
    }

    fn set_filter(&self, filter: EventFilter) {
        if let Some(entry) = lock(&self.shared.sessions).get_mut(&self.id) {
            entry.filter = Some(filter);
        }
    }

    async fn handle(&mut self, request: Request) -> Flow {
        let (delay, refuse) = {
            let mut state = self.state();
            state.received.push(Received {
                session: self.id,
                logged_in: self.logged_in,
                headers: request.headers.clone(),
            });
            (state.response_delay, state.refuse_responses)
        };
        if refuse {
            return Flow::Continue;
        }
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        self.dispatch(request).await
    }
}

async fn write_loop(
    shared: Arc<Shared>,
    mut write: tokio::net::tcp::OwnedWriteHalf,
    mut out: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    while let Some(bytes) = out.recv().await {
        let chunk = lock(&shared.state).write_chunk;
        match chunk {
            Some(size) => {
                for piece in bytes.chunks(size.max(1)) {
                    if write.write_all(piece).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            None => {
                if write.write_all(&bytes).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = write.shutdown().await;
}

/// `2026-11-21T16:41:06.595+0000`
fn event_tv() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3f+0000")
        .to_string()
}
