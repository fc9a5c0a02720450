//! `rayan-ctl`: argument parsing, commands, and how results are printed.

mod asterisk;
mod calls;
mod events;
mod extension;
mod import;
mod kamailio;
mod output;
mod route;
mod security;
mod template;
mod token;
mod transport;
mod trunk;

use clap::{Parser, Subcommand};

use crate::client::{Client, candidate_state_dirs, discover_token, discover_url};
pub use output::Output;

#[derive(Parser)]
#[command(
    name = "rayan-ctl",
    version,
    about = "Manage rayan: extensions, trunks, tokens, applies, events"
)]
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
    /// Create, list, show, change and delete trunks.
    #[command(subcommand)]
    Trunk(trunk::TrunkCommand),
    /// Adopt the phones written by hand in Asterisk's pjsip.conf (and its
    /// includes): they keep their passwords and stay registered.
    Import {
        /// Show the plan and the diffs; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Read this pjsip.conf on rayand's host (dry runs only).
        #[arg(long, requires = "dry_run")]
        pjsip: Option<String>,
    },
    /// PJSIP transports: sockets, NAT and TLS.
    #[command(subcommand)]
    Transport(transport::TransportCommand),
    /// This host's networks and a suggested local_net.
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Asterisk itself: restart it to apply transport changes.
    #[command(subcommand)]
    Asterisk(AsteriskCommand),
    /// Inbound and outbound routes.
    #[command(subcommand)]
    Route(route::RouteCommand),
    /// Extension and provider templates.
    #[command(subcommand)]
    Template(template::TemplateCommand),
    /// Re-render everything and reload Asterisk, or show what would change.
    Apply {
        /// Show the unified diff an apply would write; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// AMI connection, Asterisk version, last reload, last error, drift.
    Status,
    /// Follow the event stream.
    #[command(subcommand)]
    Events(events::EventsCommand),
    /// The call history; hang up a live call.
    #[command(subcommand)]
    Calls(calls::CallsCommand),
    /// Ring extension FROM and, once it answers, connect it to TO.
    Call { from: String, to: String },
    /// Kamailio: live status, dispatcher destinations, trusted addresses.
    #[command(subcommand)]
    Kamailio(kamailio::KamailioCommand),
    /// The Asterisk nodes rayan knows.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Failed authentications and blocked addresses.
    #[command(subcommand)]
    Security(security::SecurityCommand),
}

#[derive(Subcommand)]
pub enum NodeCommand {
    List,
}

#[derive(Subcommand)]
pub enum NetworkCommand {
    /// Print this host's networks, the transports' binds and a suggested local_net.
    Detect,
}

#[derive(Subcommand)]
pub enum AsteriskCommand {
    /// Restart Asterisk after the calls in progress end, wait until it is back,
    /// and check every transport.
    Restart {
        /// Restart at once, dropping the calls in progress.
        #[arg(long)]
        now: bool,
        /// Seconds to wait for Asterisk to be back.
        #[arg(long, default_value_t = 60)]
        wait: u64,
    },
}

/// Why a command failed; its text is what the user sees.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The request did not get the answer it needed (unreachable, a problem document).
    #[error(transparent)]
    Client(#[from] crate::client::ClientError),
    /// The command line asked for something that cannot be done.
    #[error("{0}")]
    Usage(String),
    /// The daemon did what was asked but Asterisk did not load it all.
    #[error("{0}")]
    Failed(String),
    /// The event stream could not be opened or broke.
    #[error("{0}")]
    Stream(String),
    #[error("cannot read standard input: {0}")]
    Stdin(#[from] std::io::Error),
    #[error("unexpected answer: {0}")]
    Json(#[from] serde_json::Error),
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::Usage(message.into())
    }
}

pub type CliResult<T> = Result<T, CliError>;

/// Runs one command; the error is what the user sees.
pub async fn run(cli: Cli) -> CliResult<()> {
    let dirs = candidate_state_dirs();
    let url = discover_url(cli.url, &dirs);
    let token = discover_token(cli.token, &dirs)?;
    let client = Client::new(url, token);
    let out = Output { json: cli.json };
    match cli.command {
        Command::Extension(cmd) => extension::run(&client, &out, cmd).await,
        Command::Token(cmd) => token::run(&client, &out, cmd).await,
        Command::Trunk(cmd) => trunk::run(&client, &out, cmd).await,
        Command::Import { dry_run, pjsip } => import::run(&client, &out, dry_run, pjsip).await,
        Command::Transport(cmd) => transport::run(&client, &out, cmd).await,
        Command::Network(NetworkCommand::Detect) => transport::detect(&client, &out).await,
        Command::Asterisk(AsteriskCommand::Restart { now, wait }) => {
            asterisk::restart(&client, &out, now, wait).await
        }
        Command::Route(cmd) => route::run(&client, &out, cmd).await,
        Command::Template(cmd) => template::run(&client, &out, cmd).await,
        Command::Apply { dry_run } => asterisk::apply(&client, &out, dry_run).await,
        Command::Status => asterisk::status(&client, &out).await,
        Command::Events(cmd) => events::run(&client, &out, cmd).await,
        Command::Calls(cmd) => calls::run(&client, &out, cmd).await,
        Command::Call { from, to } => calls::call(&client, &out, from, to).await,
        Command::Kamailio(cmd) => kamailio::run(&client, &out, cmd).await,
        Command::Security(cmd) => security::run(&client, &out, cmd).await,
        Command::Node(NodeCommand::List) => kamailio::list_nodes(&client, &out).await,
    }
}

/// Every item of a paged list, reading page after page (`path` has no query).
async fn all_items(client: &Client, path: &str) -> CliResult<Vec<serde_json::Value>> {
    const PAGE: usize = 1000;
    let mut items = Vec::new();
    loop {
        let page = client
            .get(&format!("{path}?limit={PAGE}&offset={}", items.len()))
            .await?;
        let batch = page
            .get("items")
            .and_then(serde_json::Value::as_array)
            .cloned()
            .unwrap_or_default();
        let total = page
            .get("total")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        let done = batch.len() < PAGE;
        items.extend(batch);
        if done || items.len() as u64 >= total {
            return Ok(items);
        }
    }
}

/// A whole list as one page, as rayand answers a list that fits in one.
fn whole_page(items: Vec<serde_json::Value>) -> serde_json::Value {
    let total = items.len();
    serde_json::json!({"items": items, "total": total, "limit": total, "offset": 0})
}

/// `?k=v&...` from the pairs that have a value; empty when none has.
fn query_string(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| {
            v.as_ref()
                .map(|v| format!("{k}={}", crate::client::encode(v)))
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    use crate::model::extension::{ExtensionPatch, NewExtension};
    use crate::model::routes::InboundRoutePatch;
    use crate::model::trunk::TrunkPatch;

    /// What the API reads from the JSON the CLI sends for `request`.
    fn as_the_api_reads_it<T: Serialize + DeserializeOwned>(request: &T) -> T {
        let json = serde_json::to_string(request).expect("encodes");
        serde_json::from_str(&json).expect("the API accepts what the CLI sends")
    }

    fn text() -> impl Strategy<Value = String> {
        "[ -~]{0,12}"
    }

    /// Absent, `null` (clear) or a value: the three things a patch field can say.
    fn clearable<T: std::fmt::Debug + Clone>(
        value: impl Strategy<Value = T>,
    ) -> impl Strategy<Value = Option<Option<T>>> {
        proptest::option::of(proptest::option::of(value))
    }

    /// clap's own checks of the whole command tree (duplicate flags, bad defaults),
    /// which otherwise only fire when a user runs the broken subcommand.
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }

    #[test]
    fn csv_rows_read_by_their_header() {
        let rows = super::extension::read_csv(
            "name,extension,enabled,codecs,max_contacts\nAl,2001,false,\"ulaw, alaw\",3\nBo,2002,,,\n",
        )
        .expect("reads");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].extension, "2001");
        assert_eq!(rows[0].enabled, Some(false));
        assert_eq!(
            rows[0].codecs,
            Some(vec!["ulaw".to_owned(), "alaw".to_owned()])
        );
        assert_eq!(rows[0].max_contacts, Some(3));
        assert_eq!((rows[1].enabled, rows[1].codecs.as_ref()), (None, None));
        assert!(super::extension::read_csv("extension,enabled\n1,maybe\n").is_err());
        assert!(super::extension::read_csv("extension,max_contacts\n1,many\n").is_err());
    }

    proptest! {
        #[test]
        fn patches_say_absent_null_and_value_apart(
            name in clearable(text()),
            codecs in clearable(proptest::collection::vec(text(), 0..3)),
            max_contacts in clearable(any::<u32>()),
            caller_id in clearable(text()),
            password in proptest::option::of(text()),
            enabled in proptest::option::of(any::<bool>()),
            trunk in clearable(text()),
            port in clearable(any::<u16>()),
        ) {
            let extension = ExtensionPatch { name, codecs: codecs.clone(), max_contacts, caller_id, password: password.clone(), enabled, ..Default::default() };
            prop_assert_eq!(as_the_api_reads_it(&extension), extension);
            let route = InboundRoutePatch { trunk: trunk.clone(), ..Default::default() };
            prop_assert_eq!(as_the_api_reads_it(&route), route);
            let trunk_patch = TrunkPatch { port, username: trunk, password: password.map(Some), codecs, enabled, ..Default::default() };
            prop_assert_eq!(as_the_api_reads_it(&trunk_patch), trunk_patch);
        }

        #[test]
        fn a_new_extension_arrives_whole(
            extension in "[0-9]{1,6}",
            name in proptest::option::of(text()),
            max_contacts in proptest::option::of(any::<u32>()),
            enabled in proptest::option::of(any::<bool>()),
        ) {
            let new = NewExtension { extension, name, max_contacts, enabled, ..Default::default() };
            prop_assert_eq!(as_the_api_reads_it(&new), new);
        }
    }
}
