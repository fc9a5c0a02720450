//! `rayand`: the rayan daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rayan::config::{ConfigError, Settings};
use rayan::daemon::{Daemon, DaemonError};
use rayan::lifecycle::Supervisor;
use rayan::systemd::Notifier;

#[derive(Parser)]
#[command(
    name = "rayand",
    version,
    about = "rayan daemon: keeps Asterisk and Kamailio in step with the database"
)]
struct Cli {
    /// TOML settings file; RAYAN_* environment variables override it.
    #[arg(long, short, env = "RAYAN_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon (the default).
    Run,
    /// Validate the settings and exit.
    CheckConfig,
    /// Apply pending database migrations and exit.
    Migrate,
}

/// sysexits' EX_CONFIG: the unit does not restart on it (`RestartPreventExitStatus=78`).
const EXIT_CONFIG: u8 = 78;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line, so that journald and the terminal show the cause at once.
            let line = rayan::report::say_once(error.chain().map(ToString::to_string));
            eprintln!("rayand: {line}");
            ExitCode::from(if is_config_error(&error) {
                EXIT_CONFIG
            } else {
                1
            })
        }
    }
}

fn is_config_error(error: &anyhow::Error) -> bool {
    error.downcast_ref::<ConfigError>().is_some()
        || matches!(
            error.downcast_ref::<DaemonError>(),
            Some(DaemonError::Config(_))
        )
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref(), std::env::vars())?;
    match cli.command.unwrap_or(Command::Run) {
        Command::CheckConfig => {
            settings.prepare_dirs()?;
            println!("configuration is valid");
            Ok(())
        }
        Command::Migrate => {
            rayan::logging::init(&settings)?;
            settings.prepare_dirs()?;
            let db = rayan::store::connect(&settings.effective_database_url()).await?;
            rayan::store::migrate(&db).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Run => {
            let log = rayan::logging::init(&settings)?;
            let notifier = Notifier::from_env();
            // Signals are ours before start-up begins: one arriving early waits
            // for the daemon to be ready instead of killing it.
            let supervisor = Supervisor::new(cli.config, settings.clone(), log, notifier)?;
            let daemon = Daemon::start(settings).await?;
            supervisor.run(daemon).await?;
            Ok(())
        }
    }
}
