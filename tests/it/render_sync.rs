//! From a snapshot to the two files: creating, changing and deleting objects makes exactly
//! their blocks appear, change and disappear, and every hand-written line stays.

use std::fs;
use std::path::Path;

use crate::render_support::{asterisk_parse, extension, trunk};
use rayan::model::OutboundRoute;
use rayan::render::{
    ConfigSnapshot, DriftKind, RenderSettings, WriteOptions, plan_file, render_all, sync_file,
};
use rayan::templates::builtin_provider_templates;

const ADMIN_PJSIP: &str = "\
; pjsip.conf, kept by hand
[global]
type=global
user_agent=Asterisk-AMI-lab

[transport-udp]
type=transport
protocol=udp
bind=127.0.0.1:5060

#include pjsip_custom.conf

[phone-template](!)
type=endpoint
disallow=all
;-- a block
comment --;
[9000](phone-template)
context=from-internal";

const ADMIN_EXTENSIONS: &str = "[general]\r\nstatic=yes\r\n\r\n[from-internal]\r\nexten => 9000,1,Answer()\r\n same => n,Wait(10)\r\n same => n,Hangup()\r\n";

fn admin_lines(text: &str) -> Vec<&str> {
    let mut inside = false;
    text.lines()
        .filter(|line| {
            if line.contains("BEGIN MANAGED") {
                inside = true;
                false
            } else if line.contains("END MANAGED") {
                inside = false;
                false
            } else {
                !inside
            }
        })
        .collect()
}

fn apply(dir: &Path, snapshot: &ConfigSnapshot) -> (bool, bool) {
    let rendered = render_all(
        snapshot,
        &builtin_provider_templates().unwrap(),
        &RenderSettings::default(),
    )
    .unwrap();
    let options = WriteOptions {
        keep_backups: 2,
        ..WriteOptions::default()
    };
    let pjsip = sync_file(&dir.join("pjsip.conf"), ";", &rendered.pjsip, &options).unwrap();
    let extensions = sync_file(
        &dir.join("extensions.conf"),
        ";",
        &rendered.extensions,
        &options,
    )
    .unwrap();
    (pjsip.changed, extensions.changed)
}

fn block_ids(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("; BEGIN MANAGED - "))
        .map(|id| id.trim_end_matches('\r').to_owned())
        .collect()
}

fn route() -> OutboundRoute {
    OutboundRoute {
        id: 1,
        name: "us".to_owned(),
        pattern: "_1NXXNXXXXXX".to_owned(),
        trunk: "telnyx_main".to_owned(),
        strip: 0,
        prepend: "+".to_owned(),
        priority: 1,
        context: "from-internal".to_owned(),
    }
}

#[test]
fn objects_appear_change_and_disappear_while_admin_text_stays() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("pjsip.conf"), ADMIN_PJSIP).unwrap();
    fs::write(dir.path().join("extensions.conf"), ADMIN_EXTENSIONS).unwrap();
    let read = |name: &str| fs::read_to_string(dir.path().join(name)).unwrap();

    // Create.
    let mut snapshot = ConfigSnapshot {
        blocked: Vec::new(),
        extensions: vec![extension("1001", "basic"), extension("1002", "advanced")],
        trunks: vec![trunk("telnyx_main", "telnyx")],
        transports: Vec::new(),
        inbound_routes: Vec::new(),
        outbound_routes: vec![route()],
    };
    assert_eq!(apply(dir.path(), &snapshot), (true, true));
    let pjsip = read("pjsip.conf");
    assert_eq!(
        block_ids(&pjsip),
        ["Extension 1001", "Extension 1002", "Trunk telnyx_main"]
    );
    assert_eq!(admin_lines(&pjsip), admin_lines(ADMIN_PJSIP));
    assert!(
        pjsip.starts_with(ADMIN_PJSIP),
        "hand-written text is kept byte for byte"
    );
    let extensions = read("extensions.conf");
    assert_eq!(
        block_ids(&extensions),
        ["Dialplan from-internal", "Route outbound us"]
    );
    assert!(extensions.starts_with(ADMIN_EXTENSIONS));
    assert!(
        extensions.contains("\r\nexten => 1001,1,Dial(PJSIP/1001,30)\r\n"),
        "CRLF file gets CRLF blocks"
    );
    // Asterisk would read the whole file without a complaint or a stray section.
    let parsed = asterisk_parse(&pjsip);
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    assert_eq!(parsed.directives, ["#include pjsip_custom.conf"]);

    // Nothing changed: nothing written.
    assert_eq!(apply(dir.path(), &snapshot), (false, false));

    // Change one extension: only its block changes, in place.
    snapshot.extensions[0].caller_id = Some("\"Reception\" <1001>".to_owned());
    let before = read("pjsip.conf");
    assert_eq!(apply(dir.path(), &snapshot), (true, false));
    let after = read("pjsip.conf");
    assert_eq!(
        block_ids(&after),
        ["Extension 1001", "Extension 1002", "Trunk telnyx_main"]
    );
    assert!(after.contains("aors=1001\ncallerid=\"Reception\" <1001>\n"));
    assert_eq!(
        after.replace("callerid=\"Reception\" <1001>\n", ""),
        before,
        "only that line is new"
    );

    // Delete the trunk (and its route), disable an extension.
    snapshot.trunks.clear();
    snapshot.outbound_routes.clear();
    snapshot.extensions[1].enabled = false;
    assert_eq!(apply(dir.path(), &snapshot), (true, true));
    let pjsip = read("pjsip.conf");
    assert_eq!(block_ids(&pjsip), ["Extension 1001"]);
    assert_eq!(admin_lines(&pjsip), admin_lines(ADMIN_PJSIP));
    let extensions = read("extensions.conf");
    assert_eq!(block_ids(&extensions), ["Dialplan from-internal"]);
    assert!(!extensions.contains("1002") && !extensions.contains("include =>"));

    // Delete everything: the administrator's files are back (the pjsip.conf last line got
    // the newline it needed before the first block).
    assert_eq!(apply(dir.path(), &ConfigSnapshot::default()), (true, true));
    assert_eq!(read("pjsip.conf"), format!("{ADMIN_PJSIP}\n"));
    assert_eq!(read("extensions.conf"), ADMIN_EXTENSIONS);
}

#[test]
fn dry_run_reports_drift_and_diff_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = ConfigSnapshot {
        blocked: Vec::new(),
        extensions: vec![extension("1001", "basic")],
        trunks: vec![trunk("telnyx_main", "telnyx")],
        ..ConfigSnapshot::default()
    };
    apply(dir.path(), &snapshot);
    let path = dir.path().join("pjsip.conf");
    // Someone edits a managed block by hand.
    let edited = fs::read_to_string(&path)
        .unwrap()
        .replace("max_contacts=1", "max_contacts=9");
    fs::write(&path, &edited).unwrap();

    let rendered = render_all(
        &snapshot,
        &builtin_provider_templates().unwrap(),
        &RenderSettings::default(),
    )
    .unwrap();
    let plan = plan_file(&path, ";", &rendered.pjsip).unwrap();
    assert!(plan.changed);
    assert_eq!(plan.drift.len(), 1);
    assert_eq!(
        (plan.drift[0].id.as_str(), plan.drift[0].kind),
        ("Extension 1001", DriftKind::Changed)
    );
    assert!(
        plan.diff.contains("-max_contacts=9\n+max_contacts=1\n"),
        "{}",
        plan.diff
    );
    assert!(
        !plan.diff.contains("s3cret-Pass"),
        "secrets are masked in the diff"
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), edited);

    // The next apply restores it.
    let outcome = sync_file(&path, ";", &rendered.pjsip, &WriteOptions::default()).unwrap();
    assert!(outcome.changed);
    assert_eq!(outcome.drift, plan.drift);
    assert!(
        fs::read_to_string(&path)
            .unwrap()
            .contains("max_contacts=1\n")
    );
}
