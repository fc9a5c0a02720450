use serde_json::{Value, json};

use super::Output;
use super::output::cell;
use super::{CliError, CliResult};
use crate::client::Client;

/// `rayan-ctl apply [--dry-run]`
pub async fn apply(client: &Client, out: &Output, dry_run: bool) -> CliResult<()> {
    if dry_run {
        let plan = client
            .post("/api/v1/applies?dry_run=true", &json!({}))
            .await?;
        if out.json {
            out.object(&plan);
            return Ok(());
        }
        let files = plan
            .get("files")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut any = false;
        for file in &files {
            if file.get("changed") == Some(&Value::Bool(true)) {
                any = true;
                print!("{}", file.get("diff").and_then(Value::as_str).unwrap_or(""));
            }
        }
        if !any {
            println!("nothing to change: the files match the database");
        }
        return Ok(());
    }
    let report = client.post("/api/v1/applies", &json!({})).await?;
    if out.json {
        out.object(&report);
    } else {
        println!(
            "apply {}: {}{}",
            cell(report.get("id")),
            cell(report.get("status")),
            report
                .get("detail")
                .and_then(Value::as_str)
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        );
        let objects = report
            .get("objects")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if !objects.is_empty() {
            out.list(
                &report,
                &objects,
                &[
                    ("KIND", "kind"),
                    ("NAME", "name"),
                    ("STATUS", "status"),
                    ("DETAIL", "detail"),
                ],
            );
        }
    }
    fail_unless_verified(&report)
}

/// `rayan-ctl asterisk restart [--now]`: fails unless Asterisk came back with
/// every transport as rendered.
pub async fn restart(client: &Client, out: &Output, now: bool, wait: u64) -> CliResult<()> {
    let answer = client
        .post(
            &format!("/api/v1/asterisk/restart?now={now}&wait_secs={wait}"),
            &json!({}),
        )
        .await?;
    if out.json {
        out.object(&answer);
    } else {
        println!(
            "{}: {}",
            cell(answer.get("status")),
            cell(answer.get("detail"))
        );
        let transports = answer
            .get("transports")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if !transports.is_empty() {
            out.list(
                &answer,
                &transports,
                &[
                    ("TRANSPORT", "name"),
                    ("STATUS", "status"),
                    ("DETAIL", "detail"),
                ],
            );
        }
    }
    match answer.get("status").and_then(Value::as_str) {
        Some("verified") => Ok(()),
        Some("pending") => Err(CliError::Failed(format!(
            "not done yet: {}",
            cell(answer.get("detail"))
        ))),
        _ => fail_unless_verified(&answer),
    }
}

/// `rayan-ctl status`
pub async fn status(client: &Client, out: &Output) -> CliResult<()> {
    let status = client.get("/api/v1/asterisk/status").await?;
    out.object(&status);
    Ok(())
}

/// A failed verification is a failure of the command, so scripts notice.
pub fn fail_unless_verified(report: &Value) -> CliResult<()> {
    match report.get("status").and_then(Value::as_str) {
        Some("failed") => Err(CliError::Failed(format!(
            "Asterisk did not load everything: {}",
            report
                .get("detail")
                .and_then(Value::as_str)
                .unwrap_or("see the objects above")
        ))),
        _ => Ok(()),
    }
}
