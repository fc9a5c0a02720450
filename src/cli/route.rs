use super::{CliError, CliResult};
use clap::{Args, Subcommand};
use serde_json::Value;

use super::Output;
use super::extension::check_apply;
use super::trunk::print_deleted;
use crate::client::{Client, encode};
use crate::model::routes::{
    InboundRoutePatch, NewInboundRoute, NewOutboundRoute, OutboundRoutePatch,
};

#[derive(Subcommand)]
pub enum RouteCommand {
    /// Calls to a DID ring an extension.
    #[command(subcommand)]
    Inbound(InboundCommand),
    /// Numbers matching a pattern go out through a trunk.
    #[command(subcommand)]
    Outbound(OutboundCommand),
}

#[derive(Subcommand)]
pub enum InboundCommand {
    /// Create an inbound route.
    Create {
        /// The dialled number as the provider delivers it, e.g. +15551234567.
        #[arg(long)]
        did: String,
        /// Destination extension.
        #[arg(long)]
        extension: String,
        /// Only calls from this trunk (default: any trunk).
        #[arg(long)]
        trunk: Option<String>,
    },
    /// List inbound routes.
    List {
        #[arg(long)]
        trunk: Option<String>,
        #[arg(long)]
        extension: Option<String>,
    },
    /// Show one inbound route.
    Show { id: i64 },
    /// Change the given fields only.
    Update {
        id: i64,
        #[arg(long)]
        did: Option<String>,
        #[arg(long)]
        extension: Option<String>,
        #[arg(long, conflicts_with = "any_trunk")]
        trunk: Option<String>,
        /// Take calls from any trunk.
        #[arg(long)]
        any_trunk: bool,
    },
    /// Delete an inbound route.
    Delete { id: i64 },
}

#[derive(Subcommand)]
pub enum OutboundCommand {
    /// Create an outbound route.
    Create {
        name: String,
        #[command(flatten)]
        fields: OutboundFields,
    },
    /// List outbound routes (by priority).
    List {
        #[arg(long)]
        trunk: Option<String>,
        #[arg(long)]
        context: Option<String>,
    },
    /// Show one outbound route.
    Show { name: String },
    /// Change the given fields only.
    Update {
        name: String,
        #[command(flatten)]
        fields: OutboundFields,
    },
    /// Delete an outbound route.
    Delete { name: String },
}

#[derive(Args)]
pub struct OutboundFields {
    /// Asterisk dial pattern, e.g. _1NXXNXXXXXX.
    #[arg(long)]
    pattern: Option<String>,
    #[arg(long)]
    trunk: Option<String>,
    /// Digits removed from the front.
    #[arg(long)]
    strip: Option<u32>,
    /// Digits added to the front after stripping.
    #[arg(long)]
    prepend: Option<String>,
    /// Lower runs first.
    #[arg(long)]
    priority: Option<i32>,
    /// The callers' context.
    #[arg(long)]
    context: Option<String>,
}

impl OutboundFields {
    fn into_new(self, name: String) -> CliResult<NewOutboundRoute> {
        let (Some(pattern), Some(trunk)) = (self.pattern, self.trunk) else {
            return Err(CliError::usage(
                "a new outbound route needs --pattern and --trunk",
            ));
        };
        Ok(NewOutboundRoute {
            name,
            pattern,
            trunk,
            strip: self.strip,
            prepend: self.prepend,
            priority: self.priority,
            context: self.context,
        })
    }

    /// Only what was given; `None` when nothing was.
    fn into_patch(self) -> Option<OutboundRoutePatch> {
        let patch = OutboundRoutePatch {
            pattern: self.pattern,
            trunk: self.trunk,
            strip: self.strip,
            prepend: self.prepend,
            priority: self.priority,
            context: self.context,
        };
        (patch != OutboundRoutePatch::default()).then_some(patch)
    }
}

const INBOUND_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("DID", "did"),
    ("TRUNK", "trunk"),
    ("EXTENSION", "extension"),
];

const OUTBOUND_COLUMNS: &[(&str, &str)] = &[
    ("NAME", "name"),
    ("PATTERN", "pattern"),
    ("TRUNK", "trunk"),
    ("STRIP", "strip"),
    ("PREPEND", "prepend"),
    ("PRIORITY", "priority"),
    ("CONTEXT", "context"),
];

async fn print_page(
    client: &Client,
    out: &Output,
    path: String,
    columns: &[(&str, &str)],
) -> CliResult<()> {
    let page = client.get(&path).await?;
    let items = page
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    out.list(&page, &items, columns);
    Ok(())
}

/// Prints a written route and fails when Asterisk did not load it.
fn written(out: &Output, answer: &Value) -> CliResult<()> {
    out.object(answer);
    check_apply(answer)
}

pub async fn run(client: &Client, out: &Output, cmd: RouteCommand) -> CliResult<()> {
    match cmd {
        RouteCommand::Inbound(cmd) => inbound(client, out, cmd).await,
        RouteCommand::Outbound(cmd) => outbound(client, out, cmd).await,
    }
}

async fn inbound(client: &Client, out: &Output, cmd: InboundCommand) -> CliResult<()> {
    match cmd {
        InboundCommand::Create {
            did,
            extension,
            trunk,
        } => {
            let route = NewInboundRoute {
                did,
                extension,
                trunk,
            };
            written(out, &client.post("/api/v1/inbound-routes", &route).await?)?;
        }
        InboundCommand::List { trunk, extension } => {
            let query = super::query_string(&[("trunk", trunk), ("extension", extension)]);
            print_page(
                client,
                out,
                format!("/api/v1/inbound-routes{query}"),
                INBOUND_COLUMNS,
            )
            .await?;
        }
        InboundCommand::Show { id } => {
            out.object(&client.get(&format!("/api/v1/inbound-routes/{id}")).await?);
        }
        InboundCommand::Update {
            id,
            did,
            extension,
            trunk,
            any_trunk,
        } => {
            let patch = InboundRoutePatch {
                did,
                extension,
                trunk: match trunk {
                    Some(trunk) => Some(Some(trunk)),
                    None => any_trunk.then_some(None),
                },
            };
            if patch == InboundRoutePatch::default() {
                return Err(CliError::usage(
                    "nothing to change: give at least one field, e.g. --extension",
                ));
            }
            let path = format!("/api/v1/inbound-routes/{id}");
            written(out, &client.patch(&path, &patch).await?)?;
        }
        InboundCommand::Delete { id } => {
            let answer = client
                .delete(&format!("/api/v1/inbound-routes/{id}"))
                .await?;
            print_deleted(out, &format!("inbound route {id}"), &answer);
        }
    }
    Ok(())
}

async fn outbound(client: &Client, out: &Output, cmd: OutboundCommand) -> CliResult<()> {
    match cmd {
        OutboundCommand::Create { name, fields } => {
            let route = fields.into_new(name)?;
            written(out, &client.post("/api/v1/outbound-routes", &route).await?)?;
        }
        OutboundCommand::List { trunk, context } => {
            let query = super::query_string(&[("trunk", trunk), ("context", context)]);
            print_page(
                client,
                out,
                format!("/api/v1/outbound-routes{query}"),
                OUTBOUND_COLUMNS,
            )
            .await?;
        }
        OutboundCommand::Show { name } => {
            out.object(
                &client
                    .get(&format!("/api/v1/outbound-routes/{}", encode(&name)))
                    .await?,
            );
        }
        OutboundCommand::Update { name, fields } => {
            let Some(patch) = fields.into_patch() else {
                return Err(CliError::usage(
                    "nothing to change: give at least one field, e.g. --pattern",
                ));
            };
            let path = format!("/api/v1/outbound-routes/{}", encode(&name));
            written(out, &client.patch(&path, &patch).await?)?;
        }
        OutboundCommand::Delete { name } => {
            let path = format!("/api/v1/outbound-routes/{}", encode(&name));
            let answer = client.delete(&path).await?;
            print_deleted(out, &format!("outbound route {name}"), &answer);
        }
    }
    Ok(())
}
