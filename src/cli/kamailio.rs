//! `rayan-ctl kamailio status|dispatcher ...|address ...` and `rayan-ctl node list`.

use super::CliResult;
use clap::Subcommand;
use serde_json::{Value, json};

use super::Output;
use crate::client::Client;
use crate::service::kamailio::{DestinationState, NewAddress, NewDestination};

#[derive(Subcommand)]
pub enum KamailioCommand {
    /// Version, reachability and each destination's live state.
    Status,
    /// Dispatcher destinations (set 1 also holds every node's SIP address).
    #[command(subcommand)]
    Dispatcher(DispatcherCommand),
    /// Trusted addresses (permissions groups).
    #[command(subcommand)]
    Address(AddressCommand),
}

/// A state as the API spells it.
fn destination_state(word: &str) -> Result<DestinationState, String> {
    serde_json::from_value(Value::from(word)).map_err(|e| e.to_string())
}

#[derive(Subcommand)]
pub enum DispatcherCommand {
    List,
    Create {
        #[arg(long)]
        set: u32,
        /// `sip:<IP>[:port]`, IPv6 in brackets.
        #[arg(long)]
        uri: String,
        #[arg(long)]
        priority: Option<i32>,
        /// active, disabled or probing.
        #[arg(long, value_parser = destination_state)]
        state: Option<DestinationState>,
        #[arg(long)]
        weight: Option<u8>,
    },
    Delete {
        id: i64,
    },
}

#[derive(Subcommand)]
pub enum AddressCommand {
    List,
    Create {
        #[arg(long)]
        group: u32,
        /// A host or `network/prefix`.
        #[arg(long)]
        address: String,
        #[arg(long)]
        port: Option<u16>,
        #[arg(long)]
        tag: Option<String>,
    },
    Delete {
        id: i64,
    },
}

const DESTINATION_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("SET", "set_id"),
    ("URI", "uri"),
    ("STATE", "state"),
    ("PRIORITY", "priority"),
    ("WEIGHT", "weight"),
];
const ADDRESS_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("GROUP", "group"),
    ("ADDRESS", "address"),
    ("PORT", "port"),
    ("TAG", "tag"),
];

fn apply_note(out: &Output, answer: &Value) {
    if !out.json
        && let Some(status) = answer["apply"]["status"].as_str()
    {
        let detail = answer["apply"]["detail"]
            .as_str()
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        eprintln!("apply: {status}{detail}");
    }
}

pub async fn run(client: &Client, out: &Output, cmd: KamailioCommand) -> CliResult<()> {
    match cmd {
        KamailioCommand::Status => {
            let status = client.get("/api/v1/kamailio/status").await?;
            if out.json {
                out.object(&status);
            } else {
                let summary = json!({
                    "rpc_url": status["rpc_url"], "reachable": status["reachable"],
                    "version": status["version"], "error": status["error"],
                });
                out.object(&summary);
                let live = status["destinations"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                out.list(
                    &status,
                    &live,
                    &[
                        ("SET", "set_id"),
                        ("URI", "uri"),
                        ("FLAGS", "flags"),
                        ("PRIORITY", "priority"),
                    ],
                );
            }
        }
        KamailioCommand::Dispatcher(DispatcherCommand::List) => {
            let list = super::all_items(client, "/api/v1/kamailio/dispatchers").await?;
            out.list(&super::whole_page(list.clone()), &list, DESTINATION_COLUMNS);
        }
        KamailioCommand::Dispatcher(DispatcherCommand::Create {
            set,
            uri,
            priority,
            state,
            weight,
        }) => {
            let destination = NewDestination {
                set_id: set,
                uri,
                priority,
                state,
                weight,
                duid: None,
                attrs: None,
            };
            let created = client
                .post("/api/v1/kamailio/dispatchers", &destination)
                .await?;
            out.object(&created);
            apply_note(out, &created);
        }
        KamailioCommand::Dispatcher(DispatcherCommand::Delete { id }) => {
            let answer = client
                .delete(&format!("/api/v1/kamailio/dispatchers/{id}"))
                .await?;
            out.done(&format!("destination {id} deleted"));
            apply_note(out, &answer);
        }
        KamailioCommand::Address(AddressCommand::List) => {
            let list = super::all_items(client, "/api/v1/kamailio/addresses").await?;
            out.list(&super::whole_page(list.clone()), &list, ADDRESS_COLUMNS);
        }
        KamailioCommand::Address(AddressCommand::Create {
            group,
            address,
            port,
            tag,
        }) => {
            let trusted = NewAddress {
                group,
                address,
                port,
                tag,
            };
            let created = client.post("/api/v1/kamailio/addresses", &trusted).await?;
            out.object(&created);
            apply_note(out, &created);
        }
        KamailioCommand::Address(AddressCommand::Delete { id }) => {
            let answer = client
                .delete(&format!("/api/v1/kamailio/addresses/{id}"))
                .await?;
            out.done(&format!("trusted address {id} deleted"));
            apply_note(out, &answer);
        }
    }
    Ok(())
}

/// `rayan-ctl node list`.
pub async fn list_nodes(client: &Client, out: &Output) -> CliResult<()> {
    let list = super::all_items(client, "/api/v1/nodes").await?;
    out.list(
        &super::whole_page(list.clone()),
        &list,
        &[
            ("NAME", "name"),
            ("SIP", "sip_address"),
            ("AMI", "ami_address"),
            ("LAST SEEN", "last_seen_at"),
        ],
    );
    Ok(())
}
