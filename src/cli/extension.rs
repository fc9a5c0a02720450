use super::{CliError, CliResult};
use clap::{Args, Subcommand};
use serde_json::Value;

use super::Output;
use super::output::cell;

/// "verified", "pending: …" or "failed: …" from a write's `apply`.
pub(super) fn apply_summary(answer: &Value) -> String {
    let apply = answer.get("apply");
    let status = cell(apply.and_then(|a| a.get("status")));
    match apply.and_then(|a| a.get("detail")).and_then(Value::as_str) {
        Some(detail) => format!("{status}: {detail}"),
        None => status,
    }
}
use crate::client::{Client, encode};
use crate::model::extension::{CSV_COLUMNS, ExtensionPatch, NewExtension};
use crate::model::options::ObjectOptions;

#[derive(Subcommand)]
pub enum ExtensionCommand {
    /// Create an extension (a password is generated when none is given).
    Create {
        number: String,
        #[command(flatten)]
        fields: ExtensionFields,
    },
    /// List extensions.
    List {
        #[arg(long)]
        context: Option<String>,
        #[arg(long)]
        template: Option<String>,
        /// Number prefix or part of the name.
        #[arg(long, short)]
        search: Option<String>,
        #[arg(long)]
        limit: Option<u64>,
        #[arg(long)]
        offset: Option<u64>,
    },
    /// Show one extension.
    Show { number: String },
    /// Change the given fields only.
    Update {
        number: String,
        #[command(flatten)]
        fields: ExtensionFields,
    },
    /// Delete an extension.
    Delete { number: String },
    /// Ask Asterisk now whether it loaded the extension as rayan renders it.
    Verify { number: String },
    /// Create the extensions of a CSV file (columns as `export` writes them, a
    /// header row first; `password` may be filled in): all or nothing, one apply.
    /// Generated passwords are printed once.
    Import {
        file: std::path::PathBuf,
        /// Create the valid rows and list the others.
        #[arg(long)]
        skip_invalid: bool,
    },
    /// Print every extension, as CSV (the default; `--csv` says so) or, with
    /// `--json`, JSON; never a secret.
    Export {
        #[arg(long)]
        csv: bool,
    },
}

#[derive(Args)]
pub struct ExtensionFields {
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    password: Option<String>,
    /// basic, advanced, mobile or webrtc.
    #[arg(long)]
    template: Option<String>,
    #[arg(long)]
    context: Option<String>,
    /// Comma-separated, e.g. ulaw,alaw.
    #[arg(long, value_delimiter = ',')]
    codecs: Option<Vec<String>>,
    #[arg(long)]
    max_contacts: Option<u32>,
    #[arg(long)]
    caller_id: Option<String>,
    #[arg(long, conflicts_with = "disable")]
    enable: bool,
    #[arg(long)]
    disable: bool,
    /// A PJSIP option beyond the template's, e.g. endpoint.direct_media=yes;
    /// repeat it for more. On update the given set replaces the current one.
    #[arg(long = "option", value_name = "SECTION.OPTION=VALUE", value_parser = parse_option)]
    options: Vec<(String, String, String)>,
    /// On update: remove every option override.
    #[arg(long, conflicts_with = "options")]
    clear_options: bool,
    /// The transport its endpoint names (default: the template's).
    #[arg(long)]
    transport: Option<String>,
    /// On update: go back to the template's default transport.
    #[arg(long, conflicts_with = "transport")]
    default_transport: bool,
}

/// The overrides given as `--option`, if any.
pub(super) fn options_from(given: &[(String, String, String)]) -> Option<ObjectOptions> {
    if given.is_empty() {
        return None;
    }
    let mut options = ObjectOptions::default();
    for (section, option, value) in given {
        options
            .0
            .entry(section.clone())
            .or_default()
            .insert(option.clone(), value.clone());
    }
    Some(options)
}

pub(super) fn parse_option(text: &str) -> Result<(String, String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or("expected SECTION.OPTION=VALUE, e.g. endpoint.direct_media=yes")?;
    let (section, option) = key
        .split_once('.')
        .ok_or("expected SECTION.OPTION=VALUE, e.g. endpoint.direct_media=yes")?;
    Ok((section.to_owned(), option.to_owned(), value.to_owned()))
}

impl ExtensionFields {
    fn enabled(&self) -> Option<bool> {
        (self.enable || self.disable).then_some(self.enable)
    }

    fn options(&self) -> Option<ObjectOptions> {
        options_from(&self.options)
    }

    fn into_new(self, extension: String) -> NewExtension {
        NewExtension {
            extension,
            enabled: self.enabled(),
            options: self.options(),
            name: self.name,
            password: self.password,
            template: self.template,
            context: self.context,
            codecs: self.codecs,
            max_contacts: self.max_contacts,
            caller_id: self.caller_id,
            transport: self.transport,
        }
    }

    /// Only what was given; `None` when nothing was.
    fn into_patch(self) -> Option<ExtensionPatch> {
        let patch = ExtensionPatch {
            enabled: self.enabled(),
            options: if self.clear_options {
                Some(None)
            } else {
                self.options().map(Some)
            },
            name: self.name.map(Some),
            password: self.password,
            template: self.template,
            context: self.context,
            codecs: self.codecs.map(Some),
            max_contacts: self.max_contacts.map(Some),
            caller_id: self.caller_id.map(Some),
            transport: if self.default_transport {
                Some(None)
            } else {
                self.transport.map(Some)
            },
        };
        (patch != ExtensionPatch::default()).then_some(patch)
    }
}

const COLUMNS: &[(&str, &str)] = &[
    ("EXTENSION", "extension"),
    ("NAME", "name"),
    ("TEMPLATE", "template"),
    ("CONTEXT", "context"),
    ("ENABLED", "enabled"),
    ("PRESENCE", "presence"),
];

/// The write was saved; a failed apply still makes the command fail, loudly.
pub(super) fn check_apply(answer: &Value) -> CliResult<()> {
    if let Some(apply) = answer.get("apply") {
        super::asterisk::fail_unless_verified(apply)?;
        if apply.get("status").and_then(Value::as_str) == Some("pending") {
            eprintln!("note: saved; {}", apply_summary(answer));
        }
    }
    Ok(())
}

/// Reads extension rows from CSV: the header names the columns (any order, any
/// subset of `CSV_COLUMNS`); empty cells are absent fields.
pub(super) fn read_csv(text: &str) -> CliResult<Vec<NewExtension>> {
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| CliError::usage(format!("the CSV header: {e}")))?
        .clone();
    if let Some(unknown) = headers.iter().find(|h| !CSV_COLUMNS.contains(h)) {
        return Err(CliError::usage(format!(
            "unknown CSV column '{unknown}' (known: {})",
            CSV_COLUMNS.join(", ")
        )));
    }
    let mut rows = Vec::new();
    for (line, record) in reader.records().enumerate() {
        let record = record.map_err(|e| CliError::usage(format!("CSV row {}: {e}", line + 1)))?;
        let cell = |name: &str| {
            headers
                .iter()
                .position(|h| h == name)
                .and_then(|i| record.get(i))
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let bad = |column: &str, why: String| {
            CliError::usage(format!("CSV row {}, column {column}: {why}", line + 1))
        };
        rows.push(NewExtension {
            extension: cell("extension").unwrap_or_default(),
            name: cell("name"),
            template: cell("template"),
            context: cell("context"),
            codecs: cell("codecs").map(|c| c.split(',').map(|s| s.trim().to_owned()).collect()),
            max_contacts: cell("max_contacts")
                .map(|n| n.parse().map_err(|e| bad("max_contacts", format!("{e}"))))
                .transpose()?,
            caller_id: cell("caller_id"),
            enabled: cell("enabled")
                .map(|b| match b.to_ascii_lowercase().as_str() {
                    "true" | "yes" | "1" => Ok(true),
                    "false" | "no" | "0" => Ok(false),
                    other => Err(bad("enabled", format!("'{other}' is not true or false"))),
                })
                .transpose()?,
            options: cell("options")
                .map(|o| serde_json::from_str(&o).map_err(|e| bad("options", e.to_string())))
                .transpose()?,
            transport: cell("transport"),
            password: cell("password"),
        });
    }
    Ok(rows)
}

pub async fn run(client: &Client, out: &Output, cmd: ExtensionCommand) -> CliResult<()> {
    match cmd {
        ExtensionCommand::Import { file, skip_invalid } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| CliError::usage(format!("cannot read {}: {e}", file.display())))?;
            let rows = read_csv(&text)?;
            let path = if skip_invalid {
                "/api/v1/extensions/bulk?skip_invalid=true"
            } else {
                "/api/v1/extensions/bulk"
            };
            let answer = client.post(path, &rows).await?;
            if out.json {
                out.object(&answer);
            } else {
                let created = answer["created"].as_array().cloned().unwrap_or_default();
                println!("created {} extension(s)", created.len());
                for ext in &created {
                    if let Some(password) = ext.get("password").and_then(Value::as_str) {
                        println!("{}\t{password}", cell(ext.get("extension")));
                    }
                }
                for skipped in answer["skipped"].as_array().into_iter().flatten() {
                    eprintln!(
                        "skipped row {} ({}): {}",
                        cell(skipped.get("index")),
                        cell(skipped.get("extension")),
                        skipped["errors"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|e| format!(
                                "{}: {}",
                                cell(e.get("field")),
                                cell(e.get("message"))
                            ))
                            .collect::<Vec<_>>()
                            .join("; ")
                    );
                }
                if created.iter().any(|e| e.get("password").is_some()) {
                    eprintln!("note: the generated passwords are shown only this once");
                }
            }
            check_apply(&answer)?;
        }
        ExtensionCommand::Export { csv } => {
            if out.json && !csv {
                let items = super::all_items(client, "/api/v1/extensions").await?;
                println!("{}", Value::Array(items));
            } else {
                print!("{}", client.get_text("/api/v1/extensions/export").await?);
            }
        }
        ExtensionCommand::Create { number, fields } => {
            let created = client
                .post("/api/v1/extensions", &fields.into_new(number))
                .await?;
            out.object(&created);
            if !out.json && created.get("password").is_some() {
                eprintln!("note: the generated password is shown only this once");
            }
            check_apply(&created)?;
        }
        ExtensionCommand::List {
            context,
            template,
            search,
            limit,
            offset,
        } => {
            let mut query = Vec::new();
            for (k, v) in [
                ("context", context),
                ("template", template),
                ("q", search),
                ("limit", limit.map(|n| n.to_string())),
                ("offset", offset.map(|n| n.to_string())),
            ] {
                if let Some(v) = v {
                    query.push(format!("{k}={}", encode(&v)));
                }
            }
            let path = if query.is_empty() {
                "/api/v1/extensions".to_owned()
            } else {
                format!("/api/v1/extensions?{}", query.join("&"))
            };
            let page = client.get(&path).await?;
            let items = page
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            out.list(&page, &items, COLUMNS);
        }
        ExtensionCommand::Show { number } => {
            out.object(
                &client
                    .get(&format!("/api/v1/extensions/{}", encode(&number)))
                    .await?,
            );
        }
        ExtensionCommand::Update { number, fields } => {
            let Some(patch) = fields.into_patch() else {
                return Err(CliError::usage(
                    "nothing to change: give at least one field, e.g. --name",
                ));
            };
            let updated = client
                .patch(&format!("/api/v1/extensions/{}", encode(&number)), &patch)
                .await?;
            out.object(&updated);
            check_apply(&updated)?;
        }
        ExtensionCommand::Delete { number } => {
            let answer = client
                .delete(&format!("/api/v1/extensions/{}", encode(&number)))
                .await?;
            if out.json {
                out.object(&answer);
            } else {
                out.done(&format!(
                    "extension {number} deleted ({})",
                    apply_summary(&answer)
                ));
            }
        }
        ExtensionCommand::Verify { number } => {
            let answer = client
                .get(&format!("/api/v1/extensions/{}/verify", encode(&number)))
                .await?;
            if out.json {
                out.object(&answer);
            } else {
                println!(
                    "extension {number}: {}{}",
                    cell(answer.get("status")),
                    answer
                        .get("detail")
                        .and_then(Value::as_str)
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default()
                );
            }
            super::asterisk::fail_unless_verified(&answer)?;
        }
    }
    Ok(())
}
