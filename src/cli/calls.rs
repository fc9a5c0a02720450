//! `rayan-ctl calls …` (the call history, hang-up) and `rayan-ctl call FROM TO`.

use super::CliResult;
use clap::Subcommand;
use serde_json::Value;

use super::Output;
use crate::client::{Client, encode};
use crate::service::click_to_call::NewCall;

#[derive(Subcommand)]
pub enum CallsCommand {
    /// List ended calls, newest first.
    List {
        /// Calls from or to this number.
        #[arg(long)]
        extension: Option<String>,
        /// Calls that started at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Calls that started before this time (RFC 3339).
        #[arg(long)]
        until: Option<String>,
        /// ANSWERED, "NO ANSWER", BUSY or FAILED.
        #[arg(long)]
        disposition: Option<String>,
        #[arg(long)]
        limit: Option<u64>,
        #[arg(long)]
        offset: Option<u64>,
    },
    /// Hang up a live call by its id.
    Hangup { id: String },
}

pub async fn run(client: &Client, out: &Output, cmd: CallsCommand) -> CliResult<()> {
    match cmd {
        CallsCommand::List {
            extension,
            since,
            until,
            disposition,
            limit,
            offset,
        } => {
            let params = [
                ("extension", extension),
                ("since", since),
                ("until", until),
                ("disposition", disposition),
                ("limit", limit.map(|n| n.to_string())),
                ("offset", offset.map(|n| n.to_string())),
            ];
            let query: Vec<String> = params
                .iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v))))
                .collect();
            let path = if query.is_empty() {
                "/api/v1/calls".to_owned()
            } else {
                format!("/api/v1/calls?{}", query.join("&"))
            };
            let page = client.get(&path).await?;
            let items = page
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            out.list(
                &page,
                &items,
                &[
                    ("START", "start"),
                    ("FROM", "from"),
                    ("TO", "to"),
                    ("DISPOSITION", "disposition"),
                    ("DURATION", "duration_s"),
                    ("BILLSEC", "billsec"),
                    ("CAUSE", "cause_text"),
                    ("ID", "linkedid"),
                ],
            );
            if !out.json {
                let total = page.get("total").and_then(Value::as_u64).unwrap_or(0);
                println!("{} of {total} calls", items.len());
            }
            Ok(())
        }
        CallsCommand::Hangup { id } => {
            let answer = client
                .delete(&format!("/api/v1/calls/{}", encode(&id)))
                .await?;
            if out.json {
                out.object(&answer);
            } else {
                let channels = super::output::cell(answer.get("channels"));
                println!("call {id} hung up ({channels})");
            }
            Ok(())
        }
    }
}

/// `rayan-ctl call 1001 1002`: rings 1001, then connects it to 1002.
pub async fn call(client: &Client, out: &Output, from: String, to: String) -> CliResult<()> {
    let started = client
        .post(
            "/api/v1/calls",
            &NewCall {
                from: from.clone(),
                to: to.clone(),
            },
        )
        .await?;
    if out.json {
        out.object(&started);
    } else {
        let id = super::output::cell(started.get("id"));
        let state = super::output::cell(started.get("state"));
        println!("calling {from}, then {to}: call {id} ({state})");
    }
    Ok(())
}
