//! rayan's reader of the Asterisk config dialect, for importing what an
//! administrator (or FreePBX, Wazo, RayanPBX, a script) wrote by hand:
//!
//! - `[name]` sections, `[name](!)` templates, `[name](tpl,…)` inheritance
//!   (templates' options first, in order), `[name](!,tpl)`, and `[name](+)`
//!   which adds to the section of that name;
//! - `key = value` and `key => value`; `;` comments (`\;` is a literal `;`) and
//!   `;-- … --;` block comments;
//! - `#include` and `#tryinclude`, relative to the config directory (as
//!   Asterisk resolves them), with `*` patterns; `#exec` is not run (a warning);
//! - rayan's own managed blocks, whose sections are marked as such.
//!
//! What Asterisk would refuse is refused here with the file and line: a header
//! without its `]`, an option before any section, an include loop. Files that
//! are too large or not text are refused before they are read as config.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use thiserror::Error;

/// The largest file read (a FreePBX config of 5,000 endpoints is a few MB).
pub const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;
/// The most files one import reads.
pub const MAX_FILES: usize = 512;
/// The deepest chain of includes.
pub const MAX_DEPTH: usize = 16;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ConfError {
    #[error("{path}: cannot read: {reason}")]
    Io { path: String, reason: String },
    #[error("{path}: {size} bytes is more than the {limit}-byte limit of one config file")]
    TooLarge { path: String, size: u64, limit: u64 },
    #[error("{path}, line {line}: not a text file ({reason})")]
    NotText {
        path: String,
        line: usize,
        reason: &'static str,
    },
    #[error("{path}, line {line}: {reason}")]
    Syntax {
        path: String,
        line: usize,
        reason: String,
    },
    #[error("{path}, line {line}: #include of {target} makes a loop")]
    IncludeLoop {
        path: String,
        line: usize,
        target: String,
    },
    #[error(
        "{path}, line {line}: includes nest deeper than {MAX_DEPTH} files, or more than {MAX_FILES} files are included"
    )]
    TooManyFiles { path: String, line: usize },
}

/// One section as written: where it is and its own options (without inherited ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    /// The file it is in.
    pub file: PathBuf,
    /// The line of its `[name]` header, 1-based.
    pub line: usize,
    /// The lines it spans in its file: from its header to the line before the
    /// next header, directive or managed block (0-based, end exclusive).
    pub lines: std::ops::Range<usize>,
    pub is_template: bool,
    /// Templates it inherits from, in order.
    pub inherits: Vec<String>,
    /// `[name](+)`: adds to an earlier section of that name.
    pub adds: bool,
    /// `(option, value, line)` in file order.
    pub options: Vec<(String, String, usize)>,
    /// Inside one of rayan's own managed blocks.
    pub managed: bool,
}

impl Section {
    /// The last value of `option` among its own options.
    pub fn get(&self, option: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(k, _, _)| k.eq_ignore_ascii_case(option))
            .map(|(_, v, _)| v.as_str())
    }
}

/// Every file read, and every section in reading order (includes in place).
#[derive(Debug, Clone, Default)]
pub struct ConfTree {
    /// `(path, text)` in the order first read.
    pub files: Vec<(PathBuf, String)>,
    pub sections: Vec<Section>,
    /// What was read but not imported, e.g. `#exec`.
    pub warnings: Vec<String>,
    /// Each section's effective options, computed once the tree is read.
    effective: Vec<Vec<(String, String)>>,
    /// (effective type, name) → the real (not template, not rayan's, not `(+)`)
    /// sections of that name, in order.
    by_type: HashMap<(String, String), Vec<usize>>,
}

impl ConfTree {
    /// The text of `path` as read.
    pub fn text(&self, path: &Path) -> Option<&str> {
        self.files
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, t)| t.as_str())
    }

    /// A section's options with its templates' first (recursively, in order),
    /// then its own. Later lines win for single-valued options, as in Asterisk.
    pub fn effective(&self, index: usize) -> Vec<(String, String)> {
        match self.effective.get(index) {
            Some(cached) => cached.clone(),
            None => self.compute(index),
        }
    }

    fn compute(&self, index: usize) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        self.collect(index, &mut out, &mut seen);
        out
    }

    /// The value of `option` among a section's effective options (last wins).
    pub fn option(&self, index: usize, option: &str) -> Option<&str> {
        self.effective
            .get(index)?
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(option))
            .map(|(_, v)| v.as_str())
    }

    /// The last real section named `name` whose effective type is `section_type`.
    pub fn find(&self, name: &str, section_type: &str) -> Option<usize> {
        self.by_type
            .get(&(section_type.to_owned(), name.to_owned()))
            .and_then(|v| v.last().copied())
    }

    /// Computes what lookups need, once every file is read.
    fn finish(&mut self) {
        self.effective = (0..self.sections.len()).map(|i| self.compute(i)).collect();
        let mut by_type: HashMap<(String, String), Vec<usize>> = HashMap::new();
        for (i, s) in self.sections.iter().enumerate() {
            if s.is_template || s.managed || s.adds {
                continue;
            }
            let kind = self.effective[i]
                .iter()
                .rev()
                .find(|(k, _)| k.eq_ignore_ascii_case("type"))
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            by_type.entry((kind, s.name.clone())).or_default().push(i);
        }
        self.by_type = by_type;
    }

    fn collect(&self, index: usize, out: &mut Vec<(String, String)>, seen: &mut HashSet<usize>) {
        if !seen.insert(index) {
            return;
        }
        let section = &self.sections[index];
        for parent in &section.inherits {
            // The parent is the last section of that name written before.
            if let Some(p) = self.sections[..index]
                .iter()
                .rposition(|s| &s.name == parent)
            {
                self.collect(p, out, seen);
            }
        }
        out.extend(
            section
                .options
                .iter()
                .map(|(k, v, _)| (k.clone(), v.clone())),
        );
    }
}

/// Reads `root` (e.g. `/etc/asterisk/pjsip.conf`) and every file it includes;
/// includes are resolved against `config_dir`.
pub fn read_tree(root: &Path, config_dir: &Path) -> Result<ConfTree, ConfError> {
    let mut tree = ConfTree::default();
    let mut stack = Vec::new();
    read_file(root, config_dir, &mut tree, &mut stack, false, (root, 0))?;
    tree.finish();
    Ok(tree)
}

/// Parses one text on its own (no includes followed): for tests and fuzzing.
pub fn parse_text(path: &Path, text: &str) -> Result<ConfTree, ConfError> {
    let mut tree = ConfTree::default();
    tree.files.push((path.to_owned(), text.to_owned()));
    parse_into(path, text, None, &mut tree, &mut Vec::new())?;
    tree.finish();
    Ok(tree)
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

fn read_file(
    path: &Path,
    config_dir: &Path,
    tree: &mut ConfTree,
    stack: &mut Vec<PathBuf>,
    optional: bool,
    from: (&Path, usize),
) -> Result<(), ConfError> {
    let canonical = match std::fs::canonicalize(path) {
        Ok(p) => p,
        Err(_) if optional => return Ok(()),
        Err(e) => {
            return Err(ConfError::Io {
                path: display(path),
                reason: e.to_string(),
            });
        }
    };
    if stack.contains(&canonical) {
        return Err(ConfError::IncludeLoop {
            path: display(from.0),
            line: from.1,
            target: display(path),
        });
    }
    if stack.len() >= MAX_DEPTH || tree.files.len() >= MAX_FILES {
        return Err(ConfError::TooManyFiles {
            path: display(from.0),
            line: from.1,
        });
    }
    let size = std::fs::metadata(&canonical)
        .map_err(|e| ConfError::Io {
            path: display(path),
            reason: e.to_string(),
        })?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(ConfError::TooLarge {
            path: display(path),
            size,
            limit: MAX_FILE_BYTES,
        });
    }
    let bytes = std::fs::read(&canonical).map_err(|e| ConfError::Io {
        path: display(path),
        reason: e.to_string(),
    })?;
    let text = into_text(path, bytes)?;
    stack.push(canonical);
    tree.files.push((path.to_owned(), text.clone()));
    let result = parse_into(path, &text, Some(config_dir), tree, stack);
    stack.pop();
    result
}

/// The bytes as UTF-8 text, or where they stop being text.
fn into_text(path: &Path, bytes: Vec<u8>) -> Result<String, ConfError> {
    fn line_of(bytes: &[u8], at: usize) -> usize {
        bytes[..at].iter().filter(|b| **b == b'\n').count() + 1
    }
    // The first of a NUL byte and a byte that is not UTF-8 is reported.
    let nul = bytes.iter().position(|b| *b == 0);
    let not_utf8 = std::str::from_utf8(&bytes).err().map(|e| e.valid_up_to());
    let problem = match (nul, not_utf8) {
        (Some(n), Some(u)) if u < n => Some((u, "bytes that are not UTF-8")),
        (Some(n), _) => Some((n, "a NUL byte")),
        (None, Some(u)) => Some((u, "bytes that are not UTF-8")),
        (None, None) => None,
    };
    if let Some((at, reason)) = problem {
        return Err(ConfError::NotText {
            path: display(path),
            line: line_of(&bytes, at),
            reason,
        });
    }
    String::from_utf8(bytes).map_err(|_| ConfError::NotText {
        path: display(path),
        line: 1,
        reason: "bytes that are not UTF-8",
    })
}

/// Strips a comment (`;` not escaped) and reports whether a block comment opens.
fn strip_comment(line: &str) -> (String, bool) {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&';') => {
                out.push(';');
                chars.next();
            }
            ';' => {
                let rest: String = chars.collect();
                return (out, rest.starts_with("--") && !rest.contains("--;"));
            }
            c => out.push(c),
        }
    }
    (out, false)
}

/// The managed-block marker on a line, if any: `Some(true)` opens one of
/// rayan's blocks, `Some(false)` closes one.
fn rayan_marker(line: &str) -> Option<bool> {
    let rest = line.trim().strip_prefix(';')?.trim_start();
    let (begin, after) = if let Some(after) = rest.strip_prefix("BEGIN MANAGED") {
        (true, after)
    } else {
        (false, rest.strip_prefix("END MANAGED")?)
    };
    let id = after.trim_start().strip_prefix('-')?.trim();
    crate::model::ObjectRef::from_block(crate::model::ConfigFile::Pjsip, id).map(|_| begin)
}

fn parse_into(
    path: &Path,
    text: &str,
    config_dir: Option<&Path>,
    tree: &mut ConfTree,
    stack: &mut Vec<PathBuf>,
) -> Result<(), ConfError> {
    let syntax = |line: usize, reason: String| ConfError::Syntax {
        path: display(path),
        line,
        reason,
    };
    let mut in_block_comment = false;
    let mut in_managed = false;
    // The section being read: its index in `tree.sections`.
    let mut current: Option<usize> = None;
    // The line after the last one of the current section that held something:
    // comments and blank lines after it stay with what follows.
    let mut content_end = 0;
    let lines: Vec<&str> = text.split('\n').collect();
    let close = |tree: &mut ConfTree, current: &mut Option<usize>, content_end: usize| {
        if let Some(i) = current.take() {
            tree.sections[i].lines.end = content_end;
        }
    };
    for (index, raw) in lines.iter().enumerate() {
        let number = index + 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if in_block_comment {
            if raw.contains("--;") {
                in_block_comment = false;
            }
            continue;
        }
        if let Some(begin) = rayan_marker(raw) {
            close(tree, &mut current, content_end);
            in_managed = begin;
            continue;
        }
        let (line, opens_block) = strip_comment(raw);
        in_block_comment = opens_block;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(directive) = line.strip_prefix('#') {
            close(tree, &mut current, content_end);
            let (word, arg) = directive
                .split_once(|c: char| c.is_whitespace())
                .unwrap_or((directive, ""));
            let target = arg.trim().trim_matches(['"', '<', '>']).trim();
            match word {
                "include" | "tryinclude" => {
                    let Some(dir) = config_dir else { continue };
                    if target.is_empty() {
                        return Err(syntax(number, format!("#{word} names no file")));
                    }
                    for file in expand(dir, target) {
                        read_file(
                            &file,
                            dir,
                            tree,
                            stack,
                            word == "tryinclude",
                            (path, number),
                        )?;
                    }
                }
                "exec" => tree.warnings.push(format!(
                    "{}, line {number}: #exec is not run; what it would add is not imported",
                    display(path)
                )),
                _ => tree.warnings.push(format!(
                    "{}, line {number}: unknown directive #{word} ignored",
                    display(path)
                )),
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            close(tree, &mut current, content_end);
            let Some(end) = rest.find(']') else {
                return Err(syntax(number, "no closing ']'".into()));
            };
            let name = rest[..end].trim().to_owned();
            if name.is_empty() {
                return Err(syntax(number, "a section without a name".into()));
            }
            let mut is_template = false;
            let mut adds = false;
            let mut inherits = Vec::new();
            let after = rest[end + 1..].trim();
            if let Some(args) = after.strip_prefix('(') {
                let Some(args) = args.strip_suffix(')') else {
                    return Err(syntax(
                        number,
                        "no closing ')' after the section name".into(),
                    ));
                };
                for arg in args.split(',').map(str::trim).filter(|a| !a.is_empty()) {
                    match arg {
                        "!" => is_template = true,
                        "+" => adds = true,
                        template => inherits.push(template.to_owned()),
                    }
                }
            }
            for parent in &inherits {
                if !tree.sections.iter().any(|s| &s.name == parent) {
                    return Err(syntax(
                        number,
                        format!("inheritance requested, but section '{parent}' does not exist"),
                    ));
                }
            }
            tree.sections.push(Section {
                name,
                file: path.to_owned(),
                line: number,
                lines: index..lines.len(),
                is_template,
                inherits,
                adds,
                options: Vec::new(),
                managed: in_managed,
            });
            current = Some(tree.sections.len() - 1);
            content_end = number;
            continue;
        }
        let Some(i) = current else {
            return Err(syntax(
                number,
                "an option before any [section] (Asterisk rejects the file)".into(),
            ));
        };
        let Some((key, value)) = line.split_once('=') else {
            tree.warnings.push(format!(
                "{}, line {number}: no '=' in '{}', skipped (as Asterisk does)",
                display(path),
                line.escape_debug()
            ));
            continue;
        };
        let value = value.strip_prefix('>').unwrap_or(value);
        content_end = number;
        tree.sections[i]
            .options
            .push((key.trim().to_owned(), value.trim().to_owned(), number));
    }
    close(tree, &mut current, content_end);
    Ok(())
}

/// The files an include names: one path, or every match of a `*` pattern in
/// its directory, sorted (as glob(3) returns them).
fn expand(config_dir: &Path, target: &str) -> Vec<PathBuf> {
    let path = if Path::new(target).is_absolute() {
        PathBuf::from(target)
    } else {
        config_dir.join(target)
    };
    let Some(pattern) = path.file_name().and_then(|n| n.to_str()) else {
        return vec![path];
    };
    if !pattern.contains('*') {
        return vec![path];
    }
    let dir = path.parent().unwrap_or(config_dir);
    let (prefix, suffix) = pattern.split_once('*').unwrap_or((pattern, ""));
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(prefix) && n.ends_with(suffix))
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(text: &str) -> Result<ConfTree, ConfError> {
        parse_text(Path::new("pjsip.conf"), text)
    }

    #[test]
    fn reads_templates_inheritance_and_comments() {
        let tree = parse(
            "; a comment\n[phone](!) ; template\ntype=endpoint\ncontext=from-internal\nallow = ulaw\n\
             ;-- a block\n[not]\n a section --;\n[1001](phone)\nallow => alaw ; later wins\ncallerid=Al \\; B <1001>\n\
             [1001]\ntype=aor\nmax_contacts=1\n",
        )
        .unwrap();
        let names: Vec<&str> = tree.sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["phone", "1001", "1001"]);
        assert!(tree.sections[0].is_template);
        assert_eq!(tree.sections[1].inherits, ["phone"]);
        assert_eq!(tree.sections[1].get("callerid"), Some("Al ; B <1001>"));
        let effective = tree.effective(1);
        assert_eq!(
            effective,
            [
                ("type".to_owned(), "endpoint".to_owned()),
                ("context".into(), "from-internal".into()),
                ("allow".into(), "ulaw".into()),
                ("allow".into(), "alaw".into()),
                ("callerid".into(), "Al ; B <1001>".into()),
            ]
        );
        assert_eq!(tree.sections[1].lines, 8..11);
        assert_eq!(tree.sections[2].lines, 11..14);
    }

    #[test]
    fn refuses_what_asterisk_refuses_with_the_line() {
        let e = parse("[ok]\ntype=aor\n[broken\ntype=endpoint\n").unwrap_err();
        assert_eq!(e.to_string(), "pjsip.conf, line 3: no closing ']'");
        let e = parse("type=aor\n").unwrap_err();
        assert!(matches!(e, ConfError::Syntax { line: 1, .. }), "{e}");
        let e = parse("[1001](nope)\n").unwrap_err();
        assert!(e.to_string().contains("'nope' does not exist"), "{e}");
    }

    #[test]
    fn marks_rayans_blocks_and_keeps_foreign_markers_as_text() {
        let tree = parse(
            "; BEGIN MANAGED - RayanPBX extensions\n[2001]\ntype=endpoint\n; END MANAGED - RayanPBX extensions\n\
             ; BEGIN MANAGED - Extension 1001\n[1001]\ntype=endpoint\n; END MANAGED - Extension 1001\n",
        )
        .unwrap();
        assert!(
            !tree.sections[0].managed,
            "another tool's block is hand-written to rayan"
        );
        assert!(tree.sections[1].managed);
        assert_eq!(tree.sections[0].lines, 1..3);
    }

    #[test]
    fn follows_includes_and_refuses_loops_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("pjsip.conf");
        std::fs::write(&root, "#include pjsip.endpoint.conf\n#tryinclude \"pjsip.missing.conf\"\n#include pjsip.d/*.conf\n").unwrap();
        std::fs::write(
            dir.path().join("pjsip.endpoint.conf"),
            "[1001]\ntype=endpoint\n",
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("pjsip.d")).unwrap();
        std::fs::write(dir.path().join("pjsip.d/b.conf"), "[b]\ntype=aor\n").unwrap();
        std::fs::write(dir.path().join("pjsip.d/a.conf"), "[a]\ntype=aor\n").unwrap();
        let tree = read_tree(&root, dir.path()).unwrap();
        let names: Vec<&str> = tree.sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["1001", "a", "b"]);
        assert_eq!(tree.files.len(), 4);

        std::fs::write(
            dir.path().join("pjsip.endpoint.conf"),
            "#include pjsip.conf\n",
        )
        .unwrap();
        let e = read_tree(&root, dir.path()).unwrap_err();
        assert!(matches!(e, ConfError::IncludeLoop { line: 1, .. }), "{e}");

        std::fs::write(
            dir.path().join("pjsip.endpoint.conf"),
            b"[x]\ntype=aor\n\xff\xfe\x00garbage",
        )
        .unwrap();
        let e = read_tree(&root, dir.path()).unwrap_err();
        assert!(matches!(e, ConfError::NotText { line: 3, .. }), "{e}");
        assert!(e.to_string().contains("pjsip.endpoint.conf"), "{e}");
    }

    proptest! {
        /// Any text either parses or is refused with a line inside the file;
        /// parsing never panics, and every section's span lies in the file.
        #[test]
        fn any_text_parses_or_is_refused_with_a_line(text in "(\\PC|\n|\\[|\\]|;|=|\\(|\\)|!|#){0,300}") {
            match parse(&text) {
                Ok(tree) => {
                    let lines = text.split('\n').count();
                    for s in &tree.sections {
                        prop_assert!(s.lines.start < s.lines.end && s.lines.end <= lines);
                    }
                }
                Err(ConfError::Syntax { line, .. }) => {
                    prop_assert!(line >= 1 && line <= text.split('\n').count());
                }
                Err(other) => prop_assert!(false, "{other}"),
            }
        }
    }
}
