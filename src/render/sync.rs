//! Bringing one file's managed blocks in line with what was rendered.

use std::path::Path;

use super::diff::unified_diff;
use super::managed::{Drift, ManagedFile};
use super::write::{WriteOptions, read_existing, replace_file};
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOutcome {
    /// True when the file was written.
    pub changed: bool,
    /// Unified diff of what was written (secrets masked), when `WriteOptions::with_diff`.
    pub diff: Option<String>,
    /// The blocks that differed from the rendered ones before the sync.
    pub drift: Vec<Drift>,
    /// Where the previous version was kept.
    pub backup: Option<std::path::PathBuf>,
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
    let current = read_existing(path)?.unwrap_or_default();
    let mut file = ManagedFile::parse(&current, leader).map_err(|mut e| {
        e.path = Some(path.to_path_buf());
        e
    })?;
    let drift = file.set_blocks(blocks)?;
    let content = file.render();
    let changed = content != current;
    let diff = if changed {
        unified_diff(&file_label(path), &current, &content)
    } else {
        String::new()
    };
    Ok(SyncPlan {
        changed,
        diff,
        drift,
        content,
    })
}

/// Makes the managed blocks of `path` exactly `blocks` (existing ones replaced in place,
/// new ones appended, stale ones removed), leaving every other byte as it was, and writes
/// the file atomically only when its content changes.
pub fn sync_file(
    path: &Path,
    leader: &str,
    blocks: &[ManagedBlock],
    options: &WriteOptions,
) -> Result<SyncOutcome, RenderError> {
    let current = read_existing(path)?;
    let current_text = current.as_deref().unwrap_or_default();
    let mut file = ManagedFile::parse(current_text, leader).map_err(|mut e| {
        e.path = Some(path.to_path_buf());
        e
    })?;
    let drift = file.set_blocks(blocks)?;
    let content = file.render();
    // Unchanged, or still nothing to write where there is no file.
    if content == current_text {
        tracing::debug!(path = %path.display(), "config file unchanged");
        return Ok(SyncOutcome {
            changed: false,
            diff: options.with_diff.then(String::new),
            drift,
            backup: None,
        });
    }
    let diff = options
        .with_diff
        .then(|| unified_diff(&file_label(path), current_text, &content));
    let written = replace_file(
        path,
        content.as_bytes(),
        current.as_deref().map(str::as_bytes),
        options,
    )?;
    tracing::info!(
        path = %path.display(),
        blocks = blocks.len(),
        changed_blocks = drift.len(),
        backup = ?written.backup,
        "config file written"
    );
    Ok(SyncOutcome {
        changed: written.changed,
        diff,
        drift,
        backup: written.backup,
    })
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
    let current = read_existing(path)?;
    let current_text = current.as_deref().unwrap_or_default();
    let mut file = ManagedFile::parse(current_text, leader).map_err(|mut e| {
        e.path = Some(path.to_path_buf());
        e
    })?;
    edit(&mut file)?;
    let content = file.render();
    if content == current_text {
        return Ok(SyncOutcome {
            changed: false,
            diff: options.with_diff.then(String::new),
            drift: Vec::new(),
            backup: None,
        });
    }
    let diff = options
        .with_diff
        .then(|| unified_diff(&file_label(path), current_text, &content));
    let written = replace_file(
        path,
        content.as_bytes(),
        current.as_deref().map(str::as_bytes),
        options,
    )?;
    tracing::info!(path = %path.display(), backup = ?written.backup, "config file edited");
    Ok(SyncOutcome {
        changed: written.changed,
        diff,
        drift: Vec::new(),
        backup: written.backup,
    })
}
