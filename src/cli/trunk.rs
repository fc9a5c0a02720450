use std::io::BufRead;

use super::{CliError, CliResult};
use clap::{Args, Subcommand};
use serde_json::Value;

use super::Output;
use super::extension::{apply_summary, check_apply};
use super::output::cell;
use crate::client::{Client, encode};
use crate::model::trunk::{NewTrunk, TrunkPatch};

#[derive(Subcommand)]
pub enum TrunkCommand {
    /// Create a trunk from a provider template (see `rayan-ctl template list`).
    Create {
        name: String,
        /// Provider template id, e.g. telnyx.
        #[arg(long)]
        provider: String,
        #[command(flatten)]
        fields: TrunkFields,
    },
    /// List trunks.
    List {
        #[arg(long)]
        provider: Option<String>,
        #[arg(long)]
        limit: Option<u64>,
        #[arg(long)]
        offset: Option<u64>,
    },
    /// Show one trunk (never its password).
    Show { name: String },
    /// Register the trunk again now and say what the registrar answered.
    Check { name: String },
    /// Change the given fields only.
    Update {
        name: String,
        #[arg(long)]
        provider: Option<String>,
        #[command(flatten)]
        fields: TrunkFields,
    },
    /// Delete a trunk no route uses.
    Delete { name: String },
}

#[derive(Args)]
pub struct TrunkFields {
    #[arg(long)]
    username: Option<String>,
    /// Visible to other local users in the process list: prefer --password-stdin.
    #[arg(long, conflicts_with = "password_stdin")]
    password: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    /// Host name or IP address (default: the provider's).
    #[arg(long)]
    server: Option<String>,
    #[arg(long)]
    port: Option<u16>,
    #[arg(long)]
    did: Option<String>,
    #[arg(long)]
    context: Option<String>,
    /// Comma-separated, e.g. ulaw,alaw.
    #[arg(long, value_delimiter = ',')]
    codecs: Option<Vec<String>>,
    /// Comma-separated provider addresses (IP, CIDR or host).
    #[arg(long, value_delimiter = ',')]
    match_addresses: Option<Vec<String>>,
    #[arg(long, conflicts_with = "disable")]
    enable: bool,
    #[arg(long)]
    disable: bool,
    /// A PJSIP option beyond the provider template's, e.g.
    /// endpoint.dtmf_mode=info; repeat it for more. On update the given set
    /// replaces the current one.
    #[arg(long = "option", value_name = "SECTION.OPTION=VALUE", value_parser = super::extension::parse_option)]
    options: Vec<(String, String, String)>,
    /// On update: remove every option override.
    #[arg(long, conflicts_with = "options")]
    clear_options: bool,
    /// The transport it uses (default: the UDP transport of the settings).
    #[arg(long)]
    transport: Option<String>,
    /// On update: go back to the default transport.
    #[arg(long, conflicts_with = "transport")]
    default_transport: bool,
}

fn read_password_line() -> CliResult<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        return Err(CliError::usage(
            "--password-stdin: standard input held no password",
        ));
    }
    Ok(password)
}

impl TrunkFields {
    fn password(&mut self) -> CliResult<Option<String>> {
        match (self.password.take(), self.password_stdin) {
            (Some(p), _) => Ok(Some(p)),
            (None, true) => read_password_line().map(Some),
            (None, false) => Ok(None),
        }
    }

    fn enabled(&self) -> Option<bool> {
        (self.enable || self.disable).then_some(self.enable)
    }

    fn into_new(mut self, name: String, provider: String) -> CliResult<NewTrunk> {
        Ok(NewTrunk {
            options: super::extension::options_from(&self.options),
            name,
            provider,
            password: self.password()?,
            enabled: self.enabled(),
            username: self.username,
            server: self.server,
            port: self.port,
            did: self.did,
            context: self.context,
            codecs: self.codecs,
            match_addresses: self.match_addresses,
            transport: self.transport,
        })
    }

    /// Only what was given; `None` when nothing was.
    fn into_patch(mut self, provider: Option<String>) -> CliResult<Option<TrunkPatch>> {
        let patch = TrunkPatch {
            options: if self.clear_options {
                Some(None)
            } else {
                super::extension::options_from(&self.options).map(Some)
            },
            provider,
            password: self.password()?.map(Some),
            enabled: self.enabled(),
            username: self.username.map(Some),
            server: self.server.map(Some),
            port: self.port.map(Some),
            did: self.did.map(Some),
            context: self.context,
            codecs: self.codecs.map(Some),
            match_addresses: self.match_addresses,
            transport: if self.default_transport {
                Some(None)
            } else {
                self.transport.map(Some)
            },
        };
        Ok((patch != TrunkPatch::default()).then_some(patch))
    }
}

const COLUMNS: &[(&str, &str)] = &[
    ("NAME", "name"),
    ("PROVIDER", "provider"),
    ("USERNAME", "username"),
    ("SERVER", "server"),
    ("DID", "did"),
    ("CONTEXT", "context"),
    ("ENABLED", "enabled"),
];

pub async fn run(client: &Client, out: &Output, cmd: TrunkCommand) -> CliResult<()> {
    match cmd {
        TrunkCommand::Create {
            name,
            provider,
            fields,
        } => {
            let created = client
                .post("/api/v1/trunks", &fields.into_new(name, provider)?)
                .await?;
            out.object(&created);
            check_apply(&created)?;
        }
        TrunkCommand::List {
            provider,
            limit,
            offset,
        } => {
            let query = super::query_string(&[
                ("provider", provider),
                ("limit", limit.map(|n| n.to_string())),
                ("offset", offset.map(|n| n.to_string())),
            ]);
            let page = client.get(&format!("/api/v1/trunks{query}")).await?;
            let items = page
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            out.list(&page, &items, COLUMNS);
        }
        TrunkCommand::Check { name } => {
            let answer = client
                .post(
                    &format!("/api/v1/trunks/{}/check", encode(&name)),
                    &serde_json::json!({}),
                )
                .await?;
            if out.json {
                out.object(&answer);
            } else {
                println!(
                    "trunk {name}: {} ({})",
                    cell(answer["registration"].get("state")),
                    cell(answer.get("detail"))
                );
            }
            if answer["registration"]["state"] != "registered"
                && answer["registration"]["state"] != "none"
            {
                return Err(CliError::Failed(format!("trunk {name} is not registered")));
            }
        }
        TrunkCommand::Show { name } => {
            out.object(
                &client
                    .get(&format!("/api/v1/trunks/{}", encode(&name)))
                    .await?,
            );
        }
        TrunkCommand::Update {
            name,
            provider,
            fields,
        } => {
            let Some(patch) = fields.into_patch(provider)? else {
                return Err(CliError::usage(
                    "nothing to change: give at least one field, e.g. --server",
                ));
            };
            let updated = client
                .patch(&format!("/api/v1/trunks/{}", encode(&name)), &patch)
                .await?;
            out.object(&updated);
            check_apply(&updated)?;
        }
        TrunkCommand::Delete { name } => {
            let answer = client
                .delete(&format!("/api/v1/trunks/{}", encode(&name)))
                .await?;
            print_deleted(out, &format!("trunk {name}"), &answer);
        }
    }
    Ok(())
}

/// Confirms a delete with its apply outcome (or prints the answer for scripts).
pub(super) fn print_deleted(out: &Output, what: &str, answer: &Value) {
    if out.json {
        out.object(answer);
    } else {
        out.done(&format!("{what} deleted ({})", apply_summary(answer)));
    }
}
