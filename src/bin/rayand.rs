//! `rayand`: the rayan daemon.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use rayan::config::Settings;
use rayan::daemon::Daemon;

#[derive(Parser)]
#[command(name = "rayand", version, about = "rayan daemon: keeps Asterisk and Kamailio in step with the database")]
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

fn init_logging(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&settings.log_level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if settings.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref(), std::env::vars())?;
    match cli.command.unwrap_or(Command::Run) {
        Command::CheckConfig => {
            settings.prepare_dirs()?;
            println!("configuration is valid");
            Ok(())
        }
        Command::Migrate => {
            init_logging(&settings);
            settings.prepare_dirs()?;
            let db = rayan::store::connect(&settings.effective_database_url()).await?;
            rayan::store::migrate(&db).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Run => {
            init_logging(&settings);
            let mut daemon = Daemon::start(settings).await?;
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .context("cannot watch SIGTERM")?;
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
                _ = tokio::signal::ctrl_c() => tracing::info!("interrupt: shutting down"),
                result = daemon.wait() => return result.context("the HTTP server stopped"),
            }
            daemon.stop().await.context("shutdown")?;
            Ok(())
        }
    }
}
