//! Shared helpers of the render tests: fixtures, and an independent reading of Asterisk's
//! config syntax to check rendered text against.

#![allow(dead_code)]

use chrono::{TimeZone, Utc};
use rayan::model::{Extension, ExtensionAuth, Trunk};

pub fn extension(number: &str, template: &str) -> Extension {
    let at = Utc
        .with_ymd_and_hms(2026, 11, 21, 16, 0, 0)
        .single()
        .unwrap_or_default();
    Extension {
        id: 1,
        number: number.to_owned(),
        name: None,
        template: template.to_owned(),
        context: "from-internal".to_owned(),
        codecs: None,
        max_contacts: None,
        caller_id: None,
        enabled: true,
        auth: ExtensionAuth::from_password(number, "asterisk", "Secret-pass-1"),
        options: Default::default(),
        transport: None,
        created_at: at,
        updated_at: at,
    }
}

pub fn trunk(name: &str, provider: &str) -> Trunk {
    let at = Utc
        .with_ymd_and_hms(2026, 11, 21, 16, 0, 0)
        .single()
        .unwrap_or_default();
    Trunk {
        id: 1,
        name: name.to_owned(),
        provider: provider.to_owned(),
        username: Some("user1".to_owned()),
        password: Some("s3cret-Pass".to_owned()),
        server: None,
        port: None,
        did: None,
        context: "from-trunk".to_owned(),
        codecs: None,
        match_addresses: Vec::new(),
        enabled: true,
        options: Default::default(),
        transport: None,
        created_at: at,
        updated_at: at,
    }
}

/// One section as Asterisk's config parser reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub options: Vec<(String, String)>,
}

impl Section {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.options
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    pub fn section_type(&self) -> Option<&str> {
        self.get("type")
    }
}

/// What Asterisk's `config.c` would make of a text: sections with their options, plus
/// every directive (`#include`, `#exec`) and every line it would complain about.
#[derive(Debug, Default)]
pub struct Parsed {
    pub sections: Vec<Section>,
    pub directives: Vec<String>,
    pub problems: Vec<String>,
    pub comments: usize,
}

/// Reads text the way Asterisk does: `;` starts a comment (`;--` … `--;` spans lines),
/// `\;` is a literal semicolon, `[name]` (maybe followed by `(...)`) opens a section, `#`
/// opens a directive, `key=value` / `key => value` is an option; lines end at `\n`, and a
/// `\r` is trimmed as whitespace.
pub fn asterisk_parse(text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let mut in_block_comment = false;
    for raw in text.split('\n') {
        let mut line = String::new();
        let bytes: Vec<char> = raw.chars().collect();
        let mut i = 0;
        while i < bytes.len() {
            if in_block_comment {
                if bytes[i] == '-'
                    && bytes.get(i + 1) == Some(&'-')
                    && bytes.get(i + 2) == Some(&';')
                {
                    in_block_comment = false;
                    i += 3;
                } else {
                    i += 1;
                }
                continue;
            }
            match bytes[i] {
                '\\' if bytes.get(i + 1) == Some(&';') => {
                    line.push(';');
                    i += 2;
                }
                ';' => {
                    parsed.comments += 1;
                    if bytes.get(i + 1) == Some(&'-') && bytes.get(i + 2) == Some(&'-') {
                        in_block_comment = true;
                        i += 3;
                    } else {
                        break;
                    }
                }
                c => {
                    line.push(c);
                    i += 1;
                }
            }
        }
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            match rest.find(']') {
                Some(end) => parsed.sections.push(Section {
                    name: rest[..end].to_owned(),
                    options: Vec::new(),
                }),
                None => parsed.problems.push(format!("no closing ']': {line}")),
            }
        } else if line.starts_with('#') {
            parsed.directives.push(line.to_owned());
        } else if let Some((key, value)) = line.split_once('=') {
            let value = value.strip_prefix('>').unwrap_or(value);
            match parsed.sections.last_mut() {
                Some(section) => section
                    .options
                    .push((key.trim().to_owned(), value.trim().to_owned())),
                None => parsed
                    .problems
                    .push(format!("option outside a section: {line}")),
            }
        } else {
            parsed.problems.push(format!("no '=' in line: {line}"));
        }
    }
    parsed
}
