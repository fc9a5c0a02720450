//! Atomic writes: owner, group and mode kept, bounded backups, nothing written when
//! nothing changed, symlinks followed, no temp files left.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use rayan::render::write::remove_stale_temps;
use rayan::render::{ManagedBlock, WriteOptions, backup_path, plan_file, sync_file, write_atomic};

fn options(keep_backups: usize) -> WriteOptions {
    WriteOptions {
        keep_backups,
        ..WriteOptions::default()
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn new_files_are_created_with_mode_0640() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pjsip.conf");
    let outcome = write_atomic(&path, b"[a]\n", &options(3)).unwrap();
    assert!(outcome.changed);
    assert_eq!(outcome.backup, None);
    assert_eq!(fs::read(&path).unwrap(), b"[a]\n");
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
        0o640
    );
    assert_eq!(names(dir.path()), ["pjsip.conf"]);
}

#[test]
fn mode_owner_and_group_of_the_existing_file_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pjsip.conf");
    fs::write(&path, "old\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o604)).unwrap();
    // As root, hand the file to another owner and group first; otherwise keep ours.
    let (uid, gid) = match std::os::unix::fs::chown(&path, Some(4242), Some(4343)) {
        Ok(()) => (4242, 4343),
        Err(_) => {
            let meta = fs::metadata(&path).unwrap();
            (meta.uid(), meta.gid())
        }
    };
    let outcome = write_atomic(&path, b"new\n", &options(2)).unwrap();
    assert!(outcome.changed);
    let meta = fs::metadata(&path).unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"new\n");
    assert_eq!(meta.permissions().mode() & 0o7777, 0o604);
    assert_eq!((meta.uid(), meta.gid()), (uid, gid));
    // The backup is the previous version, with the same access.
    let backup = outcome.backup.unwrap();
    assert_eq!(backup, backup_path(&path, 1));
    assert_eq!(fs::read(&backup).unwrap(), b"old\n");
    let backup_meta = fs::metadata(&backup).unwrap();
    assert_eq!(
        (
            backup_meta.uid(),
            backup_meta.gid(),
            backup_meta.permissions().mode() & 0o7777
        ),
        (uid, gid, 0o604)
    );
}

#[test]
fn unchanged_content_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pjsip.conf");
    fs::write(&path, "same\n").unwrap();
    let before = fs::metadata(&path).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let outcome = write_atomic(&path, b"same\n", &options(3)).unwrap();
    assert!(!outcome.changed);
    let after = fs::metadata(&path).unwrap();
    assert_eq!(before.modified().unwrap(), after.modified().unwrap());
    assert_eq!(before.ino(), after.ino());
    assert_eq!(names(dir.path()), ["pjsip.conf"]);
}

#[test]
fn backups_rotate_and_retention_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("extensions.conf");
    for version in 0..7 {
        write_atomic(&path, format!("v{version}\n").as_bytes(), &options(3)).unwrap();
    }
    assert_eq!(fs::read_to_string(&path).unwrap(), "v6\n");
    for (n, version) in [(1, 5), (2, 4), (3, 3)] {
        assert_eq!(
            fs::read_to_string(backup_path(&path, n)).unwrap(),
            format!("v{version}\n")
        );
    }
    assert_eq!(
        names(dir.path()),
        [
            "extensions.conf",
            "extensions.conf.rayan-bak.1",
            "extensions.conf.rayan-bak.2",
            "extensions.conf.rayan-bak.3"
        ]
    );
    // Lowering the retention drops the older backups on the next write.
    write_atomic(&path, b"v7\n", &options(1)).unwrap();
    assert_eq!(
        names(dir.path()),
        ["extensions.conf", "extensions.conf.rayan-bak.1"]
    );
    assert_eq!(fs::read_to_string(backup_path(&path, 1)).unwrap(), "v6\n");
    // No retention: no backup at all.
    write_atomic(&path, b"v8\n", &options(0)).unwrap();
    assert_eq!(fs::read_to_string(backup_path(&path, 1)).unwrap(), "v6\n");
}

#[test]
fn a_symlinked_file_stays_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("real.conf");
    let link = dir.path().join("pjsip.conf");
    fs::write(&target, "old\n").unwrap();
    std::os::unix::fs::symlink(&target, &link).unwrap();
    write_atomic(&link, b"new\n", &options(1)).unwrap();
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read_to_string(&target).unwrap(), "new\n");
    assert_eq!(
        fs::read_to_string(backup_path(&target, 1)).unwrap(),
        "old\n"
    );
}

#[test]
fn sync_writes_only_on_change_and_plan_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pjsip.conf");
    let admin = "[global]\r\ntype=global\r\n; keep me\r\n#include \"extra.conf\"\r\n[t](!)\r\nqualify_frequency=60";
    fs::write(&path, admin).unwrap();
    let blocks = vec![ManagedBlock::new(
        "Extension 1001",
        "[1001]\ntype=aor\nmax_contacts=1\n",
    )];

    let plan = plan_file(&path, ";", &blocks).unwrap();
    assert!(plan.changed);
    assert!(
        plan.diff.contains("+; BEGIN MANAGED - Extension 1001"),
        "{}",
        plan.diff
    );
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        admin,
        "a plan must not write"
    );

    let first = sync_file(&path, ";", &blocks, &options(2)).unwrap();
    assert!(first.changed);
    assert_eq!(first.diff.as_deref(), Some(plan.diff.as_str()));
    let written = fs::read_to_string(&path).unwrap();
    assert_eq!(written, plan.content);
    assert_eq!(
        written,
        format!(
            "{admin}\r\n; BEGIN MANAGED - Extension 1001\r\n[1001]\r\ntype=aor\r\nmax_contacts=1\r\n; END MANAGED - Extension 1001\r\n"
        )
    );

    let mtime = fs::metadata(&path).unwrap().modified().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let second = sync_file(&path, ";", &blocks, &options(2)).unwrap();
    assert!(!second.changed);
    assert!(second.drift.is_empty());
    assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), mtime);

    // Removing every block restores the administrator's text (plus the newline its last
    // line needed before the first block).
    let third = sync_file(&path, ";", &[], &options(2)).unwrap();
    assert!(third.changed);
    assert_eq!(fs::read_to_string(&path).unwrap(), format!("{admin}\r\n"));
}

#[test]
fn missing_files_are_created_by_sync() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("extensions.conf");
    let outcome = sync_file(
        &path,
        ";",
        &[ManagedBlock::new("Dialplan x", "[x]\n")],
        &options(2),
    )
    .unwrap();
    assert!(outcome.changed);
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "; BEGIN MANAGED - Dialplan x\n[x]\n; END MANAGED - Dialplan x\n"
    );
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
        0o640
    );
}

#[test]
fn nothing_to_write_creates_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("extensions.conf");
    let outcome = sync_file(&path, ";", &[], &options(2)).unwrap();
    assert!(!outcome.changed);
    assert!(!path.exists());
    assert!(!plan_file(&path, ";", &[]).unwrap().changed);
}

#[test]
fn edit_file_changes_one_block_and_writes_only_on_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pjsip.conf");
    let text = "[global]\n; BEGIN MANAGED - A\na=1\n; END MANAGED - A\n; BEGIN MANAGED - B\nb=1\n; END MANAGED - B\n";
    fs::write(&path, text).unwrap();
    let outcome = rayan::render::edit_file(&path, ";", &options(1), |file| {
        file.upsert(&ManagedBlock::new("B", "b=2"))
    })
    .unwrap();
    assert!(outcome.changed);
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        text.replace("b=1", "b=2")
    );
    let again = rayan::render::edit_file(&path, ";", &options(1), |file| {
        file.upsert(&ManagedBlock::new("B", "b=2\n"))
    })
    .unwrap();
    assert!(!again.changed);
    let removed = rayan::render::edit_file(&path, ";", &options(1), |file| {
        file.remove("A");
        Ok(())
    })
    .unwrap();
    assert!(removed.changed);
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "[global]\n; BEGIN MANAGED - B\nb=2\n; END MANAGED - B\n"
    );
}

fn asterisk_files<'a>(
    pjsip: &'a Path,
    endpoints: &'a [ManagedBlock],
    dialplan: &'a Path,
    contexts: &'a [ManagedBlock],
) -> [rayan::render::FileSync<'a>; 2] {
    use rayan::render::FileSync;
    [
        FileSync {
            path: pjsip,
            leader: ";",
            blocks: endpoints,
            keep: &[],
            owns: rayan::render::owns_every_block,
        },
        FileSync {
            path: dialplan,
            leader: ";",
            blocks: contexts,
            keep: &[],
            owns: rayan::render::owns_every_block,
        },
    ]
}

#[test]
fn files_synced_together_are_all_written_or_none_is() {
    use rayan::render::sync_files;
    let dir = tempfile::tempdir().unwrap();
    let pjsip = dir.path().join("pjsip.conf");
    let dialplan = dir.path().join("extensions.conf");
    fs::write(&pjsip, "[global]\ntype=global\n").unwrap();
    fs::write(&dialplan, "[general]\nstatic=yes\n").unwrap();
    let endpoint = [ManagedBlock::new("Extension 1001", "[1001]\ntype=aor\n")];
    let context = [ManagedBlock::new(
        "Dialplan internal",
        "[internal]\nexten => 1001,1,Dial(PJSIP/1001,30)\n",
    )];
    let both = asterisk_files(&pjsip, &endpoint, &dialplan, &context);
    let outcomes = sync_files(&both, &options(1)).unwrap();
    assert!(outcomes.iter().all(|o| o.changed));
    assert_eq!(outcomes[0].content, fs::read_to_string(&pjsip).unwrap());
    assert_eq!(outcomes[1].content, fs::read_to_string(&dialplan).unwrap());
    assert!(outcomes[1].content.starts_with("[general]\nstatic=yes\n"));
    assert!(
        outcomes[1]
            .content
            .contains("exten => 1001,1,Dial(PJSIP/1001,30)")
    );

    // Only the file that changes is written.
    let again = sync_files(&both, &options(1)).unwrap();
    assert!(again.iter().all(|o| !o.changed && o.backup.is_none()));

    // A block no longer rendered is removed, and reported with the body it had.
    let gone = sync_file(&pjsip, ";", &[], &options(1)).unwrap();
    assert!(gone.changed);
    assert_eq!(gone.removed, endpoint.to_vec());
    assert_eq!(gone.content, "[global]\ntype=global\n");
    sync_file(&pjsip, ";", &endpoint, &options(1)).unwrap();

    // A malformed second file stops the step before the first is written.
    let changed = [ManagedBlock::new(
        "Extension 1001",
        "[1001]\ntype=aor\nmax_contacts=2\n",
    )];
    let broken = "[general]\n; BEGIN MANAGED - Dialplan internal\n[internal]\n";
    fs::write(&dialplan, broken).unwrap();
    let before = fs::read_to_string(&pjsip).unwrap();
    let refused = sync_files(
        &asterisk_files(&pjsip, &changed, &dialplan, &context),
        &options(1),
    );
    assert!(refused.is_err());
    assert_eq!(fs::read_to_string(&pjsip).unwrap(), before);
    assert_eq!(fs::read_to_string(&dialplan).unwrap(), broken);
    assert!(
        names(dir.path()).iter().all(|n| !n.contains("rayan-tmp")),
        "{:?}",
        names(dir.path())
    );
}

#[test]
fn only_regular_files_of_the_temporary_naming_are_removed_as_stale() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("pjsip.conf");
    fs::write(&target, "[a]\n").unwrap();
    fs::write(dir.path().join(".pjsip.conf.rayan-tmp.77.0"), "secret\n").unwrap();
    fs::write(dir.path().join(".pjsip.conf.rayan-tmp.77"), "kept\n").unwrap();
    fs::create_dir(dir.path().join(".extensions.conf.rayan-tmp.77.1")).unwrap();
    std::os::unix::fs::symlink(&target, dir.path().join(".extensions.conf.rayan-tmp.77.2"))
        .unwrap();

    let removed = remove_stale_temps(dir.path()).unwrap();
    assert_eq!(removed, [dir.path().join(".pjsip.conf.rayan-tmp.77.0")]);
    assert_eq!(
        names(dir.path()),
        [
            ".extensions.conf.rayan-tmp.77.1",
            ".extensions.conf.rayan-tmp.77.2",
            ".pjsip.conf.rayan-tmp.77"
        ]
    );
    assert_eq!(fs::read_to_string(&target).unwrap(), "[a]\n");
    assert_eq!(
        remove_stale_temps(&dir.path().join("missing")).unwrap(),
        Vec::<std::path::PathBuf>::new()
    );
}
