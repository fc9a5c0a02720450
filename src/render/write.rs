//! Atomic, ownership-preserving writes of config files.
//!
//! A file is replaced by writing a temporary file in the same directory, syncing it, and
//! renaming it over the old one; the directory is synced after the rename. The temporary
//! file holds everything the old one did (passwords included), so it is created with the
//! old file's mode (a new file's: [`WriteOptions::new_file_mode`]) and given its owner and
//! group before a byte is written: it is never more readable than the file it replaces.
//! A process killed mid-write leaves it behind as `.<name>.rayan-tmp.<pid>.<n>`;
//! [`remove_stale_temps`] removes those at the next start. Files written together (`pjsip.conf` and
//! `extensions.conf` in one apply) are synced side by side. The old version is kept as
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    let mut outcomes = replace_files(
        &[Replacement {
            path,
            contents,
            current: current.as_deref(),
        }],
        options,
    )?;
    Ok(outcomes.pop().unwrap_or_default())
}

/// One file for [`replace_files`]: the new contents, and what the caller just read
/// (`None` when the file did not exist).
pub(crate) struct Replacement<'a> {
    pub path: &'a Path,
    pub contents: &'a [u8],
    pub current: Option<&'a [u8]>,
}

/// A temporary file written and synced, waiting to be renamed over `path`.
struct Staged {
    path: PathBuf,
    temp: PathBuf,
    /// The replaced file's metadata; `None` when it did not exist.
    existing: Option<fs::Metadata>,
    index: usize,
}

/// Replaces the files whose content changed as one step: their temporary files are
/// written and synced side by side (a file sync waits on the disk, so two files take
/// about as long as one), then renamed in order, then each directory is synced once.
/// An error before the renames leaves every file as it was.
pub(crate) fn replace_files(
    files: &[Replacement<'_>],
    options: &WriteOptions,
) -> Result<Vec<WriteOutcome>, RenderError> {
    let mut outcomes = vec![WriteOutcome::default(); files.len()];
    let mut staged = Vec::new();
    for (index, file) in files.iter().enumerate() {
        if file.current == Some(file.contents) {
            continue;
        }
        let path = resolve(file.path)?;
        let existing = match fs::metadata(&path) {
            Ok(meta) => Some(meta),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(RenderError::io(&path, "read the metadata of", e)),
        };
        staged.push(Staged {
            temp: temp_path(&path),
            path,
            existing,
            index,
        });
    }
    let write = |s: &Staged| {
        write_temp(
            &s.temp,
            files[s.index].contents,
            s.existing.as_ref(),
            options,
        )
    };
    let written: Vec<Result<(), RenderError>> = match staged.as_slice() {
        [] => return Ok(outcomes),
        [one] => vec![write(one)],
        many => std::thread::scope(|scope| {
            let writers: Vec<_> = many.iter().map(|s| scope.spawn(move || write(s))).collect();
            writers
                .into_iter()
                .zip(many)
                .map(|(writer, s)| {
                    writer.join().unwrap_or_else(|_| {
                        Err(RenderError::io(
                            &s.temp,
                            "write",
                            std::io::Error::other("the writing thread failed"),
                        ))
                    })
                })
                .collect()
        }),
    };
    let remove_temps = |from: usize| {
        // The temp files are ours; each original is untouched until its rename.
        for s in &staged[from..] {
            let _ = fs::remove_file(&s.temp);
        }
    };
    if let Some(error) = written.into_iter().find_map(Result::err) {
        remove_temps(0);
        return Err(error);
    }
    let mut dirs: Vec<PathBuf> = Vec::new();
    for (n, s) in staged.iter().enumerate() {
        let renamed = if s.existing.is_some() && options.keep_backups > 0 {
            rotate_backups(&s.path, options.keep_backups).map(Some)
        } else {
            Ok(None)
        }
        .and_then(|backup| {
            fs::rename(&s.temp, &s.path)
                .map_err(|e| RenderError::io(&s.path, "rename the new version over", e))?;
            Ok(backup)
        });
        match renamed {
            Ok(backup) => {
                outcomes[s.index] = WriteOutcome {
                    changed: true,
                    backup,
                };
            }
            Err(e) => {
                remove_temps(n);
                return Err(e);
            }
        }
        let dir = match s.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    for dir in dirs {
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| RenderError::io(&dir, "sync the directory", e))?;
    }
    Ok(outcomes)
}

/// What names a temporary file, between the replaced file's name and `<pid>.<n>`.
const TEMP_MARK: &str = ".rayan-tmp.";

/// `.<name>.rayan-tmp.<pid>.<n>` beside `path`.
fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!("{TEMP_MARK}{}.{n}", std::process::id()));
    path.with_file_name(name)
}

/// True for a name of [`temp_path`]'s form, `.<name>.rayan-tmp.<pid>.<n>`, and nothing else.
pub fn is_temp_name(name: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    name.strip_prefix('.')
        .and_then(|rest| rest.rsplit_once(TEMP_MARK))
        .and_then(|(base, tail)| Some((base, tail.split_once('.')?)))
        .is_some_and(|(base, (pid, n))| !base.is_empty() && digits(pid) && digits(n))
}

/// The directories [`replace_files`] puts the temporary files of `files` in: each file's
/// own, and that of its target when it is a symlink. Without duplicates.
pub fn temp_dirs(files: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for file in files {
        let target = resolve(file).unwrap_or_else(|_| file.clone());
        for path in [file, &target] {
            let dir = match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
                _ => PathBuf::from("."),
            };
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
    }
    dirs
}

/// Removes the temporary files a writer killed mid-write left in `dir`: regular files
/// named as [`temp_path`] names them, whatever process made them, and nothing else.
/// Call it before this process writes there. Returns the paths removed; a missing
/// directory has none.
pub fn remove_stale_temps(dir: &Path) -> Result<Vec<PathBuf>, RenderError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(RenderError::io(dir, "list", e)),
    };
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| RenderError::io(dir, "list", e))?;
        let ours = entry.file_name().to_str().is_some_and(is_temp_name);
        // The entry's own type: a symlink of that name is not followed, nor removed.
        if !ours || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let path = entry.path();
        match fs::remove_file(&path) {
            Ok(()) => removed.push(path),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(RenderError::io(&path, "remove the stale temporary file", e)),
        }
    }
    Ok(removed)
}

fn write_temp(
    temp: &Path,
    contents: &[u8],
    existing: Option<&fs::Metadata>,
    options: &WriteOptions,
) -> Result<(), RenderError> {
    let io = |action, e| RenderError::io(temp, action, e);
    let mode = match existing {
        Some(meta) => meta.permissions().mode() & 0o7777,
        None => options.new_file_mode & 0o7777,
    };
    // Created with the final mode, which the umask can only narrow.
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode & 0o777)
        .open(temp)
        .map_err(|e| io("create", e))?;
    if let Some(meta) = existing {
        let mine = file.metadata().map_err(|e| io("read the metadata of", e))?;
        if (mine.uid(), mine.gid()) != (meta.uid(), meta.gid()) {
            std::os::unix::fs::fchown(&file, Some(meta.uid()), Some(meta.gid()))
                .map_err(|e| io("give the file its previous owner and group", e))?;
        }
    }
    // Exactly the final mode: bits the umask took, set-id bits a chown clears. The file
    // is still empty, and every byte is written under the final owner and mode.
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| io("set the mode of", e))?;
    #[cfg(test)]
    tests::observe(temp);
    file.write_all(contents).map_err(|e| io("write", e))?;
    #[cfg(test)]
    tests::observe(temp);
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

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::path::{Path, PathBuf};

    use super::*;

    thread_local! {
        /// The mode of the temporary file each time [`write_temp`] calls [`observe`].
        static SEEN: RefCell<Vec<(PathBuf, u32)>> = const { RefCell::new(Vec::new()) };
    }

    /// Records the temporary file's mode at a step of [`write_temp`].
    pub(super) fn observe(temp: &Path) {
        let mode = fs::metadata(temp).map_or(0, |m| m.permissions().mode() & 0o7777);
        SEEN.with(|seen| seen.borrow_mut().push((temp.to_path_buf(), mode)));
    }

    /// The modes the temporary file had while `path` was written (one file: this thread).
    fn temp_modes_while_writing(path: &Path, options: &WriteOptions) -> Vec<u32> {
        SEEN.with(|seen| seen.borrow_mut().clear());
        write_atomic(path, b"[1001]\nmd5_cred=0123456789abcdef\n", options).expect("write");
        let seen = SEEN.with(|seen| seen.take());
        assert!(!seen.is_empty(), "the temporary file was never observed");
        for (temp, _) in &seen {
            let name = temp
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            assert!(is_temp_name(name), "{name}");
        }
        seen.into_iter().map(|(_, mode)| mode).collect()
    }

    #[test]
    fn the_temporary_file_is_never_more_readable_than_the_file_it_replaces() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pjsip.conf");
        for target in [0o440, 0o400, 0o640, 0o604] {
            fs::write(&path, format!("old {target:o}\n")).expect("old file");
            fs::set_permissions(&path, fs::Permissions::from_mode(target)).expect("chmod");
            for mode in temp_modes_while_writing(&path, &WriteOptions::default()) {
                assert_eq!(
                    mode & !target,
                    0,
                    "temp {mode:o} is wider than the target {target:o}"
                );
            }
            let written = fs::metadata(&path).expect("written").permissions().mode() & 0o7777;
            assert_eq!(written, target);
        }
    }

    #[test]
    fn a_new_files_temporary_file_has_the_new_file_mode_at_most() {
        let dir = tempfile::tempdir().expect("tempdir");
        for new_file_mode in [0o400, 0o600, 0o640] {
            let path = dir.path().join(format!("new-{new_file_mode:o}.conf"));
            let options = WriteOptions {
                new_file_mode,
                ..WriteOptions::default()
            };
            for mode in temp_modes_while_writing(&path, &options) {
                assert_eq!(
                    mode & !new_file_mode,
                    0,
                    "temp {mode:o} is wider than {new_file_mode:o}"
                );
            }
        }
    }

    #[test]
    fn temp_names_are_recognised_and_nothing_else() {
        let made = temp_path(Path::new("/etc/asterisk/pjsip.conf"));
        let made = made
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        assert!(is_temp_name(made), "{made}");
        for name in [
            ".pjsip.conf.rayan-tmp.4242.0",
            ".dispatcher.list.rayan-tmp.1.17",
        ] {
            assert!(is_temp_name(name), "{name}");
        }
        for name in [
            "pjsip.conf",
            "pjsip.conf.rayan-tmp.4242.0",
            ".rayan-tmp.4242.0",
            ".pjsip.conf.rayan-tmp.4242",
            ".pjsip.conf.rayan-tmp.4242.",
            ".pjsip.conf.rayan-tmp.x.0",
            ".pjsip.conf.rayan-tmp.4242.0.swp",
            ".pjsip.conf.rayan-tmp.-1.0",
            "pjsip.conf.rayan-bak.1",
            ".pjsip.conf.swp",
        ] {
            assert!(!is_temp_name(name), "{name}");
        }
    }
}
