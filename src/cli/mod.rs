//! `rayan-ctl`: argument parsing, commands, and how results are printed.

mod asterisk;
mod extension;
mod kamailio;
mod output;
mod token;

use clap::{Parser, Subcommand};

use crate::client::{Client, candidate_state_dirs, discover_token, discover_url};
pub use output::Output;

#[derive(Parser)]
#[command(name = "rayan-ctl", version, about = "Manage rayan: extensions, trunks, tokens, applies, events")]
pub struct Cli {
    /// rayand's URL (default: what a local rayand wrote in its state dir, else http://127.0.0.1:8088).
    #[arg(long, env = "RAYAN_URL", global = true)]
    pub url: Option<String>,
    /// API token (default: the bootstrap admin token of a local rayand).
    #[arg(long, env = "RAYAN_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create, list, show, change and delete extensions.
    #[command(subcommand)]
    Extension(extension::ExtensionCommand),
    /// Create, list and revoke API tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Re-render everything and reload Asterisk, or show what would change.
    Apply {
        /// Show the unified diff an apply would write; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// AMI connection, Asterisk version, last reload, last error, drift.
    Status,
    /// Kamailio: live status, dispatcher destinations, trusted addresses.
    #[command(subcommand)]
    Kamailio(kamailio::KamailioCommand),
    /// The Asterisk nodes rayan knows.
    #[command(subcommand)]
    Node(NodeCommand),
}

#[derive(Subcommand)]
pub enum NodeCommand {
    List,
}

/// Runs one command; the error is what the user sees.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let dirs = candidate_state_dirs();
    let url = discover_url(cli.url, &dirs);
    let token = discover_token(cli.token, &dirs)?;
    let client = Client::new(url, token);
    let out = Output { json: cli.json };
    match cli.command {
        Command::Extension(cmd) => extension::run(&client, &out, cmd).await,
        Command::Token(cmd) => token::run(&client, &out, cmd).await,
        Command::Apply { dry_run } => asterisk::apply(&client, &out, dry_run).await,
        Command::Status => asterisk::status(&client, &out).await,
        Command::Kamailio(cmd) => kamailio::run(&client, &out, cmd).await,
        Command::Node(NodeCommand::List) => kamailio::list_nodes(&client, &out).await,
    }
}
