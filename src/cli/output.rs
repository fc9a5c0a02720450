//! Tables for people, JSON for scripts.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use serde_json::{Map, Value};

pub struct Output {
    pub json: bool,
}

/// A JSON value as a table cell: words, never JSON (`--json` prints the JSON).
pub fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => if *b { "yes" } else { "no" }.into(),
        Some(Value::Array(items)) if items.is_empty() => "-".into(),
        Some(Value::Array(items)) if items.iter().any(Value::is_object) => items
            .iter()
            .map(|v| cell(Some(v)))
            .collect::<Vec<_>>()
            .join("; "),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| cell(Some(v)))
            .collect::<Vec<_>>()
            .join(","),
        Some(Value::Object(map)) => words(map),
        Some(other) => other.to_string(),
    }
}

/// A nested object in words: a registration as its state (and contacts), an apply as
/// `<id> <status>` (`at <time>`, `— <detail>`), a reload as its modules; any other
/// object as `key value` pairs.
fn words(map: &Map<String, Value>) -> String {
    let text = |key: &str| map.get(key).filter(|v| !v.is_null()).map(|v| cell(Some(v)));
    if let Some(state) = text("state") {
        return match map.get("contacts").and_then(Value::as_array) {
            Some(contacts) if !contacts.is_empty() => {
                format!("{state} — {}", cell(map.get("contacts")))
            }
            _ => state,
        };
    }
    if let Some(status) = text("status") {
        let mut out = match (text("uri"), text("id")) {
            (Some(uri), _) => format!("{uri} {status}"),
            (None, Some(id)) => format!("{id} {status}"),
            (None, None) => status,
        };
        if let Some(at) = text("finished_at") {
            out.push_str(&format!(" at {at}"));
        }
        if let Some(detail) = text("detail") {
            out.push_str(&format!(" — {detail}"));
        }
        return out;
    }
    if let Some(module) = text("module") {
        let took = map
            .get("duration_ms")
            .and_then(Value::as_f64)
            .map(|ms| format!(" ({ms:.0} ms)"))
            .unwrap_or_default();
        return format!("{module}: {}{took}", text("result").unwrap_or_default());
    }
    if let (Some(modules), Some(at)) = (text("modules"), text("at")) {
        return format!("{modules} at {at}");
    }
    map.iter()
        .map(|(key, value)| format!("{key} {}", cell(Some(value))))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Output {
    /// Prints a list: `columns` are (header, JSON key) pairs.
    pub fn list(&self, value: &Value, items: &[Value], columns: &[(&str, &str)]) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_default()
            );
            return;
        }
        let mut table = Table::new();
        table
            .load_preset(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic);
        table.set_header(columns.iter().map(|(h, _)| *h));
        for item in items {
            table.add_row(columns.iter().map(|(_, key)| cell(item.get(*key))));
        }
        println!("{table}");
    }

    /// Prints one object as key/value rows.
    pub fn object(&self, value: &Value) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_default()
            );
            return;
        }
        let mut table = Table::new();
        table
            .load_preset(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic);
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::cell;

    #[test]
    fn nested_objects_are_words() {
        let cases = [
            (
                json!({"state": "unregistered", "contacts": []}),
                "unregistered",
            ),
            (
                json!({"state": "registered", "contacts": [{"uri": "sip:1001@192.0.2.7:5060", "status": "reachable", "rtt_ms": 1.5, "user_agent": null}]}),
                "registered — sip:1001@192.0.2.7:5060 reachable",
            ),
            (
                json!({"id": 2, "status": "pending", "detail": "Asterisk is down"}),
                "2 pending — Asterisk is down",
            ),
            (json!({"id": null, "status": "pending"}), "pending"),
            (
                json!({"id": 2, "status": "pending", "finished_at": "2026-11-21T16:41:06Z"}),
                "2 pending at 2026-11-21T16:41:06Z",
            ),
            (
                json!({"at": "2026-11-21T16:41:06Z", "modules": [{"module": "res_pjsip.so", "duration_ms": 12.4, "result": "Module Reloaded"}]}),
                "res_pjsip.so: Module Reloaded (12 ms) at 2026-11-21T16:41:06Z",
            ),
            (
                json!({"endpoint": {"direct_media": "no"}}),
                "endpoint direct_media no",
            ),
            (json!(["ulaw", "alaw"]), "ulaw,alaw"),
            (json!([]), "-"),
        ];
        for (value, words) in cases {
            assert_eq!(cell(Some(&value)), words, "{value}");
        }
    }
}
