//! Tables for people, JSON for scripts.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use serde_json::Value;

pub struct Output {
    pub json: bool,
}

/// A JSON value as a table cell.
pub fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => if *b { "yes" } else { "no" }.into(),
        Some(Value::Array(items)) => items.iter().map(|v| cell(Some(v))).collect::<Vec<_>>().join(","),
        Some(other) => other.to_string(),
    }
}

impl Output {
    /// Prints a list: `columns` are (header, JSON key) pairs.
    pub fn list(&self, value: &Value, items: &[Value], columns: &[(&str, &str)]) {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
            return;
        }
        let mut table = Table::new();
        table.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
        table.set_header(columns.iter().map(|(h, _)| *h));
        for item in items {
            table.add_row(columns.iter().map(|(_, key)| cell(item.get(*key))));
        }
        println!("{table}");
    }

    /// Prints one object as key/value rows.
    pub fn object(&self, value: &Value) {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
            return;
        }
        let mut table = Table::new();
        table.load_preset(UTF8_FULL_CONDENSED);
        if let Some(map) = value.as_object() {
            for (k, v) in map {
                table.add_row(vec![k.clone(), cell(Some(v))]);
            }
        }
        println!("{table}");
    }

    /// Prints a confirmation (or `{}`-style JSON for scripts).
    pub fn done(&self, message: &str) {
        if self.json {
            println!("{}", serde_json::json!({"ok": true, "message": message}));
        } else {
            println!("{message}");
        }
    }
}
