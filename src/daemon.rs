//! Wiring: settings → lock → database → services → HTTP listener. The binary
//! calls [`Daemon::start`]; integration tests do the same on port 0.

use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fs4::fs_std::FileExt;
use sea_orm::DatabaseConnection;
use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::ami::{AmiClient, AmiSettings};
use crate::api::{CorsOrigins, Runtime};
use crate::apply::{self, ApplyContext, ApplyHandle, EventSink, WorkerEvent};
use crate::config::{ConfigError, Settings};
use crate::events::{AsteriskStatus, CallTrackerConfig, EventHub, Pump};
use crate::live::{LiveState, SecurityWatch};
use crate::secrets::{SecretError, Secrets};
use crate::service::calls::{CallRecordSink, spawn_history_writer};
use crate::service::status::StatusBoard;
use crate::service::{Parts, ServiceError, Services};
use crate::store::{self, StoreError};
use crate::systemd::ReadinessGates;

/// Where `rayan-ctl` on the same host finds the daemon's URL.
pub use crate::config::URL_FILE;
const LOCK_FILE: &str = "rayand.lock";
/// How long [`Daemon::stop`] lets running requests (and a running apply) finish.
/// The unit's `TimeoutStopSec` is longer.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
/// The longest [`Daemon::start`] waits for its readiness gates.
const READINESS_LIMIT: Duration = Duration::from_secs(15);

#[derive(Debug, Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("another rayand already manages {dir}: {holder}")]
    Locked { dir: PathBuf, holder: String },
    #[error("cannot use the key for trunk secrets: {0}")]
    Secrets(#[from] SecretError),
    #[error(
        "the key {} is not the one the other nodes encrypt trunk secrets with (its key check value differs from the database's): copy secret.key from a working node into state_dir, see docs/operations.md",
        .0.display()
    )]
    ForeignKey(PathBuf),
    #[error("cannot open the database: {0}")]
    Database(#[from] StoreError),
    #[error("start-up failed: {0}")]
    Service(#[from] ServiceError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

/// A running daemon.
pub struct Daemon {
    pub addr: SocketAddr,
    pub services: Services,
    /// The API's CORS origins; SIGHUP replaces them.
    pub cors: CorsOrigins,
    /// What the parts report for `/readyz` and systemd's status line.
    pub status: StatusBoard,
    db: DatabaseConnection,
    secrets: Secrets,
    ami: AmiClient,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    worker: JoinHandle<()>,
    background: Vec<JoinHandle<()>>,
    history: JoinHandle<()>,
    _lock: File,
}

/// How long shutdown waits for a running apply to finish.
const APPLY_GRACE: Duration = Duration::from_secs(30);
/// How long shutdown waits for event streams to close and call records to be stored.
const STREAMS_GRACE: Duration = Duration::from_secs(3);
const HISTORY_GRACE: Duration = Duration::from_secs(10);
/// Ended calls waiting for the database at most.
const HISTORY_QUEUE: usize = 10_000;

fn ami_settings(settings: &Settings) -> Result<AmiSettings, ConfigError> {
    let a = &settings.asterisk;
    let mut ami = AmiSettings::new(
        a.ami_addr.clone(),
        a.ami_user.clone(),
        settings.ami_secret()?,
    );
    ami.action_timeout = Duration::from_millis(a.action_timeout_ms);
    Ok(ami)
}

/// Takes an exclusive lock so that two daemons never manage the same files. The
/// lock file names its holder so the second daemon can say who has it.
fn acquire_lock(settings: &Settings) -> Result<File, DaemonError> {
    let path = settings.state_dir.join(LOCK_FILE);
    let io = |what: &str| {
        let what = format!("{what} {}", path.display());
        move |source| DaemonError::Io { what, source }
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io("cannot open"))?;
    if !file.try_lock_exclusive().map_err(io("cannot lock"))? {
        let holder = std::fs::read_to_string(&path).unwrap_or_default();
        let holder = if holder.trim().is_empty() {
            "unknown holder".to_owned()
        } else {
            holder.trim().to_owned()
        };
        return Err(DaemonError::Locked {
            dir: settings.state_dir.clone(),
            holder,
        });
    }
    file.set_len(0).map_err(io("cannot truncate"))?;
    writeln!(file, "pid {} (node {})", std::process::id(), settings.node)
        .map_err(io("cannot write"))?;
    Ok(file)
}

/// Removes the temporary files a rayand killed mid-write left beside the files it
/// writes (each a full copy of a config file, secrets included). Runs under the lock,
/// before the apply worker starts, so no write of this daemon is under way.
fn remove_stale_temps(settings: &Settings) {
    for dir in crate::render::write::temp_dirs(&apply::written_files(settings)) {
        match crate::render::write::remove_stale_temps(&dir) {
            Ok(removed) => {
                for path in removed {
                    tracing::warn!(path = %path.display(), "removed a temporary file left by an interrupted write");
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot remove the temporary files of an interrupted write")
            }
        }
    }
}

/// Kernel send buffer of each connection. Without a bound Linux grows it to
/// megabytes, where an event stream client that stopped reading would silently
/// pile up seconds of stale events instead of being told it lagged.
const SEND_BUFFER: u32 = 64 * 1024;

/// The HTTP listener; accepted connections inherit its send buffer size.
async fn listen(addr: &str) -> std::io::Result<tokio::net::TcpListener> {
    let mut last_error = None;
    for addr in tokio::net::lookup_host(addr).await? {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.set_send_buffer_size(SEND_BUFFER)?;
        match socket.bind(addr).and_then(|()| socket.listen(1024)) {
            Ok(listener) => return Ok(listener),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address to listen on")
    }))
}

/// AMI events → normalised events in the hub, and ended calls to the history.
fn feed_events(
    ami: AmiClient,
    hub: EventHub,
    history: CallRecordSink,
    live: LiveState,
    security: SecurityWatch,
    apply: ApplyHandle,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let contacts = live.registrations.clone();
        let trunks = live.trunks.clone();
        let presence = live.presence.clone();
        let mut pump = Pump::new(hub, CallTrackerConfig::default())
            .on_call_record(move |record| history.offer(record))
            .on_contact_status(move |status| contacts.apply_status(status))
            .on_registry(move |change| trunks.apply_change(change, chrono::Utc::now()))
            .on_hint_state(move |hint| presence.apply(hint, chrono::Utc::now()))
            .on_security(move |event| security.observe(event))
            .on_fully_booted(move || apply.booted());
        let messages = futures_util::stream::unfold(ami.subscribe(), move |mut events| {
            let live = live.clone();
            async move {
                loop {
                    match events.next().await? {
                        Ok(message) => return Some((message, events)),
                        Err(lagged) => {
                            tracing::warn!(
                                missed = lagged.0,
                                "the event pump fell behind the AMI reader"
                            );
                            live.resync();
                        }
                    }
                }
            }
        });
        tokio::select! {
            _ = pump.run(messages) => {}
            _ = shutdown.wait_for(|stop| *stop) => {}
        }
    })
}

/// Publishes `asterisk` events when the AMI connection comes and goes, and
/// keeps the status board and metrics in step.
fn announce_asterisk(
    ami: AmiClient,
    hub: EventHub,
    board: StatusBoard,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut state = ami.state();
        let mut was_connected = false;
        loop {
            let now = state.borrow_and_update().clone();
            let connected = now.is_connected();
            board.set_ami(now.link());
            crate::metrics::set_ami_connected(connected);
            if connected && !was_connected {
                crate::metrics::record_ami_reconnect();
            }
            if connected != was_connected {
                let payload = AsteriskStatus {
                    state: now.link(),
                    reason: (!connected).then(|| now.to_string()),
                };
                hub.publish_payload(&payload);
                was_connected = connected;
            }
            tokio::select! {
                changed = state.changed() => if changed.is_err() { break },
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
    })
}

impl Daemon {
    /// Starts everything and returns once the daemon can serve: migrations ran,
    /// the listener is bound and every readiness gate opened.
    pub async fn start(settings: Settings) -> Result<Daemon, DaemonError> {
        settings.prepare_dirs()?;
        crate::metrics::install();
        crate::metrics::name_event_types(
            &crate::events::EventKind::ALL.map(crate::events::EventKind::as_str),
        );
        let lock = acquire_lock(&settings)?;
        remove_stale_temps(&settings);
        let db = store::connect(&settings.effective_database_url()).await?;
        store::migrate(&db).await?;
        crate::service::kamailio::register_local_node(&db, &settings).await?;
        let settings = Arc::new(settings);
        let secrets = Secrets::load_or_create(&settings.state_dir)?;
        let check = secrets.check_value();
        if store::cluster::settle_key_check(&db, &check).await? != check {
            return Err(DaemonError::ForeignKey(
                settings.state_dir.join(crate::secrets::KEY_FILE),
            ));
        }
        let (leadership, held_lock) =
            crate::service::cluster::claim_kamailio(&db, &settings).await?;
        let (shutdown, shutdown_rx) = watch::channel(false);

        // AMI connects in the background: a daemon whose Asterisk is down still
        // serves the API and applies as soon as Asterisk is back.
        let ami = AmiClient::start(ami_settings(&settings)?);
        let hub = EventHub::new(
            &settings.node,
            settings.events.ring_size,
            settings.events.subscriber_queue,
        );
        let status = StatusBoard::default();
        let sink_hub = hub.clone();
        let sink_status = status.clone();
        let own_addresses: Vec<std::net::IpAddr> = crate::network::interface_addresses()
            .map(|found| found.into_iter().map(|a| a.address).collect())
            .unwrap_or_default();
        let live = LiveState::new(settings.security.clone(), &own_addresses);
        let sink_live = live.clone();
        let events: EventSink = Arc::new(move |event| match event {
            WorkerEvent::Applied(applied) => {
                sink_status.set_last_apply(applied.status, std::time::Instant::now());
                // A trunk written may have gained or lost its registration.
                if applied.objects.iter().any(|o| o.kind == "trunk") {
                    sink_live.trunks.resync();
                }
                // Asterisk says nothing of hints removed (j3, o1): ask again.
                if applied.objects.iter().any(|o| o.kind == "dialplan") {
                    sink_live.presence.resync();
                }
                sink_hub.publish_payload(&applied);
            }
            WorkerEvent::Drift(drift) => {
                sink_hub.publish_payload(&drift);
            }
        });
        let (apply, worker) = apply::spawn(
            ApplyContext {
                db: db.clone(),
                settings: settings.clone(),
                ami: ami.clone(),
                events,
                secrets: secrets.clone(),
                kamailio_leader: leadership.flag(),
            },
            shutdown_rx.clone(),
        );
        let alive = apply.clone();
        status.watch_apply_worker(move || alive.is_alive());
        let (history_sink, history) =
            spawn_history_writer(db.clone(), settings.node.clone(), HISTORY_QUEUE);
        let apply_handle = apply.clone();
        let (security_watch, block_requests) = SecurityWatch::new(live.security.clone());
        let mut background = live.track(&ami, &shutdown_rx);
        background.extend([
            feed_events(
                ami.clone(),
                hub.clone(),
                history_sink,
                live.clone(),
                security_watch,
                apply.clone(),
                shutdown_rx.clone(),
            ),
            announce_asterisk(
                ami.clone(),
                hub.clone(),
                status.clone(),
                shutdown_rx.clone(),
            ),
        ]);
        let services = Services::new(Parts {
            db: db.clone(),
            settings: settings.clone(),
            ami: ami.clone(),
            apply,
            live,
            events: hub,
            secrets: secrets.clone(),
        });
        background.extend(
            crate::service::cluster::Follower {
                db: db.clone(),
                settings: settings.clone(),
                apply: apply_handle,
                tokens: services.tokens().clone(),
                ami: ami.clone(),
                leadership,
                held: held_lock,
            }
            .spawn(shutdown_rx.clone()),
        );
        background.push(
            services
                .security()
                .clone()
                .run(block_requests, shutdown_rx.clone()),
        );
        services.templates().sync_builtin_templates().await?;
        if let Some(path) = services.tokens().bootstrap_admin_token().await? {
            tracing::info!(file = %path.display(), "first start: wrote an admin token");
        }

        let listener = listen(&settings.listen)
            .await
            .map_err(|source| DaemonError::Listen {
                addr: settings.listen.clone(),
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| DaemonError::Listen {
                addr: settings.listen.clone(),
                source,
            })?;
        let url_file = settings.state_dir.join(URL_FILE);
        std::fs::write(&url_file, format!("http://{addr}\n")).map_err(|source| {
            DaemonError::Io {
                what: format!("cannot write {}", url_file.display()),
                source,
            }
        })?;

        let mut server_shutdown = shutdown_rx.clone();
        let cors = CorsOrigins::new(&settings.cors_origins);
        let runtime = Runtime {
            cors: cors.clone(),
            status: status.clone(),
        };
        let app = crate::api::router(services.clone(), runtime, settings.max_body_bytes);
        let limits = crate::server::Limits {
            max_connections: settings.http.max_connections,
            header_read_timeout: Duration::from_millis(settings.http.header_read_timeout_ms),
            idle_timeout: Duration::from_millis(settings.http.idle_timeout_ms),
        };
        let server = tokio::spawn(crate::server::serve(listener, app, limits, async move {
            let _ = server_shutdown.wait_for(|stop| *stop).await;
        }));
        tracing::info!(%addr, node = %settings.node, "rayand listening");

        // READY=1 waits until the first AMI connection was attempted (it may
        // have failed: the daemon is useful while Asterisk is down).
        let mut readiness = ReadinessGates::default();
        let mut ami_state = ami.state();
        readiness.add("first AMI connection attempt", async move {
            let _ = ami_state
                .wait_for(|s| !matches!(s, crate::ami::ConnectionState::Connecting))
                .await;
        });
        readiness.wait(READINESS_LIMIT).await;
        Ok(Daemon {
            addr,
            services,
            cors,
            status,
            db,
            secrets,
            ami,
            shutdown,
            server,
            worker,
            background,
            history,
            _lock: lock,
        })
    }

    /// The database, for a caller that reads the store directly (tests, tools).
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The key trunk secrets are encrypted with.
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting requests, closes every event stream (1001), lets running
    /// requests finish for up to [`SHUTDOWN_GRACE`], lets a running apply and the
    /// call history writer finish (bounded), closes the AMI connections, and returns.
    pub async fn stop(self) -> std::io::Result<()> {
        let _ = self.shutdown.send(true);
        if !self.services.streams().close(STREAMS_GRACE).await {
            tracing::warn!("some event streams did not close in time");
        }
        let mut server = self.server;
        let served = match tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(std::io::Error::other(join)),
            Err(_) => {
                tracing::warn!(grace = ?SHUTDOWN_GRACE, "requests still running after the shutdown grace; closing them");
                server.abort();
                Ok(())
            }
        };
        if tokio::time::timeout(APPLY_GRACE, self.worker)
            .await
            .is_err()
        {
            tracing::warn!("the running apply did not finish in time");
        }
        for task in self.background {
            task.abort();
        }
        // The pump is gone with the background tasks: the writer stores what is queued and ends.
        if tokio::time::timeout(HISTORY_GRACE, self.history)
            .await
            .is_err()
        {
            tracing::warn!("the call history writer did not finish in time");
        }
        self.ami.shutdown().await;
        served
    }

    /// Runs until the server ends on its own (it does not, short of an error).
    pub async fn wait(&mut self) -> std::io::Result<()> {
        match (&mut self.server).await {
            Ok(result) => result,
            Err(join) => Err(std::io::Error::other(join)),
        }
    }
}
