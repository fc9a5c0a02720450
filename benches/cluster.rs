//! Several real `rayand` processes on one PostgreSQL, each beside its own
//! Asterisk double.
//!
//! Printed:
//! - with 2 and with 3 nodes: how much later than node A's own apply each other
//!   node has a write through A verified (p50, p90, p99, max over 200 writes sent
//!   one at a time with `Prefer: wait-for=all`, 150 ms apart so that no write is
//!   taken for part of a burst), from the apply finish times the nodes record;
//! - 1,000 writes from 12 clients, each waiting for its own node's outcome,
//!   spread over 3 nodes: PJSIP reloads per node, against the same writes to a
//!   single node, and the ratio.
//!
//! `cargo bench --bench cluster` (needs PostgreSQL on 127.0.0.1:5432, or
//! `RAYAN_TEST_POSTGRES`).

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use support::asterisk::AsteriskDouble;
use support::daemon::{HAND_WRITTEN_PJSIP, asterisk_for};
use support::db::TestDb;
use tokio::process::{Child, Command};

const LATENCY_WRITES: usize = 200;
const SPREAD_WRITES: usize = 1_000;
const CLIENTS: usize = 12;

struct Node {
    name: String,
    _child: Child,
    url: String,
    double: AsteriskDouble,
    state: PathBuf,
    _dir: tempfile::TempDir,
}

async fn start_node(db: &TestDb, name: &str, key_from: Option<&Path>) -> Node {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let config_dir = dir.path().join("asterisk");
    std::fs::create_dir_all(&config_dir).expect("config dir");
    std::fs::create_dir_all(&state).expect("state dir");
    std::fs::write(config_dir.join("pjsip.conf"), HAND_WRITTEN_PJSIP).expect("pjsip.conf");
    if let Some(key) = key_from {
        std::fs::copy(key, state.join("secret.key")).expect("share the key");
    }
    let double = asterisk_for(&config_dir).await;
    let config = format!(
        "listen = \"127.0.0.1:0\"\nstate_dir = {state:?}\nnode = \"{name}\"\nlog_level = \"warn\"\n\
         database_url = \"{}\"\n\
         [asterisk]\nconfig_dir = {config_dir:?}\nami_addr = \"{}\"\nami_secret = \"rayan-secret\"\n",
        db.url,
        double.addr()
    );
    let config_path = dir.path().join("rayand.toml");
    std::fs::write(&config_path, config).expect("config");
    let child = Command::new(env!("CARGO_BIN_EXE_rayand"))
        .arg("--config")
        .arg(&config_path)
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start rayand");
    let deadline = Instant::now() + Duration::from_secs(30);
    let url = loop {
        if let Ok(url) = std::fs::read_to_string(state.join("rayand.url")) {
            break url.trim().to_owned();
        }
        assert!(Instant::now() < deadline, "rayand {name} did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    Node {
        name: name.to_owned(),
        _child: child,
        url,
        double,
        state,
        _dir: dir,
    }
}

async fn start_cluster(db: &TestDb, count: usize) -> (Vec<Node>, String) {
    let first = start_node(db, "pbx1", None).await;
    let key = first.state.join("secret.key");
    let token = std::fs::read_to_string(first.state.join("admin.token"))
        .expect("admin token")
        .trim()
        .to_owned();
    let mut nodes = vec![first];
    for i in 2..=count {
        nodes.push(start_node(db, &format!("pbx{i}"), Some(&key)).await);
    }
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list: Value = http
            .get(format!("{}/api/v1/nodes", nodes[0].url))
            .bearer_auth(&token)
            .send()
            .await
            .expect("nodes")
            .json()
            .await
            .unwrap_or_default();
        let ready = list["items"].as_array().is_some_and(|items| {
            items.len() == count
                && items
                    .iter()
                    .all(|n| n["alive"] == true && n["ami_connected"] == true)
        });
        if ready {
            break;
        }
        assert!(Instant::now() < deadline, "the nodes never settled: {list}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (nodes, token)
}

fn time(value: &Value) -> Option<DateTime<Utc>> {
    value.as_str()?.parse().ok()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn extra_time(count: usize) {
    let db = TestDb::postgres().await;
    let (nodes, token) = start_cluster(&db, count).await;
    let http = reqwest::Client::new();
    let mut extra_ms = Vec::new();
    let mut not_verified = 0;
    for i in 0..LATENCY_WRITES {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let answer: Value = http
            .post(format!("{}/api/v1/extensions", nodes[0].url))
            .bearer_auth(&token)
            .header("prefer", "wait-for=all")
            .json(&json!({"extension": format!("{}", 50_000 + i)}))
            .send()
            .await
            .expect("write")
            .json()
            .await
            .expect("answer");
        let id = answer["apply"]["id"].as_i64().expect("own apply id");
        let own: Value = http
            .get(format!("{}/api/v1/applies/{id}", nodes[0].url))
            .bearer_auth(&token)
            .send()
            .await
            .expect("apply")
            .json()
            .await
            .expect("apply record");
        let own_finished = time(&own["finished_at"]).expect("own finish time");
        for node in &nodes[1..] {
            let outcome = &answer["apply"]["nodes"][&node.name];
            match (outcome["status"].as_str(), time(&outcome["finished_at"])) {
                (Some("verified"), Some(finished)) => extra_ms
                    .push((finished - own_finished).num_microseconds().unwrap_or(0) as f64 / 1e3),
                _ => not_verified += 1,
            }
        }
    }
    extra_ms.sort_by(f64::total_cmp);
    println!(
        "{count} nodes, {LATENCY_WRITES} writes through pbx1, extra time until verified on each other node: \
         p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} samples, {not_verified} not verified in time)",
        percentile(&extra_ms, 50.0),
        percentile(&extra_ms, 90.0),
        percentile(&extra_ms, 99.0),
        extra_ms.last().copied().unwrap_or(f64::NAN),
        extra_ms.len()
    );
}

/// Sends `SPREAD_WRITES` creates from `CLIENTS` clients round-robin over `nodes`,
/// then waits until every node has every extension. Returns PJSIP reloads per node.
async fn spread(nodes: &[Node], token: &str) -> Vec<usize> {
    let urls: Vec<String> = nodes.iter().map(|n| n.url.clone()).collect();
    let before: Vec<usize> = nodes
        .iter()
        .map(|n| n.double.reload_count("res_pjsip.so"))
        .collect();
    let started = Instant::now();
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let urls = urls.clone();
        let token = token.to_owned();
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            for i in (client..SPREAD_WRITES).step_by(CLIENTS) {
                let response = http
                    .post(format!("{}/api/v1/extensions", urls[i % urls.len()]))
                    .bearer_auth(&token)
                    .json(&json!({"extension": format!("{}", 60_000 + i)}))
                    .send()
                    .await
                    .expect("write");
                assert!(response.status().is_success());
            }
        }));
    }
    for client in clients {
        client.await.expect("client");
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    for node in nodes {
        while node.double.endpoints().len() < SPREAD_WRITES {
            assert!(Instant::now() < deadline, "{} never caught up", node.name);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    println!(
        "  {} node(s): all {SPREAD_WRITES} extensions loaded everywhere after {:.2} s",
        nodes.len(),
        started.elapsed().as_secs_f64()
    );
    nodes
        .iter()
        .zip(before)
        .map(|(n, before)| n.double.reload_count("res_pjsip.so") - before)
        .collect()
}

#[tokio::main]
async fn main() {
    extra_time(2).await;
    extra_time(3).await;

    let db = TestDb::postgres().await;
    let (single, token) = start_cluster(&db, 1).await;
    let alone = spread(&single, &token).await[0];
    drop(single);
    let db = TestDb::postgres().await;
    let (three, token) = start_cluster(&db, 3).await;
    let per_node = spread(&three, &token).await;
    let worst = per_node.iter().copied().max().unwrap_or(0);
    println!(
        "{SPREAD_WRITES} writes from {CLIENTS} clients: one node alone {alone} PJSIP reloads; \
         spread over 3 nodes {per_node:?} reloads per node (worst/alone = {:.2})",
        worst as f64 / alone.max(1) as f64
    );
}
