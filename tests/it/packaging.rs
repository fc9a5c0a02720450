//! The Debian package's pieces agree with each other: the default settings load,
//! the unit's paths are the ones the settings name, every packaged file exists,
//! and the maintainer scripts are valid shell with the debhelper hook.

use std::path::{Path, PathBuf};
use std::process::Command;

use rayan::config::Settings;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn path(relative: &str) -> PathBuf {
    Path::new(ROOT).join(relative)
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(path(relative))
        .unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
}

fn deb_metadata() -> toml::Table {
    let manifest: toml::Table = read("Cargo.toml").parse().expect("Cargo.toml is TOML");
    manifest["package"]["metadata"]["deb"]
        .as_table()
        .expect("[package.metadata.deb]")
        .clone()
}

/// `(source, destination)` of every packaged asset.
fn assets() -> Vec<(String, String)> {
    deb_metadata()["assets"]
        .as_array()
        .expect("assets list")
        .iter()
        .map(|a| {
            let a = a.as_array().expect("[source, dest, mode]");
            (
                a[0].as_str().expect("source").to_owned(),
                a[1].as_str().expect("dest").to_owned(),
            )
        })
        .collect()
}

fn packaged_settings() -> Settings {
    Settings::load(Some(&path("packaging/rayand.toml")), Vec::new())
        .expect("the packaged settings are valid")
}

#[test]
fn packaged_settings_point_at_the_system_paths() {
    let settings = packaged_settings();
    assert_eq!(settings.state_dir, Path::new("/var/lib/rayan"));
    assert_eq!(settings.asterisk.config_dir, Path::new("/etc/asterisk"));
    assert!(
        settings.listen.starts_with("127.0.0.1:"),
        "loopback by default"
    );
    let secret = settings
        .asterisk
        .ami_secret_file
        .expect("secret kept in a file, not in the settings");
    assert!(secret.starts_with("/etc/rayan"), "{}", secret.display());
}

#[test]
fn unit_reads_the_packaged_settings_and_may_write_where_they_point() {
    let unit = read("systemd/rayand.service");
    let settings_dest = assets()
        .into_iter()
        .find(|(source, _)| source == "packaging/rayand.toml")
        .map(|(_, dest)| format!("/{dest}"))
        .expect("the settings are packaged");
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    assert!(
        exec.contains(&format!("--config {settings_dest}")),
        "{exec}"
    );

    let settings = packaged_settings();
    let writable: Vec<&str> = unit
        .lines()
        .filter_map(|l| l.strip_prefix("ReadWritePaths="))
        .flat_map(str::split_whitespace)
        .map(|p| p.trim_start_matches('-'))
        .collect();
    for dir in [&settings.state_dir, &settings.asterisk.config_dir] {
        assert!(
            writable.iter().any(|w| Path::new(w) == dir.as_path()),
            "{} not writable: {writable:?}",
            dir.display()
        );
    }
}

#[test]
fn every_packaged_source_file_exists() {
    for (source, _) in assets() {
        // Built by cargo, or a directory another change fills (provider templates).
        if source.starts_with("target/") || source.contains('*') {
            continue;
        }
        assert!(path(&source).is_file(), "{source} is packaged but missing");
    }
    let units = deb_metadata()["systemd-units"]["unit-scripts"]
        .as_str()
        .expect("unit-scripts")
        .to_owned();
    let unit_name = deb_metadata()["systemd-units"]["unit-name"]
        .as_str()
        .expect("unit-name")
        .to_owned();
    assert!(
        path(&units).join(format!("{unit_name}.service")).is_file(),
        "cargo-deb would find no unit"
    );
}

#[test]
fn sysusers_and_tmpfiles_land_where_systemd_reads_them() {
    let assets = assets();
    let dest = |source: &str| {
        assets
            .iter()
            .find(|(s, _)| s == source)
            .map(|(_, d)| d.clone())
    };
    assert_eq!(
        dest("systemd/rayand.sysusers").as_deref(),
        Some("usr/lib/sysusers.d/rayand.conf")
    );
    assert_eq!(
        dest("systemd/rayand.tmpfiles").as_deref(),
        Some("usr/lib/tmpfiles.d/rayand.conf")
    );
}

#[test]
fn maintainer_scripts_are_valid_shell_with_the_debhelper_hook() {
    let dir = deb_metadata()["maintainer-scripts"]
        .as_str()
        .expect("maintainer-scripts")
        .to_owned();
    for script in ["postinst", "postrm"] {
        let file = path(&dir).join(script);
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(
            text.starts_with("#!/bin/sh\nset -e\n"),
            "{script} stops on the first error"
        );
        assert_eq!(
            text.matches("#DEBHELPER#").count(),
            1,
            "{script} has one #DEBHELPER# hook"
        );
        let check = Command::new("sh")
            .arg("-n")
            .arg(&file)
            .output()
            .expect("run sh -n");
        assert!(
            check.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&check.stderr)
        );
    }
}
