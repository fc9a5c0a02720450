//! The shipped systemd unit, sysusers and tmpfiles files, checked with systemd's
//! own tools: `systemd-analyze verify` and `security`, `systemd-sysusers` and
//! `systemd-tmpfiles` on a scratch root.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SYSTEMD_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/systemd");

fn shipped(name: &str) -> PathBuf {
    Path::new(SYSTEMD_DIR).join(name)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (is systemd installed?): {e}"))
}

/// The unit as shipped, with only `ExecStart`'s program replaced by the binary
/// just built, so that `verify` can check it is executable. Returns the unit path.
fn unit_with_built_binary(dir: &Path, unit_text: &str) -> PathBuf {
    let rewritten: Vec<String> = unit_text
        .lines()
        .map(|line| match line.strip_prefix("ExecStart=") {
            Some(command) => {
                let args = command.split_once(' ').map_or("", |(_, args)| args);
                format!("ExecStart={} {args}", env!("CARGO_BIN_EXE_rayand"))
            }
            None => line.to_owned(),
        })
        .collect();
    let path = dir.join("rayand.service");
    std::fs::write(&path, rewritten.join("\n") + "\n").expect("write unit");
    path
}

/// Lines of `systemd-analyze verify` output about our unit (it exits 0 even for
/// unknown keys, so the output is what tells).
fn verify_findings(unit: &Path) -> (bool, Vec<String>) {
    let out = run(
        "systemd-analyze",
        &["verify", unit.to_str().expect("utf-8 path")],
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let findings = text
        .lines()
        .filter(|l| l.contains("rayand"))
        .map(str::to_owned)
        .collect();
    (out.status.success(), findings)
}

fn unit_value<'a>(unit_text: &'a str, key: &str) -> Vec<&'a str> {
    unit_text
        .lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

#[test]
fn unit_passes_systemd_analyze_verify_without_warnings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = unit_with_built_binary(dir.path(), &read(&shipped("rayand.service")));
    let (ok, findings) = verify_findings(&unit);
    assert!(
        ok && findings.is_empty(),
        "systemd-analyze verify: {findings:#?}"
    );
}

#[test]
fn verify_check_catches_a_bad_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broken = read(&shipped("rayand.service"))
        .replace("ProtectHome=yes", "ProtectHome=yes\nProtectHomme=yes");
    let unit = unit_with_built_binary(dir.path(), &broken);
    let (_, findings) = verify_findings(&unit);
    assert!(
        findings.iter().any(|l| l.contains("ProtectHomme")),
        "{findings:#?}"
    );
}

#[test]
fn unit_has_the_required_service_settings_and_hardening() {
    let unit = read(&shipped("rayand.service"));
    let expect = [
        ("Type", "notify"),
        ("User", "rayan"),
        ("SupplementaryGroups", "asterisk"),
        ("ProtectSystem", "strict"),
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("ProtectHome", "yes"),
        ("CapabilityBoundingSet", ""),
        ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
    ];
    for (key, value) in expect {
        assert_eq!(unit_value(&unit, key), [value], "{key}");
    }
    let writable: Vec<&str> = unit_value(&unit, "ReadWritePaths")
        .iter()
        .flat_map(|v| v.split_whitespace())
        .collect();
    for path in ["/etc/asterisk", "/etc/kamailio", "/var/lib/rayan"] {
        assert!(
            writable.iter().any(|w| w.trim_start_matches('-') == path),
            "{path} not in {writable:?}"
        );
    }
    assert_eq!(writable.len(), 3, "nothing else is writable: {writable:?}");
    assert_eq!(unit_value(&unit, "WatchdogSec").len(), 1);
}

/// Seconds of a systemd time span such as `30s`, `1min`, `90`.
fn seconds(span: &str) -> u64 {
    let digits: String = span.chars().take_while(char::is_ascii_digit).collect();
    let n: u64 = digits
        .parse()
        .unwrap_or_else(|_| panic!("not a time span: {span}"));
    match &span[digits.len()..] {
        "" | "s" => n,
        "min" | "m" => n * 60,
        other => panic!("unexpected unit {other} in {span}"),
    }
}

#[test]
fn stop_timeout_outlasts_the_daemons_shutdown_grace() {
    let unit = read(&shipped("rayand.service"));
    let stop = unit_value(&unit, "TimeoutStopSec");
    assert_eq!(stop.len(), 1, "TimeoutStopSec is set once");
    assert!(
        seconds(stop[0]) > rayan::daemon::SHUTDOWN_GRACE.as_secs(),
        "systemd would kill rayand mid-shutdown"
    );
}

#[test]
fn open_file_limit_leaves_room_for_the_default_connection_bound() {
    let unit = read(&shipped("rayand.service"));
    let limit = unit_value(&unit, "LimitNOFILE");
    assert_eq!(limit.len(), 1, "LimitNOFILE is set once");
    // `soft:hard` or one value for both; rayand goes by the soft one.
    let soft: u64 = limit[0]
        .split(':')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a number of files: {}", limit[0]));
    let default = rayan::config::DEFAULT_MAX_CONNECTIONS;
    assert_eq!(
        rayan::server::connection_bound(default, Some(soft)),
        default,
        "LimitNOFILE={soft} would lower the default bound of {default} connections"
    );
}

#[test]
fn unit_exposure_is_low() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = unit_with_built_binary(dir.path(), &read(&shipped("rayand.service")));
    let out = run(
        "systemd-analyze",
        &[
            "security",
            "--offline=true",
            "--no-pager",
            unit.to_str().expect("utf-8"),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| {
            panic!(
                "no exposure level in: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let score: f64 = line
        .split(':')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the score in {line}"));
    assert!(score <= 2.0, "exposure {score} (0 best, 10 worst): {line}");
}

#[test]
fn sysusers_and_tmpfiles_create_the_user_and_directories() {
    let root = tempfile::tempdir().expect("tempdir");
    let root_arg = format!("--root={}", root.path().display());
    std::fs::create_dir_all(root.path().join("etc")).expect("etc");

    let sysusers = shipped("rayand.sysusers");
    let out = run(
        "systemd-sysusers",
        &[&root_arg, sysusers.to_str().expect("utf-8")],
    );
    assert!(
        out.status.success(),
        "systemd-sysusers: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let passwd = read(&root.path().join("etc/passwd"));
    let entry = passwd
        .lines()
        .find(|l| l.starts_with("rayan:"))
        .unwrap_or_else(|| panic!("no rayan in {passwd}"));
    let fields: Vec<&str> = entry.split(':').collect();
    assert_eq!(fields[5], "/var/lib/rayan", "home is the state dir");
    assert!(fields[6].ends_with("nologin"), "no login shell: {entry}");
    assert!(
        read(&root.path().join("etc/group"))
            .lines()
            .any(|l| l.starts_with("rayan:"))
    );

    let tmpfiles = shipped("rayand.tmpfiles");
    let out = run(
        "systemd-tmpfiles",
        &[&root_arg, "--create", tmpfiles.to_str().expect("utf-8")],
    );
    assert!(
        out.status.success(),
        "systemd-tmpfiles: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for dir in ["var/lib/rayan", "etc/rayan"] {
        let meta =
            std::fs::metadata(root.path().join(dir)).unwrap_or_else(|e| panic!("{dir}: {e}"));
        assert!(meta.is_dir());
        assert_eq!(
            meta.permissions().mode() & 0o777,
            0o750,
            "{dir} is closed to others"
        );
    }
}
