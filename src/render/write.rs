//! Atomic, ownership-preserving writes of config files.
//!
//! A file is replaced by writing a temporary file in the same directory, syncing it,
//! giving it the old file's owner, group and mode, and renaming it over the old one; the
//! directory is synced after the rename. The old version is kept as
//! `<name>.rayan-bak.1` (newest) … `<name>.rayan-bak.<n>`. Nothing is written when the
//! content is unchanged, so the file's mtime only moves on a real change.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::RenderError;

/// How files are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOptions {
    /// Previous versions kept as backups; 0 keeps none.
    pub keep_backups: usize,
    /// Mode of a file that did not exist before (it holds secrets: not world-readable).
    pub new_file_mode: u32,
    /// Whether `sync_file` computes the unified diff of what it writes.
    pub with_diff: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self {
            keep_backups: 5,
            new_file_mode: 0o640,
            with_diff: true,
        }
    }
}

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOutcome {
    /// False when the file already had this content (nothing was written).
    pub changed: bool,
    /// Where the previous version was kept.
    pub backup: Option<PathBuf>,
}

/// The path of the `n`-th backup of `path` (1 is the newest).
pub fn backup_path(path: &Path, n: usize) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".rayan-bak.{n}"));
    path.with_file_name(name)
}

/// Follows a symlinked config file, so the link stays and its target is replaced.
fn resolve(path: &Path) -> Result<PathBuf, RenderError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            fs::canonicalize(path).map_err(|e| RenderError::io(path, "resolve the symlink", e))
        }
        _ => Ok(path.to_path_buf()),
    }
}

/// Reads the file; `None` when it does not exist.
pub fn read_existing(path: &Path) -> Result<Option<String>, RenderError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(RenderError::io(path, "read", e)),
    }
}

/// Writes `contents` to `path` atomically unless the file already holds exactly that.
pub fn write_atomic(
    path: &Path,
    contents: &[u8],
    options: &WriteOptions,
) -> Result<WriteOutcome, RenderError> {
    let current = match fs::read(path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => return Err(RenderError::io(path, "read", e)),
    };
    replace_file(path, contents, current.as_deref(), options)
}

/// [`write_atomic`] for a caller that has just read the file (`current`, `None` when it
/// did not exist).
pub(crate) fn replace_file(
    path: &Path,
    contents: &[u8],
    current: Option<&[u8]>,
    options: &WriteOptions,
) -> Result<WriteOutcome, RenderError> {
    if current == Some(contents) {
        return Ok(WriteOutcome {
            changed: false,
            backup: None,
        });
    }
    let path = resolve(path)?;
    let existing = match fs::metadata(&path) {
        Ok(meta) => Some(meta),
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => return Err(RenderError::io(&path, "read the metadata of", e)),
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let temp = temp_path(&path);
    let result = write_temp(&temp, contents, existing.as_ref(), options)
        .and_then(|()| {
            if existing.is_some() && options.keep_backups > 0 {
                rotate_backups(&path, options.keep_backups).map(Some)
            } else {
                Ok(None)
            }
        })
        .and_then(|backup| {
            fs::rename(&temp, &path)
                .map_err(|e| RenderError::io(&path, "rename the new version over", e))?;
            File::open(&dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| RenderError::io(&dir, "sync the directory", e))?;
            Ok(backup)
        });
    match result {
        Ok(backup) => Ok(WriteOutcome {
            changed: true,
            backup,
        }),
        Err(e) => {
            // The temp file is ours; the original is untouched until the rename.
            let _ = fs::remove_file(&temp);
            Err(e)
        }
    }
}

fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".rayan-tmp.{}.{n}", std::process::id()));
    path.with_file_name(name)
}

fn write_temp(
    temp: &Path,
    contents: &[u8],
    existing: Option<&fs::Metadata>,
    options: &WriteOptions,
) -> Result<(), RenderError> {
    let io = |action, e| RenderError::io(temp, action, e);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(temp)
        .map_err(|e| io("create", e))?;
    file.write_all(contents).map_err(|e| io("write", e))?;
    let mode = match existing {
        Some(meta) => {
            let mine = file.metadata().map_err(|e| io("read the metadata of", e))?;
            if (mine.uid(), mine.gid()) != (meta.uid(), meta.gid()) {
                std::os::unix::fs::fchown(&file, Some(meta.uid()), Some(meta.gid()))
                    .map_err(|e| io("give the file its previous owner and group", e))?;
            }
            meta.permissions().mode() & 0o7777
        }
        None => options.new_file_mode & 0o7777,
    };
    // After the chown, which may clear set-id bits.
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| io("set the mode of", e))?;
    file.sync_all().map_err(|e| io("sync", e))
}

/// Shifts `.rayan-bak.1..n-1` up by one, drops older ones, and keeps the current file as
/// `.rayan-bak.1` (a hard link: same inode, so same owner, group and mode).
fn rotate_backups(path: &Path, keep: usize) -> Result<PathBuf, RenderError> {
    remove_backups_from(path, keep)?;
    for n in (1..keep).rev() {
        let from = backup_path(path, n);
        match fs::rename(&from, backup_path(path, n + 1)) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(RenderError::io(&from, "rotate the backup", e)),
        }
    }
    let newest = backup_path(path, 1);
    if let Err(link_error) = fs::hard_link(path, &newest) {
        // File systems without hard links: copy, then give the copy the original's access.
        let meta =
            fs::metadata(path).map_err(|e| RenderError::io(path, "read the metadata of", e))?;
        fs::copy(path, &newest)
            .map_err(|_| RenderError::io(&newest, "create the backup", link_error))?;
        std::os::unix::fs::chown(&newest, Some(meta.uid()), Some(meta.gid()))
            .and_then(|()| fs::set_permissions(&newest, meta.permissions()))
            .map_err(|e| {
                RenderError::io(&newest, "give the backup the original's owner and mode", e)
            })?;
    }
    Ok(newest)
}

/// Removes the backups numbered `from` and above (all that retention no longer keeps).
fn remove_backups_from(path: &Path, from: usize) -> Result<(), RenderError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Ok(());
    };
    let prefix = format!("{name}.rayan-bak.");
    let entries = fs::read_dir(dir).map_err(|e| RenderError::io(dir, "list", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| RenderError::io(dir, "list", e))?;
        let file_name = entry.file_name();
        let Some(n) = file_name
            .to_str()
            .and_then(|f| f.strip_prefix(&prefix))
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue;
        };
        if n >= from {
            let old = entry.path();
            fs::remove_file(&old).map_err(|e| RenderError::io(&old, "remove the old backup", e))?;
        }
    }
    Ok(())
}
