//! A small reader for the Asterisk config dialect, as far as `pjsip.conf` needs it:
//! `[section]` headers with `(!)` templates, `(template)` inheritance and `(+)` additions,
//! `name = value` and `name => value` lines, `;` comments (`\;` is a literal semicolon)
//! and `;-- block --;` comments. `#include` is not followed.
//!
//! Like Asterisk, a section header without its closing `]` or an option before any section
//! rejects the whole file, while a line without `=` is skipped with a warning.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    /// Line of the `[name]` header, 1-based.
    pub line: usize,
    pub is_template: bool,
    /// `(name, value, line)` in file order, inherited template options first.
    pub options: Vec<(String, String, usize)>,
}

impl Section {
    /// The last value of `name` (later lines override earlier ones).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(k, _, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v, _)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    NoClosingBracket { line: usize },
    NoCategory { line: usize },
    UnknownTemplate { line: usize, template: String },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoClosingBracket { line } => {
                write!(f, "parse error: no closing ']', line {line} of pjsip.conf")
            }
            Self::NoCategory { line } => {
                write!(
                    f,
                    "parse error: No category context for line {line} of pjsip.conf"
                )
            }
            Self::UnknownTemplate { line, template } => write!(
                f,
                "Inheritance requested, but category '{template}' does not exist, line {line} of pjsip.conf"
            ),
        }
    }
}

/// Parses the text of a config file into its sections, or rejects the whole file.
/// Warnings (skipped lines) are appended to `warnings`.
pub fn parse(text: &str, warnings: &mut Vec<String>) -> Result<Vec<Section>, ConfigError> {
    let mut sections: Vec<Section> = Vec::new();
    let mut current: Option<usize> = None;
    let mut in_block_comment = false;
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = strip_comments(raw, &mut in_block_comment);
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('#') {
            warnings.push(format!(
                "directive '{line}' at line {line_no} of pjsip.conf is not followed"
            ));
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let Some(close) = rest.find(']') else {
                return Err(ConfigError::NoClosingBracket { line: line_no });
            };
            let name = rest[..close].trim().to_owned();
            let flags = rest[close + 1..].trim();
            let mut section = Section {
                name,
                line: line_no,
                is_template: false,
                options: Vec::new(),
            };
            let mut append = false;
            if let Some(inner) = flags.strip_prefix('(').and_then(|f| f.strip_suffix(')')) {
                for flag in inner.split(',').map(str::trim).filter(|f| !f.is_empty()) {
                    match flag {
                        "!" => section.is_template = true,
                        "+" => append = true,
                        template => {
                            let Some(source) = sections
                                .iter()
                                .rev()
                                .find(|s| s.name == template && s.is_template)
                            else {
                                return Err(ConfigError::UnknownTemplate {
                                    line: line_no,
                                    template: template.to_owned(),
                                });
                            };
                            section.options.extend(source.options.iter().cloned());
                        }
                    }
                }
            }
            if append && let Some(existing) = sections.iter().rposition(|s| s.name == section.name)
            {
                current = Some(existing);
                continue;
            }
            sections.push(section);
            current = Some(sections.len() - 1);
            continue;
        }
        let Some(eq) = line.find('=') else {
            warnings.push(format!(
                "No '=' (equal sign) in line {line_no} of pjsip.conf"
            ));
            continue;
        };
        let Some(section) = current else {
            return Err(ConfigError::NoCategory { line: line_no });
        };
        let name = line[..eq].trim().to_owned();
        let value = line[eq + 1..].strip_prefix('>').unwrap_or(&line[eq + 1..]);
        let value = value.trim().replace("\\;", ";");
        sections[section].options.push((name, value, line_no));
    }
    Ok(sections)
}

fn strip_comments(raw: &str, in_block: &mut bool) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    loop {
        if *in_block {
            match rest.find("--;") {
                Some(end) => {
                    rest = &rest[end + 3..];
                    *in_block = false;
                }
                None => return out,
            }
        }
        let mut chars = rest.char_indices().peekable();
        let mut cut = None;
        while let Some((i, c)) = chars.next() {
            if c == '\\' && chars.peek().is_some_and(|(_, n)| *n == ';') {
                out.push_str("\\;");
                chars.next();
                continue;
            }
            if c == ';' {
                cut = Some(i);
                break;
            }
            out.push(c);
        }
        match cut {
            None => return out,
            Some(i) if rest[i..].starts_with(";--") => {
                *in_block = true;
                rest = &rest[i + 3..];
            }
            Some(_) => return out,
        }
    }
}

/// The text of `path` with every `#include` / `#tryinclude` replaced by the
/// file it names (relative to the directory of `path`, as Asterisk resolves
/// them against its config directory; `*` patterns expand sorted), the way
/// Asterisk reads the files before parsing.
pub fn expand_includes(path: &std::path::Path) -> std::io::Result<String> {
    let dir = path
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let mut out = String::new();
    expand_into(path, &dir, &mut out, 0)?;
    Ok(out)
}

fn expand_into(
    path: &std::path::Path,
    dir: &std::path::Path,
    out: &mut String,
    depth: usize,
) -> std::io::Result<()> {
    if depth > 10 {
        return Err(std::io::Error::other("includes nest too deep"));
    }
    let text = std::fs::read_to_string(path)?;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        let directive = trimmed
            .strip_prefix("#include")
            .map(|rest| (rest, false))
            .or_else(|| trimmed.strip_prefix("#tryinclude").map(|rest| (rest, true)));
        let Some((target, optional)) = directive else {
            out.push_str(line);
            continue;
        };
        let target = target.trim().trim_matches(['"', '<', '>']);
        let files: Vec<std::path::PathBuf> = match target.split_once('*') {
            None => vec![dir.join(target)],
            Some((prefix, suffix)) => {
                let full = dir.join(prefix);
                let (parent, start) = if prefix.is_empty() || prefix.ends_with('/') {
                    (full, String::new())
                } else {
                    (
                        full.parent().unwrap_or(dir).to_path_buf(),
                        full.file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                    )
                };
                let mut found: Vec<std::path::PathBuf> = std::fs::read_dir(&parent)
                    .map(|d| {
                        d.filter_map(Result::ok)
                            .map(|e| e.path())
                            .filter(|p| {
                                let name = p
                                    .file_name()
                                    .map(|n| n.to_string_lossy().into_owned())
                                    .unwrap_or_default();
                                name.starts_with(&start) && name.ends_with(suffix)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                found.sort();
                found
            }
        };
        for file in files {
            match expand_into(&file, dir, out, depth + 1) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && optional => {}
                Err(e) => return Err(e),
                Ok(()) => {}
            }
            if !out.ends_with('\n') {
                out.push('\n');
            }
        }
    }
    Ok(())
}
