//! Importing hand-written PJSIP config against the Asterisk double, which reads
//! the same files (includes and all) as Asterisk would.

use std::path::Path;

use crate::support::asterisk::{Contact, PjsipConfig, builtin_validator, pjsip_objects};
use crate::support::daemon::{TestDaemon, install_corpus};
use crate::support::db::Backend;
use reqwest::{Method, StatusCode};
use serde_json::Value;

on_both_backends!(a_freepbx_config_is_adopted_in_one_reload_and_phones_stay_registered);

async fn daemon_over(corpus: &'static str, backend: Backend) -> TestDaemon {
    TestDaemon::start_over(backend, move |dir| install_corpus(corpus, dir), |_| {}).await
}

fn strings(value: &Value, key: &str, field: &str) -> Vec<String> {
    value[key]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| v[field].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Every file of the config dir, for "nothing changed" checks.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

/// The "done when", on a FreePBX-style split config: a dry run shows
/// the plan and changes nothing; the import adopts every phone in one PJSIP
/// reload, each loads as before (context, aors, auth, transport) with its
/// contacts still registered; a second import finds nothing.
async fn a_freepbx_config_is_adopted_in_one_reload_and_phones_stay_registered(backend: Backend) {
    let d = daemon_over("freepbx", backend).await;
    let asterisk = d.asterisk.as_ref().unwrap();
    let dir = d.config_dir();
    for (aor, port) in [("1001", 5071), ("1002", 5072)] {
        asterisk.add_contact(Contact::registered(aor, port));
    }
    let before_endpoints = asterisk.endpoints();
    assert!(
        before_endpoints.contains(&"1001".to_owned()),
        "{before_endpoints:?}"
    );
    let files_before = snapshot(&dir);

    let plan = d
        .admin(Method::POST, "/api/v1/import?dry_run=true", None)
        .await;
    assert_eq!(plan.status, StatusCode::OK, "{}", plan.body);
    assert_eq!(
        strings(&plan.body, "extensions", "extension"),
        ["1001", "1002", "1003"],
        "{}",
        plan.body
    );
    assert_eq!(strings(&plan.body, "trunks", "name"), ["telnyx"]);
    assert_eq!(plan.body["trunks"][0]["provider"], "custom_credential");
    assert_eq!(
        plan.body["left"],
        serde_json::json!([]),
        "everything is adopted"
    );
    let dialplan = &plan.body["dialplan"][0];
    assert_eq!(dialplan["context"], "from-internal-custom");
    assert_eq!(
        dialplan["extensions"],
        serde_json::json!(["1001", "1002", "1003"])
    );
    let diffs = plan.body["files"].to_string();
    assert!(diffs.contains("-[1001-auth]"), "{diffs}");
    assert!(
        diffs.contains("+; BEGIN MANAGED - Extension 1001"),
        "{diffs}"
    );
    assert_eq!(snapshot(&dir), files_before, "a dry run writes nothing");
    let none = d.admin(Method::GET, "/api/v1/extensions", None).await;
    assert_eq!(none.body["total"], 0);

    let reloads = asterisk.reload_count("res_pjsip");
    let done = d.admin(Method::POST, "/api/v1/import", None).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["apply"]["status"], "verified", "{}", done.body);
    assert_eq!(
        asterisk.reload_count("res_pjsip"),
        reloads + 1,
        "one PJSIP reload"
    );
    for switched in done.body["switched_over"].as_array().unwrap() {
        assert_eq!(switched["status"], "verified", "{}", done.body);
    }
    assert_eq!(done.body["switched_over"].as_array().unwrap().len(), 4);
    let mut after_endpoints = asterisk.endpoints();
    after_endpoints.sort();
    let mut expected = before_endpoints.clone();
    expected.sort();
    assert_eq!(after_endpoints, expected, "no endpoint went missing");
    assert_eq!(
        asterisk.contacts().len(),
        2,
        "registered phones stay registered"
    );

    // The hand-written sections moved into managed blocks; the rest stays.
    let endpoints_conf = std::fs::read_to_string(dir.join("pjsip.endpoint.conf")).unwrap();
    assert!(!endpoints_conf.contains("[1001]"), "{endpoints_conf}");
    assert!(!endpoints_conf.contains("[telnyx]"), "{endpoints_conf}");
    let trunk = d.admin(Method::GET, "/api/v1/trunks/telnyx", None).await;
    assert_eq!(trunk.body["has_password"], true, "{}", trunk.body);
    assert_eq!(
        trunk.body["match_addresses"],
        serde_json::json!(["192.76.120.10"])
    );
    assert_eq!(trunk.body["context"], "from-pstn");
    assert!(
        !trunk.body.to_string().contains("Trunk-Pa55-word"),
        "secrets are never returned"
    );
    let trunk_block = d.pjsip_block("Trunk telnyx");
    assert!(
        trunk_block.contains("client_uri=sip:rayanlab@sip.telnyx.com:5060"),
        "{trunk_block}"
    );
    let block = d.pjsip_block("Extension 1001");
    let md5 = format!("{:x}", md5::Md5::digest(b"1001:asterisk:Alice-S3cret-pw"));
    assert!(
        block.contains(&format!("md5_cred={md5}")),
        "the phone keeps its password: {block}"
    );
    assert!(block.contains("transport=0.0.0.0-udp"), "{block}");
    let kept = d.pjsip_block("Extension 1002");
    assert!(
        kept.contains("md5_cred=0cc175b9c0f1b6a831c399e269772661"),
        "{kept}"
    );
    assert!(kept.contains("realm=office"), "{kept}");
    let ext = d.admin(Method::GET, "/api/v1/extensions/1001", None).await;
    assert_eq!(ext.body["transport"], "0.0.0.0-udp", "{}", ext.body);
    assert_eq!(ext.body["nodes"]["test1"], "verified", "{}", ext.body);
    assert!(
        dir.join("pjsip.endpoint.conf.1").exists()
            || std::fs::read_dir(&dir).unwrap().any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("pjsip.endpoint.conf.")),
        "a backup of the edited file"
    );

    // Safe to repeat.
    let files_after = snapshot(&dir);
    let reloads = asterisk.reload_count("res_pjsip");
    let again = d.admin(Method::POST, "/api/v1/import", None).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert!(
        again.body["extensions"].as_array().unwrap().is_empty(),
        "{}",
        again.body
    );
    assert!(again.body.get("apply").is_none(), "{}", again.body);
    assert_eq!(asterisk.reload_count("res_pjsip"), reloads);
    assert_eq!(
        snapshot(&dir),
        files_after,
        "a second import changes nothing"
    );
}

use md5::Digest;

/// Templates, inheritance, comments and another tool's markers: what can be
/// adopted is, the rest is listed with its reason and left untouched, and the
/// other tool's block markers survive rayan's applies.
#[tokio::test]
async fn a_handwritten_config_is_adopted_where_it_can_be_and_the_rest_is_explained() {
    let d = daemon_over("handwritten", Backend::Sqlite).await;
    let dir = d.config_dir();
    let plan = d
        .admin(Method::POST, "/api/v1/import?dry_run=true", None)
        .await;
    assert_eq!(plan.status, StatusCode::OK, "{}", plan.body);
    assert_eq!(
        strings(&plan.body, "extensions", "extension"),
        ["2001", "2002", "3001"],
        "{}",
        plan.body
    );
    let reasons: Vec<(String, String)> = plan.body["left"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["name"].as_str().unwrap().to_owned(),
                l["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let reason = |name: &str| {
        reasons
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("{name} is not listed: {reasons:?}"))
    };
    assert!(reason("2003").contains("wizard"), "{reasons:?}");
    assert!(reason("2004").contains("defined 2 times"), "{reasons:?}");
    assert!(reason("2005").contains("colour"), "{reasons:?}");
    assert!(reason("2006").contains("shared"), "{reasons:?}");
    let phone = plan.body["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["extension"] == "2002")
        .unwrap()
        .clone();
    assert_eq!(
        phone["overrides"]["endpoint"]["dtmf_mode"], "inband",
        "{phone}"
    );
    assert_eq!(
        phone["overrides"]["aor"]["qualify_frequency"], "30",
        "{phone}"
    );

    let done = d.admin(Method::POST, "/api/v1/import", None).await;
    assert_eq!(done.body["apply"]["status"], "verified", "{}", done.body);
    let text = std::fs::read_to_string(dir.join("pjsip.conf")).unwrap();
    assert!(
        text.contains("; BEGIN MANAGED - RayanPBX extensions"),
        "{text}"
    );
    assert!(
        text.contains("; END MANAGED - RayanPBX extensions"),
        "{text}"
    );
    assert!(
        text.contains("[2005](phone)\nauth=2005"),
        "left objects are untouched: {text}"
    );
    assert!(
        text.contains("; ---- phone templates ----"),
        "comments stay: {text}"
    );
    assert!(!text.contains("[2001](phone)"), "{text}");
    // An unrelated write later must not take the other tool's markers away.
    let created = d
        .admin(
            Method::POST,
            "/api/v1/extensions",
            Some(serde_json::json!({"extension": "4001", "password": "S3cret-pass-1"})),
        )
        .await;
    assert_eq!(
        created.body["apply"]["status"], "verified",
        "{}",
        created.body
    );
    let text = std::fs::read_to_string(dir.join("pjsip.conf")).unwrap();
    assert!(
        text.contains("; BEGIN MANAGED - RayanPBX extensions"),
        "{text}"
    );
    let status = d.admin(Method::GET, "/api/v1/asterisk/status", None).await;
    assert_eq!(
        status.body["drift"],
        serde_json::json!([]),
        "{}",
        status.body
    );
}

/// A file that does not parse, an include loop, a 50 MB file and binary
/// garbage: each is refused naming the file and line, and nothing changes.
#[tokio::test]
async fn files_that_cannot_be_read_are_refused_with_file_and_line() {
    let d = daemon_over("freepbx", Backend::Sqlite).await;
    let dir = d.config_dir();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "pjsip.aor.conf",
            b"[1001]\ntype=aor\n[1002\ntype=aor\n".to_vec(),
            "pjsip.aor.conf, line 3: no closing ']'",
        ),
        (
            "pjsip.aor.conf",
            b"#include pjsip.conf\n".to_vec(),
            "makes a loop",
        ),
        ("pjsip.aor.conf", vec![b'a'; 50 * 1024 * 1024], "limit"),
        (
            "pjsip.aor.conf",
            b"[x]\ntype=aor\n\x89PNG\r\n\x1a\n\x00\x00".to_vec(),
            "pjsip.aor.conf, line 3: not a text file",
        ),
    ];
    let original = std::fs::read(dir.join("pjsip.aor.conf")).unwrap();
    for (file, content, expected) in cases {
        std::fs::write(dir.join(file), &content).unwrap();
        let before = snapshot(&dir);
        for path in ["/api/v1/import?dry_run=true", "/api/v1/import"] {
            let answer = d.admin(Method::POST, path, None).await;
            answer.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some("pjsip"));
            assert!(
                answer.body.to_string().contains(expected),
                "{expected}: {}",
                answer.body
            );
        }
        assert_eq!(snapshot(&dir), before, "nothing changed");
    }
    std::fs::write(dir.join("pjsip.aor.conf"), original).unwrap();
    let none = d.admin(Method::GET, "/api/v1/extensions", None).await;
    assert_eq!(none.body["total"], 0);
}

/// The oracle is the double's own reading of the files, as Asterisk's
/// `EndpointDetail`/`AorDetail` would show them: for every phone rayan adopts,
/// the rendered block loads with the same effective values as the original.
#[tokio::test]
async fn adopted_phones_load_with_the_same_effective_options() {
    let d = daemon_over("freepbx", Backend::Sqlite).await;
    let before = load_dir(&d.config_dir());
    let done = d.admin(Method::POST, "/api/v1/import", None).await;
    assert_eq!(done.body["apply"]["status"], "verified", "{}", done.body);
    let after = load_dir(&d.config_dir());
    for number in ["1001", "1002", "1003"] {
        for kind in ["endpoint", "aor"] {
            let a = fields(&before, kind, number);
            let b = fields(&after, kind, number);
            let differ: Vec<String> = a
                .iter()
                .zip(&b)
                .filter(|(x, y)| x != y && !["Auth", "OutboundAuth"].contains(&x.0.as_str()))
                .map(|(x, y)| format!("{}: {} -> {}", x.0, x.1, y.1))
                .collect();
            assert!(differ.is_empty(), "{kind} {number}: {differ:?}");
        }
    }
    // The trunk's endpoint, apart from the sections rayan renames.
    let a = fields(&before, "endpoint", "telnyx");
    let b = fields(&after, "endpoint", "telnyx");
    let differ: Vec<String> = a
        .iter()
        .zip(&b)
        .filter(|(x, y)| x != y && !["Aors", "OutboundAuth"].contains(&x.0.as_str()))
        .map(|(x, y)| format!("{}: {} -> {}", x.0, x.1, y.1))
        .collect();
    assert!(differ.is_empty(), "trunk endpoint: {differ:?}");
}

fn load_dir(dir: &Path) -> PjsipConfig {
    let text =
        crate::support::asterisk::config_file::expand_includes(&dir.join("pjsip.conf")).unwrap();
    pjsip_objects::load(&text, &builtin_validator(), &PjsipConfig::default())
        .unwrap()
        .0
}

fn fields(config: &PjsipConfig, kind: &str, name: &str) -> Vec<(String, String)> {
    pjsip_objects::render(
        config
            .get(kind, name)
            .unwrap_or_else(|| panic!("{kind} {name}")),
    )
}

mod properties {
    use super::{fields, pjsip_objects};
    use crate::support::asterisk::{PjsipConfig, builtin_validator};
    use proptest::prelude::*;
    use rayan::import::{self, PlanInput, conf};
    use rayan::render::{RenderSettings, render_extension};
    use std::collections::HashSet;

    /// Options a hand-written phone may carry, each with values Asterisk takes.
    const ENDPOINT_OPTIONS: &[(&str, &[&str])] = &[
        ("direct_media", &["yes", "no"]),
        ("rtp_symmetric", &["yes", "no"]),
        ("force_rport", &["yes", "no"]),
        ("rewrite_contact", &["yes", "no"]),
        ("dtmf_mode", &["rfc4733", "info", "inband", "auto"]),
        ("ice_support", &["yes", "no"]),
        ("language", &["en", "fr"]),
        ("trust_id_inbound", &["yes", "no"]),
        ("send_pai", &["yes", "no"]),
        ("timers", &["yes", "no", "always"]),
        ("rtp_timeout", &["0", "30"]),
        ("tos_audio", &["ef", "cs3"]),
        ("callerid", &["Front Desk <100>", "\"Ann\" <N>"]),
    ];
    const AOR_OPTIONS: &[(&str, &[&str])] = &[
        ("remove_existing", &["yes", "no"]),
        ("qualify_frequency", &["0", "30", "60"]),
        ("maximum_expiration", &["3600", "7200"]),
        ("minimum_expiration", &["60"]),
    ];

    fn options(
        pool: &'static [(&'static str, &'static [&'static str])],
    ) -> impl Strategy<Value = Vec<(String, String)>> {
        prop::collection::vec((0..pool.len(), 0usize..4), 0..pool.len()).prop_map(move |picks| {
            picks
                .into_iter()
                .map(|(i, v)| {
                    let (name, values) = pool[i];
                    (name.to_owned(), values[v % values.len()].to_owned())
                })
                .collect()
        })
    }

    fn phone_text(
        number: u32,
        endpoint: &[(String, String)],
        aor: &[(String, String)],
        codecs: &str,
        max_contacts: u8,
    ) -> String {
        let mut text = format!(
            "[{number}]\ntype=endpoint\ncontext=from-internal\nallow={codecs}\nauth={number}-auth\naors={number}\ntransport=transport-udp\n"
        );
        for (k, v) in endpoint {
            text.push_str(&format!("{k}={}\n", v.replace('N', &number.to_string())));
        }
        text.push_str(&format!(
            "[{number}-auth]\ntype=auth\nusername={number}\npassword=Pass-{number}-word\n"
        ));
        text.push_str(&format!(
            "[{number}]\ntype=aor\nmax_contacts={max_contacts}\n"
        ));
        for (k, v) in aor {
            text.push_str(&format!("{k}={v}\n"));
        }
        text
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// parse → import → render: every phone rayan adopts loads (as the
        /// double reads it, with Asterisk's defaults) with the same endpoint and
        /// aor values as the original; a phone it does not adopt says why.
        #[test]
        fn adopted_phones_render_to_the_same_effective_options(
            endpoint in options(ENDPOINT_OPTIONS),
            aor in options(AOR_OPTIONS),
            codecs in prop::sample::select(vec!["ulaw", "ulaw,alaw", "g722,ulaw"]),
            max_contacts in 1u8..4,
        ) {
            let original = format!(
                "[transport-udp]\ntype=transport\nprotocol=udp\nbind=127.0.0.1:5060\n{}",
                phone_text(1001, &endpoint, &aor, codecs, max_contacts)
            );
            let tree = conf::parse_text(std::path::Path::new("pjsip.conf"), &original).unwrap();
            let render = RenderSettings::default();
            let plan = import::plan(PlanInput {
                tree: &tree,
                policy: Default::default(),
                render: &render,
                managed: &HashSet::new(),
                providers: &[],
            });
            if plan.adopted.is_empty() {
                prop_assert!(!plan.left.is_empty() && !plan.left[0].reason.is_empty());
                return Ok(());
            }
            let block = render_extension(&plan.adopted[0], &render).unwrap().unwrap();
            let rendered = format!(
                "[transport-udp]\ntype=transport\nprotocol=udp\nbind=127.0.0.1:5060\n{}",
                block.body
            );
            let load = |text: &str| pjsip_objects::load(text, &builtin_validator(), &PjsipConfig::default()).unwrap().0;
            let (before, after) = (load(&original), load(&rendered));
            for kind in ["endpoint", "aor"] {
                let a = fields(&before, kind, "1001");
                let b = fields(&after, kind, "1001");
                for (x, y) in a.iter().zip(&b) {
                    if x.0 == "Auth" { continue; }
                    prop_assert_eq!(x, y, "{}\n---\n{}", original, rendered);
                }
            }
        }
    }
}
