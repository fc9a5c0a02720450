//! The daemon's log output: `tracing` to stderr, plain text (no colours unless on
//! a terminal, so journald stores clean lines) or JSON, with a level filter that
//! a SIGHUP can replace.

use thiserror::Error;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, fmt, reload};

use crate::config::Settings;

#[derive(Debug, Error)]
pub enum LoggingError {
    #[error("'{0}' is not a log filter")]
    BadFilter(String),
    #[error("cannot install the logger: {0}")]
    Install(String),
    #[error("cannot change the log level: {0}")]
    Reload(String),
}

/// What a SIGHUP did with `log_level`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LevelChange {
    Applied,
    /// `RUST_LOG` is set; it wins over the settings file until restart.
    OverriddenByEnvironment,
}

/// Changes the log filter while running.
pub struct LogControl {
    handle: reload::Handle<EnvFilter, Registry>,
    from_environment: bool,
}

/// Installs the process-wide logger. `RUST_LOG`, when set, wins over `log_level`.
pub fn init(settings: &Settings) -> Result<LogControl, LoggingError> {
    let from_environment = std::env::var_os(EnvFilter::DEFAULT_ENV).is_some();
    let filter = match EnvFilter::try_from_default_env() {
        Ok(filter) => filter,
        Err(_) => parse_filter(&settings.log_level)?,
    };
    let (filter, handle) = reload::Layer::new(filter);
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let json = settings.log_format == "json";
    let text_layer = (!json).then(|| fmt::layer().with_writer(std::io::stderr).with_ansi(ansi));
    let json_layer = json.then(|| fmt::layer().json().with_writer(std::io::stderr));
    tracing_subscriber::registry()
        .with(filter)
        .with(text_layer)
        .with(json_layer)
        .try_init()
        .map_err(|e| LoggingError::Install(e.to_string()))?;
    log_panics();
    Ok(LogControl {
        handle,
        from_environment,
    })
}

/// Every panic becomes one log line, with where it happened, instead of the
/// standard hook's separate text on stderr (a handler's panic is then also
/// answered 500 by the API, without logging it again).
fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = match (
            payload.downcast_ref::<&str>(),
            payload.downcast_ref::<String>(),
        ) {
            (Some(text), _) => text,
            (None, Some(text)) => text.as_str(),
            (None, None) => "(no message)",
        };
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(panic = message, %location, "panicked");
    }));
}

fn parse_filter(level: &str) -> Result<EnvFilter, LoggingError> {
    EnvFilter::try_new(level).map_err(|_| LoggingError::BadFilter(level.to_owned()))
}

impl LogControl {
    /// Replaces the level filter with `level` (a `tracing` filter such as `debug`
    /// or `info,rayan=trace`).
    pub fn set_level(&self, level: &str) -> Result<LevelChange, LoggingError> {
        if self.from_environment {
            return Ok(LevelChange::OverriddenByEnvironment);
        }
        let filter = parse_filter(level)?;
        self.handle
            .reload(filter)
            .map_err(|e| LoggingError::Reload(e.to_string()))?;
        Ok(LevelChange::Applied)
    }
}
