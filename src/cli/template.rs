use super::CliResult;
use clap::{Subcommand, ValueEnum};
use serde_json::{Value, json};

use super::Output;
use crate::client::{Client, encode};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TemplateKind {
    Extension,
    Provider,
}

#[derive(Subcommand)]
pub enum TemplateCommand {
    /// List extension and provider templates.
    List {
        /// Only this kind.
        #[arg(long, value_enum)]
        kind: Option<TemplateKind>,
    },
    /// Show one template (a provider template when both kinds have the id).
    Show {
        id: String,
        #[arg(long, value_enum)]
        kind: Option<TemplateKind>,
    },
}

const COLUMNS: &[(&str, &str)] = &[
    ("KIND", "kind"),
    ("ID", "id"),
    ("NAME", "name"),
    ("AUTH", "auth"),
    ("DEFAULT CODECS", "default_codecs"),
    ("BUILT IN", "builtin"),
];

/// One table row per template, whichever its kind.
fn row(kind: &str, t: &Value) -> Value {
    let name = t
        .get("display_name")
        .or_else(|| t.get("name"))
        .cloned()
        .unwrap_or(Value::Null);
    json!({
        "kind": kind,
        "id": t.get("id"),
        "name": name,
        "auth": t.get("auth_type"),
        "default_codecs": t.get("default_codecs"),
        "builtin": t.get("builtin"),
    })
}

fn path(kind: TemplateKind) -> &'static str {
    match kind {
        TemplateKind::Extension => "/api/v1/extension-templates",
        TemplateKind::Provider => "/api/v1/provider-templates",
    }
}

pub async fn run(client: &Client, out: &Output, cmd: TemplateCommand) -> CliResult<()> {
    match cmd {
        TemplateCommand::List { kind } => {
            let wants = |k: TemplateKind| kind.is_none_or(|only| only == k);
            let mut all = serde_json::Map::new();
            let mut rows = Vec::new();
            for (k, key, label) in [
                (TemplateKind::Extension, "extension_templates", "extension"),
                (TemplateKind::Provider, "provider_templates", "provider"),
            ] {
                if !wants(k) {
                    continue;
                }
                let list = super::all_items(client, path(k)).await?;
                rows.extend(list.iter().map(|t| row(label, t)));
                all.insert(key.into(), Value::Array(list));
            }
            out.list(&Value::Object(all), &rows, COLUMNS);
        }
        TemplateCommand::Show { id, kind } => {
            let kinds = match kind {
                Some(k) => vec![k],
                None => vec![TemplateKind::Provider, TemplateKind::Extension],
            };
            let mut last = None;
            for k in kinds {
                match client.get(&format!("{}/{}", path(k), encode(&id))).await {
                    Ok(template) => {
                        out.object(&template);
                        return Ok(());
                    }
                    Err(e) => last = Some(e),
                }
            }
            if let Some(e) = last {
                return Err(e.into());
            }
        }
    }
    Ok(())
}
