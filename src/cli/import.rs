//! `rayan-ctl import`: adopt the hand-written phones of pjsip.conf.

use serde_json::{Value, json};

use super::output::cell;
use super::{CliError, CliResult, Output};
use crate::client::{Client, encode};

fn items(value: &Value, key: &str) -> Vec<Value> {
    value
        .get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

pub async fn run(
    client: &Client,
    out: &Output,
    dry_run: bool,
    pjsip: Option<String>,
) -> CliResult<()> {
    let mut path = format!("/api/v1/import?dry_run={dry_run}");
    if let Some(pjsip) = &pjsip {
        path.push_str(&format!("&pjsip={}", encode(pjsip)));
    }
    let answer = client.post(&path, &json!({})).await?;
    if out.json {
        out.object(&answer);
    } else {
        print_plan(out, &answer);
    }
    let failed: Vec<String> = items(&answer, "switched_over")
        .iter()
        .filter(|s| s.get("status").and_then(Value::as_str) != Some("verified"))
        .map(|s| format!("{} ({})", cell(s.get("extension")), cell(s.get("detail"))))
        .collect();
    if !failed.is_empty() {
        return Err(CliError::Failed(format!(
            "not every phone came through the switch-over as before: {}",
            failed.join("; ")
        )));
    }
    if let Some(apply) = answer.get("apply") {
        super::asterisk::fail_unless_verified(apply)?;
    }
    Ok(())
}

fn print_plan(out: &Output, answer: &Value) {
    let dry_run = answer.get("dry_run") == Some(&Value::Bool(true));
    let adopted: Vec<Value> = items(answer, "extensions")
        .into_iter()
        .map(|mut e| {
            let overrides: usize = e
                .get("overrides")
                .and_then(Value::as_object)
                .map(|o| {
                    o.values()
                        .filter_map(Value::as_object)
                        .map(|s| s.len())
                        .sum()
                })
                .unwrap_or(0);
            let from = e
                .get("replaces")
                .and_then(Value::as_array)
                .and_then(|r| r.first())
                .map(|p| format!("{}:{}", cell(p.get("file")), cell(p.get("line"))))
                .unwrap_or_default();
            e["overrides"] = json!(overrides);
            e["from"] = json!(from);
            e
        })
        .collect();
    if adopted.is_empty() {
        println!(
            "Nothing to adopt: every phone is managed by rayan already, or listed below with why not."
        );
    } else {
        println!(
            "{} {} phone(s):",
            if dry_run { "Would adopt" } else { "Adopted" },
            adopted.len()
        );
        out.list(
            answer,
            &adopted,
            &[
                ("EXTENSION", "extension"),
                ("TEMPLATE", "template"),
                ("OVERRIDES", "overrides"),
                ("CONTEXT", "context"),
                ("FROM", "from"),
            ],
        );
    }
    let trunks = items(answer, "trunks");
    if !trunks.is_empty() {
        println!(
            "{} {} trunk(s):",
            if dry_run { "Would adopt" } else { "Adopted" },
            trunks.len()
        );
        out.list(
            answer,
            &trunks,
            &[
                ("NAME", "name"),
                ("PROVIDER", "provider"),
                ("SERVER", "server"),
            ],
        );
    }
    let left = items(answer, "left");
    if !left.is_empty() {
        println!("Left as written ({}):", left.len());
        out.list(
            answer,
            &left,
            &[
                ("NAME", "name"),
                ("KIND", "kind"),
                ("FILE", "file"),
                ("LINE", "line"),
                ("WHY", "reason"),
            ],
        );
    }
    for d in items(answer, "dialplan") {
        println!(
            "Dialplan context [{}] ({}:{}) dials {}: move it to routes when you are ready.",
            cell(d.get("context")),
            cell(d.get("file")),
            cell(d.get("line")),
            d.get("extensions")
                .and_then(Value::as_array)
                .map(|a| a
                    .iter()
                    .map(|v| cell(Some(v)))
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default()
        );
    }
    for w in items(answer, "warnings") {
        println!("warning: {}", cell(Some(&w)));
    }
    for f in items(answer, "files") {
        print!("{}", f.get("diff").and_then(Value::as_str).unwrap_or(""));
    }
    for s in items(answer, "switched_over") {
        if s.get("status").and_then(Value::as_str) != Some("verified") {
            println!(
                "{}: {} ({})",
                cell(s.get("extension")),
                cell(s.get("status")),
                cell(s.get("detail"))
            );
        }
    }
    if let Some(apply) = answer.get("apply") {
        println!(
            "switch-over apply {}: {}",
            cell(apply.get("id")),
            cell(apply.get("status"))
        );
    }
}
