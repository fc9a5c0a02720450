//! The Kamailio REST API and apply stage against a real Kamailio: changes made
//! through the API show up, verified, in `dispatcher.list` and
//! `permissions.addressDump`; a down Kamailio leaves them pending until it is back.

use std::time::{Duration, Instant};

use crate::kamailio_support::Kamailio;
use crate::support::daemon::{Asterisk, TestDaemon};
use crate::support::db::Backend;
use rayan::config::KamailioSettings;
use rayan::kamailio::{LiveDestination, LiveState};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// A destination outside the managed blocks, so Kamailio always has one.
const BASELINE_DISPATCHER: &str = "9 sip:127.1.9.9:5999 0 0\n";
const BASELINE_ADDRESSES: &str = "9 127.1.9.9 32 0\n";
const NODE_URI: &str = "sip:127.1.0.1:5060";

async fn daemon_beside(lab: &Kamailio) -> TestDaemon {
    daemon_with(lab, Backend::Sqlite, Some(NODE_URI)).await
}

async fn daemon_with(lab: &Kamailio, backend: Backend, node_sip_uri: Option<&str>) -> TestDaemon {
    let settings = KamailioSettings {
        rpc_url: lab.rpc_url(),
        dispatcher_list: lab.dispatcher_path(),
        address_list: lab.address_path(),
        node_sip_uri: node_sip_uri.map(Into::into),
    };
    TestDaemon::start_with(backend, Asterisk::Double, move |s| {
        s.kamailio = Some(settings);
        // A rate-limited reload waits out Kamailio's window within the apply.
        s.apply.wait_ms = 30_000;
    })
    .await
}

async fn live(lab: &Kamailio) -> Vec<LiveDestination> {
    lab.rpc()
        .dispatcher_list()
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", lab.log_tail()))
}

fn find<'a>(live: &'a [LiveDestination], set_id: i64, uri: &str) -> Option<&'a LiveDestination> {
    live.iter().find(|d| d.set_id == set_id && d.uri == uri)
}

/// Polls until `done` holds for Kamailio's live dispatcher list.
async fn wait_for_live(lab: &Kamailio, what: &str, done: impl Fn(&[LiveDestination]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(list) = lab.rpc().dispatcher_list().await
            && done(&list)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never saw {what}:\n{}",
            lab.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn destinations_added_disabled_and_removed_through_the_api_reach_kamailio() {
    destinations_round_trip(Backend::Sqlite).await
}

#[tokio::test]
async fn destinations_round_trip_on_postgres() {
    destinations_round_trip(Backend::Postgres).await
}

async fn destinations_round_trip(backend: Backend) {
    let lab = Kamailio::start(1, BASELINE_DISPATCHER, BASELINE_ADDRESSES).await;
    let d = daemon_with(&lab, backend, Some(NODE_URI)).await;
    // The local node registers itself and is put in set 1 by the first apply.
    wait_for_live(&lab, "the node in set 1", |l| {
        find(l, 1, NODE_URI).is_some()
    })
    .await;
    let nodes = d.admin(Method::GET, "/api/v1/nodes", None).await;
    assert_eq!(nodes.status, StatusCode::OK, "{}", nodes.body);
    assert_eq!(nodes.body["items"][0]["name"], "test1");
    assert_eq!(nodes.body["items"][0]["sip_address"], NODE_URI);
    assert_eq!(
        nodes.body["items"][0]["ami_address"],
        d.asterisk.as_ref().unwrap().addr().to_string()
    );

    let created = d
        .admin(
            Method::POST,
            "/api/v1/kamailio/dispatchers",
            Some(json!({"set_id": 2, "uri": "sip:127.1.0.2:5999", "priority": 5, "weight": 50, "duid": "gw2"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(
        created.body["apply"]["status"], "verified",
        "{}",
        created.body
    );
    let id = created.body["id"].as_i64().expect("id");
    let list = live(&lab).await;
    let added = find(&list, 2, "sip:127.1.0.2:5999").expect("the new destination is live");
    assert_ne!(added.flags.state, LiveState::Disabled);
    assert_eq!(added.priority, 5);
    assert!(
        added
            .attrs
            .as_deref()
            .is_some_and(|a| a.contains("weight=50")),
        "{added:?}"
    );
    // The hand-written line outside the managed blocks is kept.
    assert!(find(&list, 9, "sip:127.1.9.9:5999").is_some());

    // Within Kamailio's 1 s reload window of the create: the worker waits it out.
    let disabled = d
        .admin(
            Method::PATCH,
            &format!("/api/v1/kamailio/dispatchers/{id}"),
            Some(json!({"state": "disabled"})),
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.body);
    assert_eq!(
        disabled.body["apply"]["status"], "verified",
        "{}",
        disabled.body
    );
    assert_eq!(disabled.body["state"], "disabled");
    let list = live(&lab).await;
    assert_eq!(
        find(&list, 2, "sip:127.1.0.2:5999")
            .expect("still listed")
            .flags
            .state,
        LiveState::Disabled
    );
    let file = std::fs::read_to_string(lab.dispatcher_path()).expect("dispatcher.list");
    assert!(
        file.contains("2 sip:127.1.0.2:5999 4 5 duid=gw2;weight=50"),
        "{file}"
    );

    let status = d.admin(Method::GET, "/api/v1/kamailio/status", None).await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.body);
    assert_eq!(status.body["reachable"], true);
    assert!(
        status.body["version"]
            .as_str()
            .is_some_and(|v| v.starts_with("kamailio")),
        "{}",
        status.body
    );
    let flags: Vec<&str> = status.body["destinations"]
        .as_array()
        .expect("destinations")
        .iter()
        .filter(|d| d["uri"] == "sip:127.1.0.2:5999")
        .filter_map(|d| d["flags"].as_str())
        .collect();
    assert_eq!(flags.len(), 1);
    assert!(flags[0].starts_with('D'), "{flags:?}");

    let removed = d
        .admin(
            Method::DELETE,
            &format!("/api/v1/kamailio/dispatchers/{id}"),
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    assert_eq!(
        removed.body["apply"]["status"], "verified",
        "{}",
        removed.body
    );
    let list = live(&lab).await;
    assert!(find(&list, 2, "sip:127.1.0.2:5999").is_none(), "{list:?}");
    assert!(
        find(&list, 1, NODE_URI).is_some(),
        "the node stays in set 1"
    );
    d.stop().await;
}

#[tokio::test]
async fn trusted_addresses_appear_in_the_permissions_dumps() {
    let lab = Kamailio::start(1, BASELINE_DISPATCHER, BASELINE_ADDRESSES).await;
    let d = daemon_beside(&lab).await;
    let host = d
        .admin(
            Method::POST,
            "/api/v1/kamailio/addresses",
            Some(json!({"group": 1, "address": "192.0.2.7", "tag": "carrier_a"})),
        )
        .await;
    assert_eq!(host.status, StatusCode::CREATED, "{}", host.body);
    assert_eq!(host.body["apply"]["status"], "verified", "{}", host.body);
    let subnet = d
        .admin(
            Method::POST,
            "/api/v1/kamailio/addresses",
            Some(json!({"group": 2, "address": "198.51.100.0/24", "port": 5060})),
        )
        .await;
    assert_eq!(subnet.status, StatusCode::CREATED, "{}", subnet.body);
    assert_eq!(
        subnet.body["apply"]["status"], "verified",
        "{}",
        subnet.body
    );

    let rpc = lab.rpc();
    let hosts = rpc.permissions_address_dump().await.expect("addressDump");
    let found = hosts
        .iter()
        .find(|a| a.ip.to_string() == "192.0.2.7")
        .expect("the host is trusted");
    assert_eq!((found.group, found.tag.as_deref()), (1, Some("carrier_a")));
    let subnets = rpc.permissions_subnet_dump().await.expect("subnetDump");
    assert!(
        subnets.iter().any(|a| a.group == 2
            && a.ip.to_string() == "198.51.100.0"
            && a.mask == 24
            && a.port == 5060),
        "{subnets:?}"
    );

    let duplicate = d
        .admin(
            Method::POST,
            "/api/v1/kamailio/addresses",
            Some(json!({"group": 1, "address": "192.0.2.7"})),
        )
        .await;
    duplicate.assert_problem(StatusCode::CONFLICT, None);

    let id = host.body["id"].as_i64().expect("id");
    let removed = d
        .admin(
            Method::DELETE,
            &format!("/api/v1/kamailio/addresses/{id}"),
            None,
        )
        .await;
    assert_eq!(
        removed.body["apply"]["status"], "verified",
        "{}",
        removed.body
    );
    let hosts = rpc.permissions_address_dump().await.expect("addressDump");
    assert!(
        !hosts.iter().any(|a| a.ip.to_string() == "192.0.2.7"),
        "{hosts:?}"
    );
    d.stop().await;
}

#[tokio::test]
async fn an_empty_dispatcher_list_is_never_written() {
    // No node SIP address and no destination: nothing to put in any set.
    let lab = Kamailio::start(1, BASELINE_DISPATCHER, BASELINE_ADDRESSES).await;
    let d = daemon_with(&lab, Backend::Sqlite, None).await;
    let first = d.admin(Method::GET, "/api/v1/applies?limit=10", None).await;
    let reported = first.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|apply| {
            apply["objects"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|o| o["name"] == "dispatcher list" && o["status"] == "failed")
        });
    assert!(reported, "{}", first.body);
    assert_eq!(
        std::fs::read_to_string(lab.dispatcher_path()).expect("dispatcher.list"),
        BASELINE_DISPATCHER
    );
    assert!(
        find(&live(&lab).await, 9, "sip:127.1.9.9:5999").is_some(),
        "Kamailio keeps its destinations"
    );

    let created = d
        .admin(
            Method::POST,
            "/api/v1/kamailio/dispatchers",
            Some(json!({"set_id": 2, "uri": "sip:127.1.0.2:5999"})),
        )
        .await;
    assert_eq!(
        created.body["apply"]["status"], "verified",
        "{}",
        created.body
    );
    // Deleting the only destination would empty the list: the file keeps it.
    let id = created.body["id"].as_i64().expect("id");
    let removed = d
        .admin(
            Method::DELETE,
            &format!("/api/v1/kamailio/dispatchers/{id}"),
            None,
        )
        .await;
    assert_eq!(
        removed.body["apply"]["status"], "failed",
        "{}",
        removed.body
    );
    let file = std::fs::read_to_string(lab.dispatcher_path()).expect("dispatcher.list");
    assert!(file.contains("2 sip:127.1.0.2:5999"), "{file}");
    d.stop().await;
}

#[tokio::test]
async fn the_addresses_of_an_ip_authenticated_trunk_are_trusted() {
    let lab = Kamailio::start(1, BASELINE_DISPATCHER, BASELINE_ADDRESSES).await;
    let d = daemon_beside(&lab).await;
    // A trunk on the built-in `custom_ip` template (auth_type = "ip") and one on
    // a credential template, whose addresses must not be trusted.
    let ip = d
        .admin(
            Method::POST,
            "/api/v1/trunks",
            Some(
                json!({"name": "carrier_ip", "provider": "custom_ip", "server": "203.0.113.5",
                "match_addresses": ["203.0.113.5", "203.0.113.128/25"]}),
            ),
        )
        .await;
    assert!(ip.status.is_success(), "{}", ip.body);
    let cred = d
        .admin(
            Method::POST,
            "/api/v1/trunks",
            Some(
                json!({"name": "carrier_cred", "provider": "telnyx", "username": "user1",
                "password": "Trunk-pass-123", "match_addresses": ["203.0.113.77"]}),
            ),
        )
        .await;
    assert!(cred.status.is_success(), "{}", cred.body);
    let applied = d.admin(Method::POST, "/api/v1/applies", None).await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.body);
    let group = applied.body["objects"]
        .as_array()
        .and_then(|o| {
            o.iter()
                .find(|o| o["kind"] == "kamailio" && o["name"] == "address group 1")
        })
        .cloned()
        .unwrap_or_else(|| panic!("no address group 1 in {}", applied.body));
    assert_eq!(group["status"], "verified", "{group}");

    let rpc = lab.rpc();
    let hosts = rpc.permissions_address_dump().await.expect("addressDump");
    let host = hosts
        .iter()
        .find(|a| a.ip.to_string() == "203.0.113.5")
        .expect("the trunk's host is trusted");
    assert_eq!((host.group, host.tag.as_deref()), (1, Some("carrier_ip")));
    assert!(
        !hosts.iter().any(|a| a.ip.to_string() == "203.0.113.77"),
        "a credential trunk is not trusted: {hosts:?}"
    );
    let subnets = rpc.permissions_subnet_dump().await.expect("subnetDump");
    assert!(
        subnets
            .iter()
            .any(|a| a.ip.to_string() == "203.0.113.128" && a.mask == 25),
        "{subnets:?}"
    );
    d.stop().await;
}

#[tokio::test]
async fn a_change_made_while_kamailio_is_down_is_pending_then_converges() {
    let mut lab = Kamailio::prepare(1, BASELINE_DISPATCHER, BASELINE_ADDRESSES);
    let d = daemon_beside(&lab).await;
    let created = d
        .admin(
            Method::POST,
            "/api/v1/kamailio/dispatchers",
            Some(json!({"set_id": 3, "uri": "sip:127.1.0.3:5999"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::ACCEPTED, "{}", created.body);
    assert_eq!(
        created.body["apply"]["status"], "pending",
        "{}",
        created.body
    );
    // Written already; only the reload is owed.
    let file = std::fs::read_to_string(lab.dispatcher_path()).expect("dispatcher.list");
    assert!(file.contains("3 sip:127.1.0.3:5999 0 0"), "{file}");

    let status = d.admin(Method::GET, "/api/v1/kamailio/status", None).await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.body);
    assert_eq!(status.body["reachable"], false, "{}", status.body);
    assert!(status.body["error"].is_string(), "{}", status.body);

    lab.run().await;
    // Kamailio read the file at start; the retry reloads and verifies.
    wait_for_live(&lab, "the destination", |l| {
        find(l, 3, "sip:127.1.0.3:5999").is_some()
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let applies = d.admin(Method::GET, "/api/v1/applies?limit=5", None).await;
        let verified = applies.body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|apply| {
                apply["objects"].as_array().into_iter().flatten().any(|o| {
                    o["kind"] == "kamailio"
                        && o["name"] == "dispatcher set 3"
                        && o["status"] == "verified"
                })
            });
        if verified {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the retry never verified: {}",
            applies.body
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    d.stop().await;
}

#[tokio::test]
async fn without_a_kamailio_section_the_routes_say_so() {
    let d = TestDaemon::start(Backend::Sqlite).await;
    for (method, path, body) in [
        (Method::GET, "/api/v1/kamailio/status", None),
        (Method::GET, "/api/v1/kamailio/dispatchers", None),
        (Method::GET, "/api/v1/kamailio/addresses", None),
        (
            Method::POST,
            "/api/v1/kamailio/dispatchers",
            Some(json!({"set_id": 2, "uri": "sip:127.1.0.2"})),
        ),
        (Method::DELETE, "/api/v1/kamailio/addresses/1", None),
    ] {
        let resp = d.admin(method, path, body).await;
        resp.assert_problem(StatusCode::NOT_FOUND, None);
        assert_eq!(
            resp.body["type"], "urn:rayan:problem:not-configured",
            "{path}: {}",
            resp.body
        );
        assert!(
            resp.body["detail"]
                .as_str()
                .is_some_and(|t| t.contains("[kamailio]")),
            "{}",
            resp.body
        );
    }
    let nodes = d.admin(Method::GET, "/api/v1/nodes", None).await;
    assert_eq!(nodes.status, StatusCode::OK, "{}", nodes.body);
    assert_eq!(nodes.body["items"][0]["name"], "test1");
    assert!(nodes.body["items"][0]["sip_address"].is_null());
    // The routes are documented whether or not Kamailio is configured.
    let doc = d.admin(Method::GET, "/api/v1/openapi.json", None).await;
    for (path, method) in [
        ("/api/v1/nodes", "get"),
        ("/api/v1/kamailio/status", "get"),
        ("/api/v1/kamailio/dispatchers", "post"),
        ("/api/v1/kamailio/dispatchers/{id}", "patch"),
        ("/api/v1/kamailio/addresses", "post"),
        ("/api/v1/kamailio/addresses/{id}", "delete"),
    ] {
        assert!(
            doc.body["paths"][path][method].is_object(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    d.stop().await;
}

#[tokio::test]
async fn hostile_input_is_refused_before_it_reaches_a_file() {
    let lab = Kamailio::start(1, BASELINE_DISPATCHER, BASELINE_ADDRESSES).await;
    let d = daemon_beside(&lab).await;
    wait_for_live(&lab, "the node in set 1", |l| {
        find(l, 1, NODE_URI).is_some()
    })
    .await;
    let before = (
        std::fs::read_to_string(lab.dispatcher_path()).expect("dispatcher.list"),
        std::fs::read_to_string(lab.address_path()).expect("address.list"),
    );
    let dispatchers = [
        (json!({"set_id": 2, "uri": "sip:gw.example.com"}), "uri"),
        (
            json!({"set_id": 2, "uri": "sip:127.1.0.2;transport=tcp"}),
            "uri",
        ),
        (
            json!({"set_id": 2, "uri": "sip:127.1.0.2\n1 sip:203.0.113.66 0 0"}),
            "uri",
        ),
        (json!({"set_id": 2, "uri": "sip:user@127.1.0.2"}), "uri"),
        (json!({"set_id": 0, "uri": "sip:127.1.0.2"}), "set_id"),
        (
            json!({"set_id": 2, "uri": "sip:127.1.0.2", "priority": -1}),
            "priority",
        ),
        (
            json!({"set_id": 2, "uri": "sip:127.1.0.2", "weight": 0}),
            "weight",
        ),
        (
            json!({"set_id": 2, "uri": "sip:127.1.0.2", "duid": "a;weight=1"}),
            "duid",
        ),
        (
            json!({"set_id": 2, "uri": "sip:127.1.0.2", "attrs": {"socket": "udp:1.2.3.4 5"}}),
            "attrs.socket",
        ),
        (
            json!({"set_id": 2, "uri": "sip:127.1.0.2", "state": "on"}),
            "state",
        ),
    ];
    for (body, field) in dispatchers {
        let resp = d
            .admin(
                Method::POST,
                "/api/v1/kamailio/dispatchers",
                Some(body.clone()),
            )
            .await;
        resp.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some(field));
    }
    let addresses = [
        (json!({"group": 1, "address": "example.com"}), "address"),
        (json!({"group": 1, "address": "10.1.2.3/8"}), "address"),
        (json!({"group": 1, "address": "10.0.0.0/0"}), "address"),
        (json!({"group": 0, "address": "192.0.2.1"}), "group"),
        (
            json!({"group": 1, "address": "192.0.2.1", "tag": "two words"}),
            "tag",
        ),
        (
            json!({"group": 1, "address": "192.0.2.1\n1 0.0.0.0 1 0"}),
            "address",
        ),
    ];
    for (body, field) in addresses {
        let resp = d
            .admin(
                Method::POST,
                "/api/v1/kamailio/addresses",
                Some(body.clone()),
            )
            .await;
        resp.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some(field));
    }
    let after = (
        std::fs::read_to_string(lab.dispatcher_path()).expect("dispatcher.list"),
        std::fs::read_to_string(lab.address_path()).expect("address.list"),
    );
    assert_eq!(before, after, "a refused request changed a list file");
    let listed = d
        .admin(Method::GET, "/api/v1/kamailio/dispatchers", None)
        .await;
    assert_eq!(listed.body["total"], 0, "{}", listed.body);
    d.stop().await;
}

#[tokio::test]
async fn two_changes_within_the_reload_window_both_end_up_loaded() {
    // Kamailio refuses a second reload within 5 s ("Ongoing reload"): the
    // worker waits the window out instead of losing the second change.
    let lab = Kamailio::start(5, BASELINE_DISPATCHER, BASELINE_ADDRESSES).await;
    let d = daemon_beside(&lab).await;
    wait_for_live(&lab, "the node in set 1", |l| {
        find(l, 1, NODE_URI).is_some()
    })
    .await;
    for host in [4, 5] {
        let uri = format!("sip:127.1.0.{host}:5999");
        let created = d
            .admin(
                Method::POST,
                "/api/v1/kamailio/dispatchers",
                Some(json!({"set_id": 4, "uri": uri})),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        assert_eq!(
            created.body["apply"]["status"], "verified",
            "{}",
            created.body
        );
    }
    let list = live(&lab).await;
    assert!(
        find(&list, 4, "sip:127.1.0.4:5999").is_some()
            && find(&list, 4, "sip:127.1.0.5:5999").is_some(),
        "{list:?}"
    );
    let applies = d.admin(Method::GET, "/api/v1/applies?limit=1", None).await;
    let reloads = applies.body["items"][0]["reloads"].to_string();
    assert!(
        reloads.contains("dispatcher") && reloads.contains("reloaded"),
        "{reloads}"
    );
    d.stop().await;
}

fn ctl(d: &TestDaemon, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rayan-ctl"))
        .args(["--url", &d.url, "--token", &d.admin_token])
        .args(args)
        .env_remove("RAYAN_URL")
        .env_remove("RAYAN_TOKEN")
        .output()
        .expect("run rayan-ctl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rayan_ctl_manages_destinations_and_addresses() {
    let lab = Kamailio::start(1, BASELINE_DISPATCHER, BASELINE_ADDRESSES).await;
    let d = daemon_beside(&lab).await;
    wait_for_live(&lab, "the node in set 1", |l| {
        find(l, 1, NODE_URI).is_some()
    })
    .await;

    let (ok, out, err) = ctl(
        &d,
        &[
            "--json",
            "kamailio",
            "dispatcher",
            "create",
            "--set",
            "6",
            "--uri",
            "sip:127.1.0.6:5999",
        ],
    );
    assert!(ok, "{err}");
    let created: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(created["apply"]["status"], "verified", "{created}");
    assert!(find(&live(&lab).await, 6, "sip:127.1.0.6:5999").is_some());

    let (ok, out, err) = ctl(&d, &["kamailio", "dispatcher", "list"]);
    assert!(ok && out.contains("sip:127.1.0.6:5999"), "{out}{err}");
    let (ok, out, err) = ctl(&d, &["kamailio", "status"]);
    assert!(
        ok && out.contains("kamailio 5.") && out.contains(NODE_URI),
        "{out}{err}"
    );
    let (ok, out, err) = ctl(&d, &["node", "list"]);
    assert!(
        ok && out.contains("test1") && out.contains(NODE_URI),
        "{out}{err}"
    );

    let (ok, _, err) = ctl(
        &d,
        &[
            "kamailio",
            "dispatcher",
            "create",
            "--set",
            "6",
            "--uri",
            "sip:gw.example.com",
        ],
    );
    assert!(!ok && err.contains("uri"), "{err}");

    let (ok, out, err) = ctl(
        &d,
        &[
            "--json",
            "kamailio",
            "address",
            "create",
            "--group",
            "3",
            "--address",
            "192.0.2.9",
        ],
    );
    assert!(ok, "{err}");
    let address: serde_json::Value = serde_json::from_str(&out).expect("json");
    let hosts = lab
        .rpc()
        .permissions_address_dump()
        .await
        .expect("addressDump");
    assert!(
        hosts
            .iter()
            .any(|a| a.group == 3 && a.ip.to_string() == "192.0.2.9"),
        "{hosts:?}"
    );
    let (ok, out, err) = ctl(&d, &["kamailio", "address", "list"]);
    assert!(ok && out.contains("192.0.2.9"), "{out}{err}");

    let id = address["id"].to_string();
    let (ok, _, err) = ctl(&d, &["kamailio", "address", "delete", &id]);
    assert!(ok, "{err}");
    let id = created["id"].to_string();
    let (ok, _, err) = ctl(&d, &["kamailio", "dispatcher", "delete", &id]);
    assert!(ok, "{err}");
    assert!(find(&live(&lab).await, 6, "sip:127.1.0.6:5999").is_none());
    let hosts = lab
        .rpc()
        .permissions_address_dump()
        .await
        .expect("addressDump");
    assert!(
        !hosts.iter().any(|a| a.ip.to_string() == "192.0.2.9"),
        "{hosts:?}"
    );
    d.stop().await;
}

#[test]
fn the_node_sip_uri_setting_takes_an_ip_literal_only() {
    let env = |uri: &str| {
        [
            ("RAYAN_KAMAILIO_RPC_URL", "http://127.0.0.1:5071/RPC"),
            (
                "RAYAN_KAMAILIO_DISPATCHER_LIST",
                "/etc/kamailio/dispatcher.list",
            ),
            ("RAYAN_KAMAILIO_ADDRESS_LIST", "/etc/kamailio/address.list"),
            ("RAYAN_KAMAILIO_NODE_SIP_URI", uri),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
    };
    let loaded =
        rayan::config::Settings::load(None, env("sip:192.0.2.10:5060")).expect("valid settings");
    assert_eq!(
        loaded.kamailio.and_then(|k| k.node_sip_uri).as_deref(),
        Some("sip:192.0.2.10:5060")
    );
    for bad in [
        "sip:pbx.example.com",
        "sip:192.0.2.10;transport=tcp",
        "192.0.2.10",
    ] {
        match rayan::config::Settings::load(None, env(bad)) {
            Err(rayan::config::ConfigError::Invalid { key, .. }) => {
                assert_eq!(key, "kamailio.node_sip_uri")
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
}

/// With Kamailio in front, a block goes into its address group 99, verified by
/// `permissions.addressDump`, and the shipped cfg answers the source with a 403.
#[tokio::test]
async fn a_block_is_enforced_by_kamailio() {
    let lab = Kamailio::start(1, BASELINE_DISPATCHER, BASELINE_ADDRESSES).await;
    let d = daemon_beside(&lab).await;
    let port = lab.sip_port;
    assert!(crate::kamailio_support::options_from("127.0.0.5", port).starts_with("SIP/2.0 200"));
    let made = d
        .admin(
            Method::POST,
            "/api/v1/security/blocked",
            Some(json!({"address": "127.0.0.5", "reason": "scanner"})),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert_eq!(made.body["enforced_by"], "kamailio");
    assert_eq!(made.body["apply"]["status"], "verified", "{}", made.body);
    let list = std::fs::read_to_string(lab.address_path()).expect("address.list");
    assert!(list.contains("99 127.0.0.5 32 0 blocked"), "{list}");
    let pjsip = std::fs::read_to_string(d.config_dir().join("pjsip.conf")).expect("pjsip.conf");
    assert!(
        !pjsip.contains("rayan-blocklist"),
        "not in Asterisk as well"
    );
    assert!(
        crate::kamailio_support::options_from("127.0.0.5", port).starts_with("SIP/2.0 403"),
        "{}",
        lab.log_tail()
    );
    assert!(crate::kamailio_support::options_from("127.0.0.6", port).starts_with("SIP/2.0 200"));
    let lifted = d
        .admin(Method::DELETE, "/api/v1/security/blocked/127.0.0.5", None)
        .await;
    assert_eq!(lifted.status, StatusCode::OK, "{}", lifted.body);
    assert!(crate::kamailio_support::options_from("127.0.0.5", port).starts_with("SIP/2.0 200"));
}
