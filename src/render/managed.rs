//! The managed-section file editor.
//!
//! A config file is the administrator's text with managed blocks in between:
//!
//! ```text
//! ; BEGIN MANAGED - Extension 1001
//! [1001]
//! type=endpoint
//! ; END MANAGED - Extension 1001
//! ```
//!
//! The comment leader is `;` for Asterisk files and `#` for Kamailio's lists. Parsing keeps
//! every byte: an unedited file renders back byte for byte (CRLF, a missing final newline
//! and all). Blocks are inserted, replaced and removed by id; the administrator's text is
//! never touched, with one exception: a block appended after a last line that has no
//! newline gets one first, or its marker would join that line.
//!
//! Parsing and editing are linear in the size of the file; rendering writes into one
//! buffer sized up front.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;
use thiserror::Error;
use utoipa::ToSchema;

use super::RenderError;

/// Block ids come from the database and the administrator's files: a fast hasher,
/// still seeded per process.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

const BEGIN: &str = "BEGIN MANAGED";
const END: &str = "END MANAGED";
/// In every marker line.
const KEYWORD: &str = "MANAGED";
/// Longest block id accepted (ids are short: `Extension 1001`, `Trunk telnyx_main`).
const MAX_ID_LEN: usize = 200;

/// A block the renderer wants in a file: its id and the text between its markers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedBlock {
    pub id: String,
    /// Lines separated by `\n`; a final newline is added when missing.
    pub body: String,
}

impl ManagedBlock {
    pub fn new(id: impl Into<String>, body: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            body: body.into(),
        }
    }
}

/// What is wrong with a file's managed markers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MalformedKind {
    /// A BEGIN marker without its END before the end of the file.
    Unterminated { id: String },
    /// Two blocks with the same id.
    DuplicateId { id: String, first_line: usize },
    /// A BEGIN marker inside another block.
    Nested { outer: String, inner: String },
    /// An END marker outside every block.
    EndWithoutBegin { id: String },
    /// An END marker whose id is not the open block's.
    MismatchedEnd { open: String, end: String },
    /// A BEGIN/END MANAGED comment without `- <id>`.
    MarkerWithoutId,
}

/// A file whose managed markers are broken. The editor refuses to touch it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct Malformed {
    /// The file, when known.
    pub path: Option<PathBuf>,
    /// 1-based line of the offending marker (for `Unterminated`, the BEGIN line).
    pub line: usize,
    pub kind: MalformedKind,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(path) => write!(f, "{} line {}: ", path.display(), self.line)?,
            None => write!(f, "line {}: ", self.line)?,
        }
        match &self.kind {
            MalformedKind::Unterminated { id } => {
                write!(f, "managed block '{id}' has no END marker")
            }
            MalformedKind::DuplicateId { id, first_line } => {
                write!(
                    f,
                    "managed block '{id}' appears twice (first at line {first_line})"
                )
            }
            MalformedKind::Nested { outer, inner } => {
                write!(
                    f,
                    "managed block '{inner}' begins inside managed block '{outer}'"
                )
            }
            MalformedKind::EndWithoutBegin { id } => {
                write!(f, "END marker for '{id}' without a BEGIN")
            }
            MalformedKind::MismatchedEnd { open, end } => {
                write!(
                    f,
                    "END marker for '{end}' while managed block '{open}' is open"
                )
            }
            MalformedKind::MarkerWithoutId => write!(f, "managed marker without '- <id>'"),
        }?;
        f.write_str("; the file was not changed")
    }
}

/// How a block in the file differs from what the database renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DriftKind {
    /// In the file with other text than rendered.
    Changed,
    /// Rendered but not in the file.
    Missing,
    /// In the file but no longer rendered.
    Unexpected,
}

/// One drifted block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Drift {
    #[schema(example = "Extension 1001")]
    pub id: String,
    pub kind: DriftKind,
}

#[derive(Debug, Clone)]
enum Part<'a> {
    Text(&'a str),
    Block {
        id: Cow<'a, str>,
        /// The text between the markers, as in the file or as set.
        body: Cow<'a, str>,
        /// The block's bytes in the file (markers included), while unchanged.
        raw: Option<&'a str>,
    },
}

enum Marker<'l> {
    Begin(&'l str),
    End(&'l str),
}

/// A parsed config file: the administrator's text and the managed blocks, in order.
#[derive(Debug, Clone)]
pub struct ManagedFile<'a> {
    leader: String,
    newline: &'static str,
    parts: Vec<Part<'a>>,
    /// False while the file is exactly as parsed, so rendering would give the input back.
    modified: bool,
}

/// The 1-based number of the line holding byte `offset`.
fn line_number(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

fn strip_line_end(line: &str) -> &str {
    let line = line.strip_suffix('\n').unwrap_or(line);
    line.strip_suffix('\r').unwrap_or(line)
}

/// Recognises `<leader> BEGIN MANAGED - <id>` / `<leader> END MANAGED - <id>` (spaces and
/// tabs may come first); `Err` for a BEGIN/END MANAGED comment without an id.
fn parse_marker<'l>(line: &'l str, leader: &str) -> Result<Option<Marker<'l>>, ()> {
    // Most lines do not start with the leader: reject them before any other work.
    let Some(rest) = line.trim_start_matches([' ', '\t']).strip_prefix(leader) else {
        return Ok(None);
    };
    let rest = strip_line_end(rest).trim_end();
    let rest = rest.trim_start();
    let (is_begin, after) = if let Some(after) = rest.strip_prefix(BEGIN) {
        (true, after)
    } else if let Some(after) = rest.strip_prefix(END) {
        (false, after)
    } else {
        return Ok(None);
    };
    let id = after
        .trim_start()
        .strip_prefix('-')
        .map(str::trim)
        .unwrap_or("");
    if id.is_empty() {
        return Err(());
    }
    Ok(Some(if is_begin {
        Marker::Begin(id)
    } else {
        Marker::End(id)
    }))
}

/// Normalises a body for comparison: LF line ends and a final newline when not empty.
fn normalized_body(body: &str) -> Cow<'_, str> {
    let lf: Cow<'_, str> = if body.contains('\r') {
        Cow::Owned(body.replace("\r\n", "\n"))
    } else {
        Cow::Borrowed(body)
    };
    if lf.is_empty() || lf.ends_with('\n') {
        lf
    } else {
        Cow::Owned(format!("{lf}\n"))
    }
}

impl<'a> ManagedFile<'a> {
    /// Parses `text` with the comment `leader` (`;` or `#`).
    pub fn parse(text: &'a str, leader: &str) -> Result<Self, Malformed> {
        // Line numbers are only needed for errors: count them then.
        let malformed = |offset: usize, kind| Malformed {
            path: None,
            line: line_number(text, offset),
            kind,
        };
        let newline = match text.find('\n') {
            Some(i) if i > 0 && text.as_bytes()[i - 1] == b'\r' => "\r\n",
            _ => "\n",
        };
        let mut parts = Vec::new();
        let mut seen: FastMap<&'a str, usize> = FastMap::default();
        // (id, byte offset of the BEGIN line, byte offset of the body)
        let mut open: Option<(&'a str, usize, usize)> = None;
        let mut text_start = 0;
        let mut search_from = 0;
        // Every marker line contains the keyword: jump from one occurrence to the next
        // instead of looking at every line.
        while let Some(hit) = text[search_from..].find(KEYWORD) {
            let at = search_from + hit;
            let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
            let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i + 1);
            search_from = line_end;
            let marker = parse_marker(&text[line_start..line_end], leader)
                .map_err(|()| malformed(line_start, MalformedKind::MarkerWithoutId))?;
            match (marker, open) {
                (None, _) => {}
                (Some(Marker::Begin(id)), None) => {
                    if let Some(&first) = seen.get(id) {
                        return Err(malformed(
                            line_start,
                            MalformedKind::DuplicateId {
                                id: id.to_owned(),
                                first_line: line_number(text, first),
                            },
                        ));
                    }
                    seen.insert(id, line_start);
                    if text_start < line_start {
                        parts.push(Part::Text(&text[text_start..line_start]));
                    }
                    open = Some((id, line_start, line_end));
                }
                (Some(Marker::Begin(inner)), Some((outer, ..))) => {
                    return Err(malformed(
                        line_start,
                        MalformedKind::Nested {
                            outer: outer.to_owned(),
                            inner: inner.to_owned(),
                        },
                    ));
                }
                (Some(Marker::End(id)), None) => {
                    return Err(malformed(
                        line_start,
                        MalformedKind::EndWithoutBegin { id: id.to_owned() },
                    ));
                }
                (Some(Marker::End(id)), Some((open_id, block_start, body_start))) => {
                    if id != open_id {
                        return Err(malformed(
                            line_start,
                            MalformedKind::MismatchedEnd {
                                open: open_id.to_owned(),
                                end: id.to_owned(),
                            },
                        ));
                    }
                    parts.push(Part::Block {
                        id: Cow::Borrowed(open_id),
                        body: Cow::Borrowed(&text[body_start..line_start]),
                        raw: Some(&text[block_start..line_end]),
                    });
                    open = None;
                    text_start = line_end;
                }
            }
        }
        if let Some((id, block_start, _)) = open {
            return Err(malformed(
                block_start,
                MalformedKind::Unterminated { id: id.to_owned() },
            ));
        }
        if text_start < text.len() {
            parts.push(Part::Text(&text[text_start..]));
        }
        Ok(Self {
            leader: leader.to_owned(),
            newline,
            parts,
            modified: false,
        })
    }

    /// `keep` and the ids of the blocks `owns` does not claim: another tool's
    /// blocks (`; BEGIN MANAGED - RayanPBX extensions`), which are the
    /// administrator's text to rayan and must stay as they are.
    pub fn kept_with_foreign(&self, keep: &[String], owns: fn(&str) -> bool) -> Vec<String> {
        let mut out = keep.to_vec();
        out.extend(
            self.blocks()
                .map(|(id, _)| id)
                .filter(|id| !owns(id))
                .map(str::to_owned),
        );
        out
    }

    /// True once an edit changed a block; until then [`ManagedFile::render`] gives back
    /// the parsed text byte for byte.
    pub fn is_modified(&self) -> bool {
        self.modified
    }

    /// The managed blocks as `(id, body)`, in file order (bodies as in the file).
    pub fn blocks(&self) -> impl Iterator<Item = (&str, &str)> {
        self.parts.iter().filter_map(|p| match p {
            Part::Block { id, body, .. } => Some((id.as_ref(), body.as_ref())),
            Part::Text(_) => None,
        })
    }

    /// The body of the block with this id.
    pub fn get(&self, id: &str) -> Option<&str> {
        self.blocks()
            .find(|(block_id, _)| *block_id == id)
            .map(|(_, body)| body)
    }

    fn position(&self, id: &str) -> Option<usize> {
        self.parts
            .iter()
            .position(|p| matches!(p, Part::Block { id: block_id, .. } if block_id == id))
    }

    /// Checks that a block can be written and read back as the same block.
    fn check_block(&self, block: &ManagedBlock) -> Result<(), RenderError> {
        let invalid = |reason: &str| RenderError::InvalidBlock {
            id: block.id.clone(),
            reason: reason.to_owned(),
        };
        let id = &block.id;
        if id.is_empty() || id.len() > MAX_ID_LEN {
            return Err(invalid("id must be 1 to 200 bytes"));
        }
        if id.chars().any(char::is_control) || id.trim() != id {
            return Err(invalid("id must be one line without surrounding spaces"));
        }
        if block.body.contains('\r') {
            return Err(invalid("body must use LF line ends"));
        }
        if block.body.contains(KEYWORD)
            && block
                .body
                .lines()
                .any(|line| !matches!(parse_marker(line, &self.leader), Ok(None)))
        {
            return Err(invalid("body contains a managed marker"));
        }
        Ok(())
    }

    /// Sets a block's body; `true` when it differed.
    fn set_body(part: &mut Part<'a>, body: &str) -> bool {
        if let Part::Block {
            body: current, raw, ..
        } = part
        {
            // Equal bytes are the common case; only different ones need normalising.
            if current.as_ref() != body && normalized_body(current) != normalized_body(body) {
                *current = Cow::Owned(body.to_owned());
                *raw = None;
                return true;
            }
        }
        false
    }

    fn new_part(block: &ManagedBlock) -> Part<'a> {
        Part::Block {
            id: Cow::Owned(block.id.clone()),
            body: Cow::Owned(block.body.clone()),
            raw: None,
        }
    }

    /// Adds a block at the end of the file; error when the id exists.
    pub fn insert(&mut self, block: &ManagedBlock) -> Result<(), RenderError> {
        self.check_block(block)?;
        if self.position(&block.id).is_some() {
            return Err(RenderError::Duplicate {
                what: "managed block",
                name: block.id.clone(),
            });
        }
        self.parts.push(Self::new_part(block));
        self.modified = true;
        Ok(())
    }

    /// Replaces the body of an existing block in place; `false` when there is none.
    pub fn replace(&mut self, block: &ManagedBlock) -> Result<bool, RenderError> {
        self.check_block(block)?;
        match self.position(&block.id) {
            Some(i) => {
                self.modified |= Self::set_body(&mut self.parts[i], &block.body);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Replaces the block in place, or appends it when absent.
    pub fn upsert(&mut self, block: &ManagedBlock) -> Result<(), RenderError> {
        if !self.replace(block)? {
            self.parts.push(Self::new_part(block));
            self.modified = true;
        }
        Ok(())
    }

    /// Removes the block (markers included); `false` when there is none.
    pub fn remove(&mut self, id: &str) -> bool {
        match self.position(id) {
            Some(i) => {
                self.parts.remove(i);
                self.modified = true;
                true
            }
            None => false,
        }
    }

    /// Makes the file's managed blocks exactly `desired`: existing ones are replaced in
    /// place, a missing one goes right after the block that precedes it in `desired`
    /// (before the first one, or at the end of a file without any), the others are
    /// removed. Returns what
    /// differed (the same as [`ManagedFile::drift`] before the edit).
    pub fn set_blocks(&mut self, desired: &[ManagedBlock]) -> Result<Vec<Drift>, RenderError> {
        self.replace_blocks(desired).map(|(drift, _)| drift)
    }

    /// [`ManagedFile::set_blocks`], also returning the blocks it removed with the bodies
    /// they had.
    pub fn replace_blocks(
        &mut self,
        desired: &[ManagedBlock],
    ) -> Result<(Vec<Drift>, Vec<ManagedBlock>), RenderError> {
        self.replace_blocks_keeping(desired, &[])
    }

    /// [`ManagedFile::replace_blocks`], leaving the blocks named in `keep` exactly as
    /// they are (the blocks of objects that could not be rendered this time).
    pub fn replace_blocks_keeping(
        &mut self,
        desired: &[ManagedBlock],
        keep: &[String],
    ) -> Result<(Vec<Drift>, Vec<ManagedBlock>), RenderError> {
        let mut wanted: FastMap<&str, usize> =
            FastMap::with_capacity_and_hasher(desired.len(), Default::default());
        for (i, block) in desired.iter().enumerate() {
            self.check_block(block)?;
            if wanted.insert(block.id.as_str(), i).is_some() {
                return Err(RenderError::Duplicate {
                    what: "managed block",
                    name: block.id.clone(),
                });
            }
        }
        // Which wanted blocks the file has already: a missing one goes right after
        // the block that precedes it in `desired`, so that the layout is the same
        // whichever order the blocks arrived in (nodes sharing one database end
        // with identical files).
        let mut placed = vec![false; desired.len()];
        for part in &self.parts {
            if let Part::Block { id, .. } = part
                && let Some(&i) = wanted.get(id.as_ref())
            {
                placed[i] = true;
            }
        }
        let mut changed = vec![false; desired.len()];
        let mut unexpected = Vec::new();
        let mut removed = Vec::new();
        let mut parts = Vec::with_capacity(self.parts.len() + desired.len());
        // Missing blocks are emitted in `desired` order up to this index.
        let mut next_missing = 0;
        // Where the part after the last wanted block went.
        let mut after_last_block: Option<usize> = None;
        for mut part in std::mem::take(&mut self.parts) {
            if let Part::Block { id, body, .. } = &part {
                if keep.iter().any(|k| k == id.as_ref()) && !wanted.contains_key(id.as_ref()) {
                    parts.push(part);
                    continue;
                }
                let Some(&i) = wanted.get(id.as_ref()) else {
                    unexpected.push(Drift {
                        id: id.clone().into_owned(),
                        kind: DriftKind::Unexpected,
                    });
                    removed.push(ManagedBlock::new(id.as_ref(), body.as_ref()));
                    continue;
                };
                let missing: Vec<Part<'_>> = (next_missing..i.max(next_missing))
                    .filter(|&m| !placed[m])
                    .map(|m| Self::new_part(&desired[m]))
                    .collect();
                next_missing = next_missing.max(i + 1);
                let at = after_last_block.unwrap_or(parts.len());
                parts.splice(at..at, missing);
                changed[i] = Self::set_body(&mut part, &desired[i].body);
                parts.push(part);
                after_last_block = Some(parts.len());
                continue;
            }
            parts.push(part);
        }
        let rest: Vec<Part<'_>> = (next_missing..desired.len())
            .filter(|&m| !placed[m])
            .map(|m| Self::new_part(&desired[m]))
            .collect();
        parts.extend(rest);
        let mut drift = Vec::with_capacity(unexpected.len());
        for ((block, placed), changed) in desired.iter().zip(placed).zip(changed) {
            if !placed {
                drift.push(Drift {
                    id: block.id.clone(),
                    kind: DriftKind::Missing,
                });
            } else if changed {
                drift.push(Drift {
                    id: block.id.clone(),
                    kind: DriftKind::Changed,
                });
            }
        }
        drift.extend(unexpected);
        self.parts = parts;
        self.modified |= !drift.is_empty();
        Ok((drift, removed))
    }

    /// The blocks whose text differs from `desired`, those missing from the file, and
    /// those in the file that `desired` no longer has.
    pub fn drift(&self, desired: &[ManagedBlock]) -> Vec<Drift> {
        self.drift_keeping(desired, &[])
    }

    /// [`ManagedFile::drift`], not counting the blocks named in `keep`.
    pub fn drift_keeping(&self, desired: &[ManagedBlock], keep: &[String]) -> Vec<Drift> {
        let present: HashMap<&str, &str> = self.blocks().collect();
        let mut drift = Vec::new();
        for block in desired {
            match present.get(block.id.as_str()) {
                None => drift.push(Drift {
                    id: block.id.clone(),
                    kind: DriftKind::Missing,
                }),
                Some(body) if normalized_body(body) != normalized_body(&block.body) => {
                    drift.push(Drift {
                        id: block.id.clone(),
                        kind: DriftKind::Changed,
                    })
                }
                Some(_) => {}
            }
        }
        let wanted: std::collections::HashSet<&str> =
            desired.iter().map(|b| b.id.as_str()).collect();
        for (id, _) in self.blocks() {
            if !wanted.contains(id) && !keep.iter().any(|k| k == id) {
                drift.push(Drift {
                    id: id.to_owned(),
                    kind: DriftKind::Unexpected,
                });
            }
        }
        drift
    }

    fn push_generated(&self, out: &mut String, id: &str, body: &str) {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push_str(self.newline);
        }
        for marker in [BEGIN, END] {
            if marker == END {
                for line in body.lines() {
                    out.push_str(line);
                    out.push_str(self.newline);
                }
            }
            out.push_str(&self.leader);
            out.push(' ');
            out.push_str(marker);
            out.push_str(" - ");
            out.push_str(id);
            out.push_str(self.newline);
        }
    }

    /// The file's text: untouched parts byte for byte, new or changed blocks with the
    /// file's line ending.
    pub fn render(&self) -> String {
        let size: usize = self
            .parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.len(),
                Part::Block { raw: Some(raw), .. } => raw.len(),
                Part::Block {
                    id,
                    body,
                    raw: None,
                } => 2 * (self.leader.len() + id.len() + 20) + body.len() + body.len() / 8 + 4,
            })
            .sum();
        let mut out = String::with_capacity(size);
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Block { raw: Some(raw), .. } => out.push_str(raw),
                Part::Block {
                    id,
                    body,
                    raw: None,
                } => self.push_generated(&mut out, id, body),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "[global]\ntype=global\n; BEGIN MANAGED - Extension 1001\n[1001]\ntype=endpoint\n; END MANAGED - Extension 1001\n#include extra.conf\n";

    #[test]
    fn unchanged_file_round_trips() {
        let file = ManagedFile::parse(FILE, ";").unwrap();
        assert_eq!(file.render(), FILE);
        assert_eq!(file.get("Extension 1001"), Some("[1001]\ntype=endpoint\n"));
    }

    #[test]
    fn replace_keeps_surroundings() {
        let mut file = ManagedFile::parse(FILE, ";").unwrap();
        assert!(
            file.replace(&ManagedBlock::new("Extension 1001", "[1001]\ntype=aor"))
                .unwrap()
        );
        assert_eq!(
            file.render(),
            "[global]\ntype=global\n; BEGIN MANAGED - Extension 1001\n[1001]\ntype=aor\n; END MANAGED - Extension 1001\n#include extra.conf\n"
        );
    }

    #[test]
    fn equal_body_keeps_original_bytes() {
        let crlf = FILE.replace('\n', "\r\n");
        let mut file = ManagedFile::parse(&crlf, ";").unwrap();
        file.set_blocks(&[ManagedBlock::new("Extension 1001", "[1001]\ntype=endpoint")])
            .unwrap();
        assert_eq!(file.render(), crlf);
    }

    #[test]
    fn appended_block_gets_a_newline_after_an_unterminated_last_line() {
        let mut file = ManagedFile::parse("[a]\nx=1", ";").unwrap();
        file.insert(&ManagedBlock::new("B", "y=2\n")).unwrap();
        assert_eq!(
            file.render(),
            "[a]\nx=1\n; BEGIN MANAGED - B\ny=2\n; END MANAGED - B\n"
        );
    }

    #[test]
    fn crlf_files_get_crlf_blocks() {
        let mut file = ManagedFile::parse("a\r\n", "#").unwrap();
        file.insert(&ManagedBlock::new("B", "1 sip:x\n2 sip:y"))
            .unwrap();
        assert_eq!(
            file.render(),
            "a\r\n# BEGIN MANAGED - B\r\n1 sip:x\r\n2 sip:y\r\n# END MANAGED - B\r\n"
        );
    }

    #[test]
    fn malformed_files_are_refused() {
        let cases: &[(&str, usize, MalformedKind)] = &[
            (
                "; BEGIN MANAGED - A\nx\n",
                1,
                MalformedKind::Unterminated { id: "A".into() },
            ),
            (
                "; BEGIN MANAGED - A\n; END MANAGED - A\n; BEGIN MANAGED - A\n; END MANAGED - A\n",
                3,
                MalformedKind::DuplicateId {
                    id: "A".into(),
                    first_line: 1,
                },
            ),
            (
                "; BEGIN MANAGED - A\n; BEGIN MANAGED - B\n",
                2,
                MalformedKind::Nested {
                    outer: "A".into(),
                    inner: "B".into(),
                },
            ),
            (
                "x\n; END MANAGED - A\n",
                2,
                MalformedKind::EndWithoutBegin { id: "A".into() },
            ),
            (
                "; BEGIN MANAGED - A\n; END MANAGED - B\n",
                2,
                MalformedKind::MismatchedEnd {
                    open: "A".into(),
                    end: "B".into(),
                },
            ),
            ("; BEGIN MANAGED\n", 1, MalformedKind::MarkerWithoutId),
        ];
        for (text, line, kind) in cases {
            let err = ManagedFile::parse(text, ";").unwrap_err();
            assert_eq!((err.line, &err.kind), (*line, kind), "{text:?}");
            assert!(err.to_string().contains("not changed"));
        }
    }

    #[test]
    fn blocks_that_would_not_read_back_are_refused() {
        let mut file = ManagedFile::parse("", ";").unwrap();
        for block in [
            ManagedBlock::new("", "x"),
            ManagedBlock::new("a\nb", "x"),
            ManagedBlock::new(" a", "x"),
            ManagedBlock::new("A", "x\r\ny"),
            ManagedBlock::new("A", "; END MANAGED - A\n"),
            ManagedBlock::new("A", ";BEGIN MANAGED - B\n"),
        ] {
            assert!(file.upsert(&block).is_err(), "{block:?}");
        }
        assert_eq!(file.render(), "");
    }

    #[test]
    fn set_blocks_replaces_appends_and_removes() {
        let text = "head\n; BEGIN MANAGED - A\na\n; END MANAGED - A\nmid\n; BEGIN MANAGED - B\nb\n; END MANAGED - B\ntail\n";
        let mut file = ManagedFile::parse(text, ";").unwrap();
        let desired = [ManagedBlock::new("C", "c"), ManagedBlock::new("B", "b2")];
        let drift = file.drift(&desired);
        assert_eq!(
            drift,
            vec![
                Drift {
                    id: "C".into(),
                    kind: DriftKind::Missing
                },
                Drift {
                    id: "B".into(),
                    kind: DriftKind::Changed
                },
                Drift {
                    id: "A".into(),
                    kind: DriftKind::Unexpected
                },
            ]
        );
        file.set_blocks(&desired).unwrap();
        assert_eq!(
            file.render(),
            "head\nmid\n; BEGIN MANAGED - C\nc\n; END MANAGED - C\n; BEGIN MANAGED - B\nb2\n; END MANAGED - B\ntail\n"
        );
        let again = file.render();
        assert!(
            ManagedFile::parse(&again, ";")
                .unwrap()
                .drift(&desired)
                .is_empty()
        );
    }
}

#[cfg(test)]
mod arrival_order {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Nodes apply the same blocks in different batches; their files must not differ.
        #[test]
        fn the_layout_does_not_depend_on_the_batches(
            count in 1usize..12,
            first_batch in proptest::collection::vec(any::<bool>(), 12),
            head in "[a-z ]{0,8}",
        ) {
            let desired: Vec<ManagedBlock> = (0..count)
                .map(|i| ManagedBlock::new(format!("B{i:02}"), format!("body {i}")))
                .collect();
            let start = format!("{head}\n");
            let mut at_once = ManagedFile::parse(&start, ";").unwrap();
            at_once.set_blocks(&desired).unwrap();
            let early: Vec<ManagedBlock> = desired
                .iter()
                .zip(&first_batch)
                .filter(|(_, early)| **early)
                .map(|(b, _)| b.clone())
                .collect();
            let mut in_two = ManagedFile::parse(&start, ";").unwrap();
            in_two.set_blocks(&early).unwrap();
            let between = in_two.render();
            let mut second = ManagedFile::parse(&between, ";").unwrap();
            second.set_blocks(&desired).unwrap();
            prop_assert_eq!(second.render(), at_once.render());
        }
    }
}
