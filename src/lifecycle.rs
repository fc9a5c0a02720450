//! The running daemon's main loop: tells systemd it is ready, pings the watchdog
//! while the daemon is healthy, reloads settings on SIGHUP, and shuts down
//! cleanly on SIGTERM or SIGINT.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use sea_orm::DatabaseConnection;
use thiserror::Error;
use tokio::signal::unix::{SignalKind, signal};

use crate::api::CorsOrigins;
use crate::config::Settings;
use crate::daemon::Daemon;
use crate::logging::{LevelChange, LogControl};
use crate::service::Services;
use crate::service::status::StatusBoard;
use crate::systemd::Notifier;

/// How often the status line is refreshed when systemd runs no watchdog, and the
/// longest gap between watchdog pings in any case.
const STATUS_EVERY: Duration = Duration::from_secs(10);
/// The longest a health check query may take; a slower database counts as down,
/// and the main loop is back to its signals soon.
const CHECK_LIMIT: Duration = Duration::from_secs(3);

#[derive(Debug, Error)]
pub enum LifecycleError {
    #[error("cannot watch {signal}: {source}")]
    Signal {
        signal: &'static str,
        source: std::io::Error,
    },
    #[error("the HTTP server stopped: {0}")]
    Server(std::io::Error),
    #[error("shutdown failed: {0}")]
    Shutdown(std::io::Error),
}

/// Runs a started [`Daemon`] until it is told to stop.
pub struct Supervisor {
    /// The settings file SIGHUP re-reads (with the same `RAYAN_*` environment).
    config_path: Option<PathBuf>,
    /// The settings in effect: as started, plus what SIGHUPs applied.
    in_effect: Settings,
    log: LogControl,
    notifier: Notifier,
    /// Taken by `run`; registered in `new` so that no signal is missed meanwhile.
    signals: Option<Signals>,
}

struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

/// The daemon's health as the watchdog sees it.
struct Health {
    db: DatabaseConnection,
    status: StatusBoard,
}

impl Health {
    /// The status line when healthy (the database answers within `limit` and the
    /// apply worker, if any, is alive); `Err` with the reason otherwise.
    async fn check(&self, limit: Duration) -> Result<String, &'static str> {
        let answered = tokio::time::timeout(limit, crate::store::ping(&self.db))
            .await
            .unwrap_or(false);
        if !answered {
            return Err("database unreachable");
        }
        let board = self.status.snapshot();
        if board.apply_worker_alive == Some(false) {
            return Err("apply worker stopped");
        }
        let extensions = tokio::time::timeout(limit, crate::store::extensions::count(&self.db))
            .await
            .ok()
            .and_then(Result::ok);
        Ok(board.status_line(extensions, Instant::now()))
    }
}

fn watch(
    kind: SignalKind,
    name: &'static str,
) -> Result<tokio::signal::unix::Signal, LifecycleError> {
    signal(kind).map_err(|source| LifecycleError::Signal {
        signal: name,
        source,
    })
}

impl Supervisor {
    /// Takes over SIGTERM, SIGINT and SIGHUP at once: create it before starting
    /// the daemon, so that a signal arriving during start-up is handled once the
    /// daemon is ready instead of killing it.
    pub fn new(
        config_path: Option<PathBuf>,
        in_effect: Settings,
        log: LogControl,
        notifier: Notifier,
    ) -> Result<Self, LifecycleError> {
        Ok(Supervisor {
            config_path,
            in_effect,
            log,
            notifier,
            signals: Some(Signals {
                terminate: watch(SignalKind::terminate(), "SIGTERM")?,
                interrupt: watch(SignalKind::interrupt(), "SIGINT")?,
                hangup: watch(SignalKind::hangup(), "SIGHUP")?,
            }),
        })
    }

    /// Reports ready, then loops until SIGTERM/SIGINT (returns `Ok` after a clean
    /// shutdown) or until the HTTP server fails.
    pub async fn run(mut self, mut daemon: Daemon) -> Result<(), LifecycleError> {
        let Some(Signals {
            mut terminate,
            mut interrupt,
            mut hangup,
        }) = self.signals.take()
        else {
            return Err(LifecycleError::Signal {
                signal: "SIGTERM",
                source: std::io::Error::other("the supervisor already ran"),
            });
        };
        let every = self
            .notifier
            .watchdog_interval()
            .map_or(STATUS_EVERY, |w| w.min(STATUS_EVERY));
        let limit = every.min(CHECK_LIMIT);
        let health = Health {
            db: daemon.db().clone(),
            status: daemon.status.clone(),
        };
        let (services, cors) = (daemon.services.clone(), daemon.cors.clone());

        let line = health
            .check(limit)
            .await
            .unwrap_or_else(|reason| reason.to_owned());
        self.notifier.ready(&line);
        tracing::info!(status = %line, "rayand ready");

        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let reason = {
            let server = daemon.wait();
            tokio::pin!(server);
            loop {
                tokio::select! {
                    _ = terminate.recv() => break "SIGTERM",
                    _ = interrupt.recv() => break "SIGINT",
                    _ = hangup.recv() => {
                        self.reload(&services, &cors);
                        let line = health.check(limit).await.unwrap_or_else(|reason| reason.to_owned());
                        self.notifier.ready(&line);
                    }
                    _ = ticks.tick() => self.tick(&health, limit).await,
                    result = &mut server => {
                        let error = result.err().unwrap_or_else(|| std::io::Error::other("the server ended"));
                        return Err(LifecycleError::Server(error));
                    }
                }
            }
        };
        tracing::info!(signal = reason, "shutting down");
        self.notifier.stopping("shutting down");
        daemon.stop().await.map_err(LifecycleError::Shutdown)?;
        tracing::info!("stopped");
        Ok(())
    }

    /// Pings the watchdog, with a fresh status line, only while healthy.
    async fn tick(&self, health: &Health, limit: Duration) {
        match health.check(limit).await {
            Ok(line) => self.notifier.alive(&line),
            Err(reason) => {
                tracing::warn!(reason, "unhealthy: not pinging the watchdog");
                self.notifier.status(reason);
            }
        }
    }

    /// SIGHUP: re-reads the settings, applies those that can change at run time
    /// (log level, CORS origins), drops the token cache, and names what needs a restart.
    fn reload(&mut self, services: &Services, cors: &CorsOrigins) {
        self.notifier.reloading();
        let new = match Settings::load(self.config_path.as_deref(), std::env::vars()) {
            Ok(new) => new,
            Err(error) => {
                tracing::error!(%error, "SIGHUP: settings not reloaded; the current ones stay in effect");
                return;
            }
        };
        let changes = self.in_effect.changes_to(&new);
        services.tokens().forget_cached();
        if changes.runtime.iter().any(|k| k == "cors_origins") {
            cors.replace(&new.cors_origins);
            self.in_effect.cors_origins = new.cors_origins.clone();
        }
        let changed = if changes.runtime.is_empty() {
            "none".to_owned()
        } else {
            changes.runtime.join(", ")
        };
        tracing::info!(changed = %changed, "SIGHUP: settings reloaded, token cache cleared");
        if !changes.need_restart.is_empty() {
            tracing::warn!(
                keys = %changes.need_restart.join(", "),
                "SIGHUP: these settings changed but cannot change at run time; restart rayand to apply them"
            );
        }
        // Last, so that the lines above are written at the old level.
        if changes.runtime.iter().any(|k| k == "log_level") {
            match self.log.set_level(&new.log_level) {
                Ok(LevelChange::Applied) => self.in_effect.log_level = new.log_level,
                Ok(LevelChange::OverriddenByEnvironment) => {
                    tracing::warn!(
                        "SIGHUP: log_level changed but RUST_LOG is set and wins until restart"
                    )
                }
                Err(error) => tracing::error!(%error, "SIGHUP: log level not changed"),
            }
        }
    }
}
