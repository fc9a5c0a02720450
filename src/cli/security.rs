//! `rayan-ctl security blocked|block|unblock|sources`.

use std::net::IpAddr;

use clap::Subcommand;
use serde_json::{Value, json};

use super::extension::check_apply;
use super::trunk::print_deleted;
use super::{CliResult, Output};
use crate::client::{Client, encode};

#[derive(Subcommand)]
pub enum SecurityCommand {
    /// List blocked addresses.
    Blocked,
    /// Block an address now (its SIP requests are refused).
    Block {
        address: IpAddr,
        #[arg(long)]
        reason: Option<String>,
        /// For this many seconds; without it, until unblocked.
        #[arg(long)]
        duration: Option<u64>,
    },
    /// Lift a block.
    Unblock { address: IpAddr },
    /// Sources with failed attempts, the most recent failures first.
    Sources {
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

const BLOCKED_COLUMNS: &[(&str, &str)] = &[
    ("ADDRESS", "address"),
    ("REASON", "reason"),
    ("BY", "blocked_by"),
    ("SINCE", "created_at"),
    ("EXPIRES", "expires_at"),
    ("IN", "enforced_by"),
];

const SOURCE_COLUMNS: &[(&str, &str)] = &[
    ("ADDRESS", "address"),
    ("RECENT", "recent_failures"),
    ("FAILURES", "failures"),
    ("LAST ACCOUNT", "last_account"),
    ("LAST SEEN", "last_seen"),
];

fn items(answer: Value) -> Vec<Value> {
    match answer {
        Value::Array(items) => items,
        _ => Vec::new(),
    }
}

pub async fn run(client: &Client, out: &Output, cmd: SecurityCommand) -> CliResult<()> {
    match cmd {
        SecurityCommand::Blocked => {
            let answer = client.get("/api/v1/security/blocked").await?;
            out.list(&answer, &items(answer.clone()), BLOCKED_COLUMNS);
            Ok(())
        }
        SecurityCommand::Block {
            address,
            reason,
            duration,
        } => {
            let answer = client
                .post(
                    "/api/v1/security/blocked",
                    &json!({"address": address.to_string(), "reason": reason, "duration_secs": duration}),
                )
                .await?;
            out.object(&answer);
            check_apply(&answer)
        }
        SecurityCommand::Unblock { address } => {
            let answer = client
                .delete(&format!(
                    "/api/v1/security/blocked/{}",
                    encode(&address.to_string())
                ))
                .await?;
            print_deleted(out, &format!("block of {address}"), &answer);
            check_apply(&answer)
        }
        SecurityCommand::Sources { limit } => {
            let answer = client
                .get(&format!("/api/v1/security/sources?limit={limit}"))
                .await?;
            out.list(&answer, &items(answer.clone()), SOURCE_COLUMNS);
            Ok(())
        }
    }
}
