//! Wiring: settings → lock → database → services → HTTP listener. The binary
//! calls [`Daemon::start`]; integration tests do the same on port 0.

use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use fs4::fs_std::FileExt;
use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{ConfigError, Settings};
use crate::service::{ServiceError, Services};
use crate::store::{self, StoreError};

/// Where `rayan-ctl` on the same host finds the daemon's URL.
pub const URL_FILE: &str = "rayand.url";
const LOCK_FILE: &str = "rayand.lock";

#[derive(Debug, Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("another rayand already manages {dir}: {holder}")]
    Locked { dir: PathBuf, holder: String },
    #[error("cannot open the database: {0}")]
    Database(#[from] StoreError),
    #[error("start-up failed: {0}")]
    Service(#[from] ServiceError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
}

/// A running daemon.
pub struct Daemon {
    pub addr: SocketAddr,
    pub services: Services,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    _lock: File,
}

/// Takes an exclusive lock so that two daemons never manage the same files. The
/// lock file names its holder so the second daemon can say who has it.
fn acquire_lock(settings: &Settings) -> Result<File, DaemonError> {
    let path = settings.state_dir.join(LOCK_FILE);
    let io = |what: &str| {
        let what = format!("{what} {}", path.display());
        move |source| DaemonError::Io { what, source }
    };
    let mut file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io("cannot open"))?;
    if !file.try_lock_exclusive().map_err(io("cannot lock"))? {
        let holder = std::fs::read_to_string(&path).unwrap_or_default();
        let holder = if holder.trim().is_empty() { "unknown holder".to_owned() } else { holder.trim().to_owned() };
        return Err(DaemonError::Locked { dir: settings.state_dir.clone(), holder });
    }
    file.set_len(0).map_err(io("cannot truncate"))?;
    writeln!(file, "pid {} (node {})", std::process::id(), settings.node).map_err(io("cannot write"))?;
    Ok(file)
}

impl Daemon {
    pub async fn start(settings: Settings) -> Result<Daemon, DaemonError> {
        settings.prepare_dirs()?;
        let lock = acquire_lock(&settings)?;
        let db = store::connect(&settings.effective_database_url()).await?;
        store::migrate(&db).await?;
        let settings = Arc::new(settings);
        let services = Services::new(db, settings.clone())?;
        services.sync_builtin_templates().await?;
        if let Some(path) = services.bootstrap_admin_token().await? {
            tracing::info!(file = %path.display(), "first start: wrote an admin token");
        }

        let listener = tokio::net::TcpListener::bind(&settings.listen)
            .await
            .map_err(|source| DaemonError::Listen { addr: settings.listen.clone(), source })?;
        let addr = listener.local_addr().map_err(|source| DaemonError::Listen { addr: settings.listen.clone(), source })?;
        let url_file = settings.state_dir.join(URL_FILE);
        std::fs::write(&url_file, format!("http://{addr}\n"))
            .map_err(|source| DaemonError::Io { what: format!("cannot write {}", url_file.display()), source })?;

        let (shutdown, mut shutdown_rx) = watch::channel(false);
        let app = crate::api::router(services.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = shutdown_rx.wait_for(|stop| *stop).await;
                })
                .await
        });
        tracing::info!(%addr, node = %settings.node, "rayand listening");
        Ok(Daemon { addr, services, shutdown, server, _lock: lock })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting requests, lets running ones finish, and returns.
    pub async fn stop(self) -> std::io::Result<()> {
        let _ = self.shutdown.send(true);
        match self.server.await {
            Ok(result) => result,
            Err(join) => Err(std::io::Error::other(join)),
        }
    }

    /// Runs until the server ends on its own (it does not, short of an error).
    pub async fn wait(&mut self) -> std::io::Result<()> {
        match (&mut self.server).await {
            Ok(result) => result,
            Err(join) => Err(std::io::Error::other(join)),
        }
    }
}
