//! Bringing one file's managed blocks in line with what was rendered.

use std::path::Path;

use rayon::prelude::*;

use super::diff::unified_diff;
use super::managed::{Drift, ManagedFile};
use super::write::{Replacement, WriteOptions, read_existing, replace_files};
use super::{ManagedBlock, RenderError};

/// What `plan_file` found: what a sync would change, without changing anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncPlan {
    /// True when the file's content would change.
    pub changed: bool,
    /// Unified diff of the change, secrets masked; empty when unchanged.
    pub diff: String,
    /// The blocks that differ from the rendered ones (before the sync).
    pub drift: Vec<Drift>,
    /// The full new content.
    pub content: String,
}

/// What `sync_file` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncOutcome {
    /// True when the file was written.
    pub changed: bool,
    /// Unified diff of what was written (secrets masked), when `WriteOptions::with_diff`.
    pub diff: Option<String>,
    /// The blocks that differed from the rendered ones before the sync.
    pub drift: Vec<Drift>,
    /// Where the previous version was kept.
    pub backup: Option<std::path::PathBuf>,
    /// The file's content after the sync.
    pub content: String,
    /// Its content before, when the sync changed it (a missing file was empty).
    pub previous: Option<String>,
    /// The blocks the sync removed, with the bodies they had (empty for `edit_file`).
    pub removed: Vec<ManagedBlock>,
}

fn file_label(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Computes what syncing `path` to `blocks` would write. A missing file counts as empty;
/// a malformed one is an error naming the file and line.
pub fn plan_file(
    path: &Path,
    leader: &str,
    blocks: &[ManagedBlock],
) -> Result<SyncPlan, RenderError> {
    plan_file_keeping(path, leader, blocks, &[], owns_every_block)
}

/// Claims every block of a file (one only rayan writes markers in).
pub fn owns_every_block(_: &str) -> bool {
    true
}

/// [`plan_file`], leaving the blocks named in `keep`, and those `owns` does not
/// claim, as they are.
pub fn plan_file_keeping(
    path: &Path,
    leader: &str,
    blocks: &[ManagedBlock],
    keep: &[String],
    owns: fn(&str) -> bool,
) -> Result<SyncPlan, RenderError> {
    let mut edited = edit_in_memory(path, leader, |file| {
        let keep = file.kept_with_foreign(keep, owns);
        file.replace_blocks_keeping(blocks, &keep)
    })?;
    let changed = edited.changed();
    let diff = edited.diff(path);
    Ok(SyncPlan {
        changed,
        diff,
        drift: std::mem::take(&mut edited.drift),
        content: edited.into_content(),
    })
}

/// A file to bring in line with its rendered blocks ([`sync_files`]).
#[derive(Debug, Clone, Copy)]
pub struct FileSync<'a> {
    pub path: &'a Path,
    /// The comment leader of the file's dialect (`;` or `#`).
    pub leader: &'a str,
    pub blocks: &'a [ManagedBlock],
    /// Blocks to leave as they are (their objects could not be rendered).
    pub keep: &'a [String],
    /// Which block ids are rayan's; the others (another tool's) stay as they are.
    pub owns: fn(&str) -> bool,
}

/// A file read, parsed and edited in memory.
struct Edited {
    /// The file as read (`None` when it did not exist).
    current: Option<String>,
    /// The new text; `None` when no edit modified the file, whose text then stays.
    rendered: Option<String>,
    drift: Vec<Drift>,
    removed: Vec<ManagedBlock>,
}

impl Edited {
    fn current_text(&self) -> &str {
        self.current.as_deref().unwrap_or_default()
    }

    fn content(&self) -> &str {
        self.rendered.as_deref().unwrap_or(self.current_text())
    }

    fn into_content(self) -> String {
        self.rendered.or(self.current).unwrap_or_default()
    }

    fn changed(&self) -> bool {
        self.content() != self.current_text()
    }

    /// The unified diff of the edit (secrets masked); empty when nothing changed.
    fn diff(&self, path: &Path) -> String {
        if self.changed() {
            unified_diff(&file_label(path), self.current_text(), self.content())
        } else {
            String::new()
        }
    }
}

fn edit_in_memory(
    path: &Path,
    leader: &str,
    edit: impl FnOnce(&mut ManagedFile<'_>) -> Result<(Vec<Drift>, Vec<ManagedBlock>), RenderError>,
) -> Result<Edited, RenderError> {
    let current = read_existing(path)?;
    let (rendered, (drift, removed)) = {
        let mut file = ManagedFile::parse(current.as_deref().unwrap_or_default(), leader).map_err(
            |mut e| {
                e.path = Some(path.to_path_buf());
                e
            },
        )?;
        let edits = edit(&mut file)?;
        // Unedited, the file renders to its own text: skip building and comparing it.
        (file.is_modified().then(|| file.render()), edits)
    };
    Ok(Edited {
        current,
        rendered,
        drift,
        removed,
    })
}

/// Writes the edited files whose content changed (together, see
/// [`write::replace_files`](super::write)) and says what was done.
fn write_edited(
    paths: &[&Path],
    edited: Vec<Edited>,
    options: &WriteOptions,
) -> Result<Vec<SyncOutcome>, RenderError> {
    let replacements: Vec<Replacement<'_>> = paths
        .iter()
        .zip(&edited)
        .map(|(path, e)| Replacement {
            path,
            contents: e.content().as_bytes(),
            // A missing file counts as empty: nothing to write creates no file.
            current: Some(e.current_text().as_bytes()),
        })
        .collect();
    let written = replace_files(&replacements, options)?;
    Ok(paths
        .iter()
        .zip(edited)
        .zip(written)
        .map(|((path, mut e), written)| {
            let diff = options.with_diff.then(|| e.diff(path));
            if written.changed {
                tracing::info!(
                    path = %path.display(),
                    changed_blocks = e.drift.len(),
                    backup = ?written.backup,
                    "config file written"
                );
            } else {
                tracing::debug!(path = %path.display(), "config file unchanged");
            }
            let changed = e.changed();
            let drift = std::mem::take(&mut e.drift);
            let removed = std::mem::take(&mut e.removed);
            let (content, previous) = match e.rendered {
                Some(rendered) if changed => (rendered, Some(e.current.unwrap_or_default())),
                rendered => (rendered.or(e.current).unwrap_or_default(), None),
            };
            SyncOutcome {
                changed: written.changed,
                diff,
                drift,
                removed,
                backup: written.backup,
                content,
                previous,
            }
        })
        .collect())
}

/// Makes the managed blocks of each file exactly its `blocks` (existing ones replaced in
/// place, new ones appended, stale ones removed), leaving every other byte as it was, and
/// writes the files whose content changes, atomically and together. A malformed file
/// stops everything before any file is written.
pub fn sync_files(
    files: &[FileSync<'_>],
    options: &WriteOptions,
) -> Result<Vec<SyncOutcome>, RenderError> {
    let edited = files
        .par_iter()
        .map(|f| {
            edit_in_memory(f.path, f.leader, |file| {
                let keep = file.kept_with_foreign(f.keep, f.owns);
                file.replace_blocks_keeping(f.blocks, &keep)
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let paths: Vec<&Path> = files.iter().map(|f| f.path).collect();
    write_edited(&paths, edited, options)
}

fn only(outcomes: Vec<SyncOutcome>) -> SyncOutcome {
    outcomes.into_iter().next().unwrap_or_default()
}

/// [`sync_files`] for one file.
pub fn sync_file(
    path: &Path,
    leader: &str,
    blocks: &[ManagedBlock],
    options: &WriteOptions,
) -> Result<SyncOutcome, RenderError> {
    sync_files(
        &[FileSync {
            path,
            leader,
            blocks,
            keep: &[],
            owns: owns_every_block,
        }],
        options,
    )
    .map(only)
}

/// Reads `path` (a missing file is empty), lets `edit` insert, replace or remove blocks,
/// and writes the file atomically when its content changed. For changing one block
/// without rendering everything; `drift` is left empty.
pub fn edit_file(
    path: &Path,
    leader: &str,
    options: &WriteOptions,
    edit: impl FnOnce(&mut ManagedFile<'_>) -> Result<(), RenderError>,
) -> Result<SyncOutcome, RenderError> {
    let edited = edit_in_memory(path, leader, |file| {
        edit(file).map(|()| (Vec::new(), Vec::new()))
    })?;
    write_edited(&[path], vec![edited], options).map(only)
}
