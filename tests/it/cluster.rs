//! Several `rayand` nodes on one real PostgreSQL, each beside its own Asterisk
//! double: every write through any node reaches every node's Asterisk, verified,
//! with no request to the other nodes; a node that was away or lost its
//! announcements catches up alone; Kamailio follows the nodes' health.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rayan::config::{KamailioSettings, Settings};
use rayan::daemon::{Daemon, DaemonError};
use rayan::kamailio::LiveState;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::kamailio_support::Kamailio;
use crate::support::asterisk::AsteriskDouble;
use crate::support::daemon::{HAND_WRITTEN_PJSIP, Response, double_config, test_settings};
use crate::support::db::TestDb;

/// One node: a daemon and its own Asterisk double, in its own directory.
struct Node {
    name: String,
    daemon: Option<Daemon>,
    asterisk: AsteriskDouble,
    url: String,
    state_dir: PathBuf,
    db_url: String,
    adjust: Adjust,
    _dir: tempfile::TempDir,
}

type Adjust = Arc<dyn Fn(&mut Settings) + Send + Sync>;

fn fast(settings: &mut Settings) {
    settings.cluster.heartbeat_ms = 200;
    settings.cluster.node_timeout_ms = 1_000;
    settings.cluster.check_interval_ms = 1_000;
}

/// Only the announcements and their reconnect can bring a node up to date.
fn announcements_only(settings: &mut Settings) {
    fast(settings);
    settings.cluster.check_interval_ms = 3_600_000;
}

impl Node {
    /// Starts node `name` on `db`; `key_from` is a node whose secret key it shares.
    async fn start(
        db: &TestDb,
        name: &str,
        key_from: Option<&Node>,
        adjust: impl Fn(&mut Settings) + Send + Sync + 'static,
    ) -> Node {
        let (dir, asterisk) = node_dir(key_from.map(|n| n.state_dir.as_path())).await;
        let settings = test_settings(dir.path(), &db.url);
        let mut node = Node {
            name: name.to_owned(),
            daemon: None,
            asterisk,
            url: String::new(),
            state_dir: settings.state_dir.clone(),
            db_url: db.url.clone(),
            adjust: Arc::new(adjust),
            _dir: dir,
        };
        node.run().await;
        node
    }

    fn settings(&self) -> Settings {
        let mut settings = test_settings(
            self.state_dir.parent().expect("state dir has a parent"),
            &self.db_url,
        );
        settings.node = self.name.clone();
        settings.asterisk.ami_addr = self.asterisk.addr().to_string();
        (self.adjust)(&mut settings);
        settings
    }

    /// (Re)starts the daemon.
    async fn run(&mut self) {
        let daemon = Daemon::start(self.settings()).await.expect("node starts");
        self.url = daemon.url();
        self.daemon = Some(daemon);
    }

    async fn stop(&mut self) {
        if let Some(daemon) = self.daemon.take() {
            daemon.stop().await.expect("clean stop");
        }
    }

    fn pjsip(&self) -> String {
        std::fs::read_to_string(self.state_dir.join("asterisk/pjsip.conf")).unwrap_or_default()
    }

    async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        prefer: Option<&str>,
    ) -> Response {
        let mut request = reqwest::Client::new()
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(token);
        if let Some(prefer) = prefer {
            request = request.header("prefer", prefer);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Response::read(request.send().await.expect("request")).await
    }
}

/// A node's directory as `test_settings` lays it out (`state/`, `state/asterisk/`
/// with the administrator's pjsip.conf), the secret key of the node whose state
/// dir is `key_from` when given, and an Asterisk double reading its files.
async fn node_dir(key_from: Option<&std::path::Path>) -> (tempfile::TempDir, AsteriskDouble) {
    let dir = tempfile::tempdir().expect("tempdir");
    let state_dir = dir.path().join("state");
    let config_dir = state_dir.join("asterisk");
    std::fs::create_dir_all(&config_dir).expect("config dir");
    std::fs::write(config_dir.join("pjsip.conf"), HAND_WRITTEN_PJSIP).expect("pjsip.conf");
    if let Some(other) = key_from {
        std::fs::copy(other.join("secret.key"), state_dir.join("secret.key"))
            .expect("share the key");
    }
    let asterisk = AsteriskDouble::start(double_config(&config_dir)).await;
    (dir, asterisk)
}

/// The admin token the first node wrote; every node shares the database's tokens.
fn admin_token(first: &Node) -> String {
    std::fs::read_to_string(first.state_dir.join("admin.token"))
        .expect("admin token")
        .trim()
        .to_owned()
}

async fn eventually(what: &str, limit: Duration, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done().await {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn node_row<'a>(nodes: &'a Value, name: &str) -> &'a Value {
    nodes["items"]
        .as_array()
        .and_then(|items| items.iter().find(|n| n["name"] == name))
        .unwrap_or_else(|| panic!("node {name} missing from {nodes}"))
}

fn managed(pjsip: &str) -> &str {
    pjsip
        .find("; BEGIN MANAGED")
        .map_or("", |start| &pjsip[start..])
}

#[tokio::test]
async fn a_write_through_one_node_is_verified_on_the_other() {
    let db = TestDb::postgres().await;
    let mut a = Node::start(&db, "pbx1", None, fast).await;
    let mut b = Node::start(&db, "pbx2", Some(&a), fast).await;
    let token = admin_token(&a);
    let reloads_before = b.asterisk.reload_count("res_pjsip.so");

    let created = a
        .call(
            &token,
            Method::POST,
            "/api/v1/extensions",
            Some(json!({"extension": "1001", "password": "s3cret-Passw0rd"})),
            Some("wait-for=all"),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(
        created.body["apply"]["status"], "verified",
        "{}",
        created.body
    );
    assert_eq!(
        created.body["apply"]["nodes"]["pbx2"]["status"], "verified",
        "{}",
        created.body
    );
    // B's own files and Asterisk have it, with no request to B.
    assert!(b.pjsip().contains("[1001]"), "{}", b.pjsip());
    assert!(b.asterisk.endpoints().contains(&"1001".to_owned()));
    assert!(b.asterisk.reload_count("res_pjsip.so") > reloads_before);
    assert_eq!(managed(&a.pjsip()), managed(&b.pjsip()));

    // Each node records what it applied just after answering: look until both have.
    eventually(
        "both nodes up to date",
        Duration::from_secs(5),
        async || {
            let nodes = b
                .call(&token, Method::GET, "/api/v1/nodes", None, None)
                .await;
            ["pbx1", "pbx2"]
                .iter()
                .all(|name| node_row(&nodes.body, name)["behind"] == 0)
        },
    )
    .await;
    let nodes = b
        .call(&token, Method::GET, "/api/v1/nodes", None, None)
        .await;
    assert_eq!(nodes.status, StatusCode::OK, "{}", nodes.body);
    for name in ["pbx1", "pbx2"] {
        let row = node_row(&nodes.body, name);
        assert_eq!(row["alive"], true, "{row}");
        assert_eq!(row["ami_connected"], true, "{row}");
        assert_eq!(row["last_apply"]["status"], "verified", "{row}");
    }
    let shown = b
        .call(&token, Method::GET, "/api/v1/extensions/1001", None, None)
        .await;
    assert_eq!(
        shown.body["nodes"],
        json!({"pbx1": "verified", "pbx2": "verified"})
    );

    // A token revoked through A stops working on B at once (B had it cached).
    let viewer = a
        .call(
            &token,
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"role": "viewer"})),
            None,
        )
        .await;
    let (viewer_id, viewer_token) = (
        viewer.body["id"].clone(),
        viewer.body["token"].as_str().unwrap_or_default().to_owned(),
    );
    assert_eq!(
        b.call(&viewer_token, Method::GET, "/api/v1/extensions", None, None)
            .await
            .status,
        StatusCode::OK
    );
    let revoked = a
        .call(
            &token,
            Method::DELETE,
            &format!("/api/v1/tokens/{viewer_id}"),
            None,
            None,
        )
        .await;
    assert!(revoked.status.is_success(), "{}", revoked.body);
    eventually(
        "B refuses the revoked token",
        Duration::from_secs(5),
        async || {
            b.call(&viewer_token, Method::GET, "/api/v1/extensions", None, None)
                .await
                .status
                == StatusCode::UNAUTHORIZED
        },
    )
    .await;

    // A node whose Asterisk is down is answered pending at once, not waited for.
    b.asterisk.stop();
    eventually(
        "B says its Asterisk is down",
        Duration::from_secs(5),
        async || {
            let nodes = a
                .call(&token, Method::GET, "/api/v1/nodes", None, None)
                .await;
            node_row(&nodes.body, "pbx2")["ami_connected"] == false
        },
    )
    .await;
    let started = Instant::now();
    let created = a
        .call(
            &token,
            Method::POST,
            "/api/v1/extensions",
            Some(json!({"extension": "1002"})),
            Some("wait-for=all"),
        )
        .await;
    assert_eq!(
        created.body["apply"]["status"], "verified",
        "{}",
        created.body
    );
    assert_eq!(
        created.body["apply"]["nodes"]["pbx2"]["status"], "pending",
        "{}",
        created.body
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "waited {:?}",
        started.elapsed()
    );
    b.asterisk.restart();
    eventually(
        "B applies 1002 once its Asterisk is back",
        Duration::from_secs(15),
        async || b.asterisk.endpoints().contains(&"1002".to_owned()),
    )
    .await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_node_that_was_away_catches_up_alone() {
    let db = TestDb::postgres().await;
    let mut a = Node::start(&db, "pbx1", None, fast).await;
    let mut b = Node::start(&db, "pbx2", Some(&a), fast).await;
    let token = admin_token(&a);
    b.stop().await;
    for number in ["2001", "2002", "2003"] {
        let created = a
            .call(
                &token,
                Method::POST,
                "/api/v1/extensions",
                Some(json!({"extension": number})),
                None,
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    }
    eventually(
        "A sees B gone and behind",
        Duration::from_secs(5),
        async || {
            let nodes = a
                .call(&token, Method::GET, "/api/v1/nodes", None, None)
                .await;
            let row = node_row(&nodes.body, "pbx2");
            row["alive"] == false && row["behind"].as_i64().unwrap_or(0) >= 3
        },
    )
    .await;
    assert!(!b.pjsip().contains("[2003]"));

    b.run().await;
    eventually(
        "B has caught up by itself",
        Duration::from_secs(15),
        async || {
            let nodes = a
                .call(&token, Method::GET, "/api/v1/nodes", None, None)
                .await;
            node_row(&nodes.body, "pbx2")["behind"] == 0
                && b.asterisk.endpoints().contains(&"2003".to_owned())
        },
    )
    .await;
    assert_eq!(managed(&a.pjsip()), managed(&b.pjsip()));
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_node_whose_listener_is_killed_converges() {
    let db = TestDb::postgres().await;
    let mut a = Node::start(&db, "pbx1", None, announcements_only).await;
    let mut b = Node::start(&db, "pbx2", Some(&a), announcements_only).await;
    let token = admin_token(&a);
    let mut numbers = Vec::new();
    for round in 0..6 {
        // Every LISTEN connection, B's included, is cut from PostgreSQL's side.
        if round % 2 == 0 {
            db.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()",
            )
            .await;
        }
        let number = format!("30{round:02}");
        let created = a
            .call(
                &token,
                Method::POST,
                "/api/v1/extensions",
                Some(json!({"extension": number})),
                Some("respond-async"),
            )
            .await;
        assert!(created.status.is_success(), "{}", created.body);
        numbers.push(number);
    }
    eventually(
        "B has every extension",
        Duration::from_secs(20),
        async || {
            let endpoints = b.asterisk.endpoints();
            numbers.iter().all(|n| endpoints.contains(n))
        },
    )
    .await;
    eventually("B is not behind", Duration::from_secs(10), async || {
        let nodes = a
            .call(&token, Method::GET, "/api/v1/nodes", None, None)
            .await;
        node_row(&nodes.body, "pbx2")["behind"] == 0
    })
    .await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn three_nodes_end_identical_after_writes_through_all_of_them() {
    let db = TestDb::postgres().await;
    let mut a = Node::start(&db, "pbx1", None, fast).await;
    let mut b = Node::start(&db, "pbx2", Some(&a), fast).await;
    let mut c = Node::start(&db, "pbx3", Some(&a), fast).await;
    let token = admin_token(&a);
    const WRITES: usize = 1_000;
    const CLIENTS: usize = 12;
    let nodes = [&a, &b, &c];
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let urls: Vec<String> = nodes.iter().map(|n| n.url.clone()).collect();
        let token = token.clone();
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            for i in (client..WRITES).step_by(CLIENTS) {
                let url = &urls[i % urls.len()];
                let number = format!("{}", 40_000 + i);
                let response = http
                    .post(format!("{url}/api/v1/extensions"))
                    .bearer_auth(&token)
                    .header("prefer", "respond-async")
                    .json(&json!({"extension": number}))
                    .send()
                    .await
                    .expect("write");
                assert!(response.status().is_success(), "{}", response.status());
            }
        }));
    }
    for client in clients {
        client.await.expect("client");
    }
    for node in nodes {
        eventually(
            &format!("{} caught up", node.name),
            Duration::from_secs(60),
            async || {
                let list = node
                    .call(&token, Method::GET, "/api/v1/nodes", None, None)
                    .await;
                list.body["items"]
                    .as_array()
                    .is_some_and(|items| items.iter().all(|n| n["behind"] == 0))
                    && node.asterisk.endpoints().len() >= WRITES
            },
        )
        .await;
    }
    let reference = managed(&a.pjsip()).to_owned();
    assert_eq!(reference.matches("type=endpoint").count(), WRITES);
    assert_eq!(reference, managed(&b.pjsip()));
    assert_eq!(reference, managed(&c.pjsip()));
    // Every extension verified on every node.
    let per_node = verified_extensions_per_node(&db).await;
    assert_eq!(per_node, vec![WRITES as i64; 3]);
    for node in [&mut a, &mut b, &mut c] {
        println!(
            "{}: {} PJSIP reloads for {WRITES} writes",
            node.name,
            node.asterisk.reload_count("res_pjsip.so")
        );
        node.stop().await;
    }
}

#[tokio::test]
async fn a_node_with_another_key_refuses_to_start() {
    let db = TestDb::postgres().await;
    let mut a = Node::start(&db, "pbx1", None, fast).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = test_settings(dir.path(), &db.url);
    settings.node = "pbx2".into();
    match Daemon::start(settings).await {
        Err(error @ DaemonError::ForeignKey(_)) => {
            let text = error.to_string();
            assert!(
                text.contains("secret.key") && text.contains("state_dir"),
                "{text}"
            );
        }
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("a node with a foreign key started"),
    }
    a.stop().await;
}

fn with_kamailio(lab: &Kamailio, node_uri: &str) -> KamailioSettings {
    KamailioSettings {
        rpc_url: lab.rpc_url(),
        dispatcher_list: lab.dispatcher_path(),
        address_list: lab.address_path(),
        node_sip_uri: Some(node_uri.into()),
    }
}

const URI_1: &str = "sip:127.1.0.1:5060";
const URI_2: &str = "sip:127.1.0.2:5060";

async fn set_one_state(lab: &Kamailio, uri: &str) -> Option<LiveState> {
    let live = lab.rpc().dispatcher_list().await.ok()?;
    live.iter()
        .find(|d| d.set_id == 1 && d.uri == uri)
        .map(|d| d.flags.state)
}

#[tokio::test]
async fn kamailio_sends_calls_only_to_healthy_nodes() {
    let lab = Kamailio::start(1, "9 sip:127.1.9.9:5999 0 0\n", "9 127.1.9.9 32 0\n").await;
    let db = TestDb::postgres().await;
    let kamailio_1 = with_kamailio(&lab, URI_1);
    let kamailio_2 = with_kamailio(&lab, URI_2);
    let mut a = Node::start(&db, "pbx1", None, move |s| {
        fast(s);
        s.kamailio = Some(kamailio_1.clone());
    })
    .await;
    let mut b = Node::start(&db, "pbx2", Some(&a), move |s| {
        fast(s);
        s.kamailio = Some(kamailio_2.clone());
    })
    .await;
    eventually(
        "both nodes take calls",
        Duration::from_secs(20),
        async || {
            set_one_state(&lab, URI_1)
                .await
                .is_some_and(|s| s != LiveState::Disabled)
                && set_one_state(&lab, URI_2)
                    .await
                    .is_some_and(|s| s != LiveState::Disabled)
        },
    )
    .await;

    b.asterisk.stop();
    eventually(
        "B is out of rotation",
        Duration::from_secs(10),
        async || set_one_state(&lab, URI_2).await == Some(LiveState::Disabled),
    )
    .await;
    assert_ne!(set_one_state(&lab, URI_1).await, Some(LiveState::Disabled));
    b.asterisk.restart();
    eventually(
        "B is back in rotation",
        Duration::from_secs(10),
        async || {
            set_one_state(&lab, URI_2)
                .await
                .is_some_and(|s| s != LiveState::Disabled)
        },
    )
    .await;

    // The lock holder goes away: the other node takes over the lists.
    a.stop().await;
    a.asterisk.stop();
    eventually(
        "A is out of rotation, written by B",
        Duration::from_secs(15),
        async || set_one_state(&lab, URI_1).await == Some(LiveState::Disabled),
    )
    .await;
    b.stop().await;
}

async fn verified_extensions_per_node(db: &TestDb) -> Vec<i64> {
    use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
    let conn = Database::connect(&db.url).await.expect("connect");
    let rows = conn
        .query_all(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM object_outcomes \
             WHERE kind = 'extension' AND status = 'verified' GROUP BY node ORDER BY node",
        ))
        .await
        .expect("count outcomes");
    let counts = rows
        .iter()
        .map(|row| row.try_get::<i64>("", "n").expect("count"))
        .collect();
    conn.close().await.ok();
    counts
}

/// A real `rayand` process beside its own Asterisk double.
struct Process {
    child: tokio::process::Child,
    dir: tempfile::TempDir,
    asterisk: AsteriskDouble,
    name: String,
    db_url: String,
}

impl Process {
    async fn start(db: &TestDb, name: &str, key_from: Option<&Process>) -> Process {
        let other_state = key_from.map(|p| p.dir.path().join("state"));
        let (dir, asterisk) = node_dir(other_state.as_deref()).await;
        let child = Self::spawn(dir.path(), &db.url, name, &asterisk);
        let process = Process {
            child,
            dir,
            asterisk,
            name: name.to_owned(),
            db_url: db.url.clone(),
        };
        process.url().await;
        process
    }

    fn spawn(
        dir: &std::path::Path,
        db_url: &str,
        name: &str,
        asterisk: &AsteriskDouble,
    ) -> tokio::process::Child {
        let _ = std::fs::remove_file(dir.join("state/rayand.url"));
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_rayand"));
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("RAYAN_")) {
            cmd.env_remove(k);
        }
        cmd.env("RAYAN_LISTEN", "127.0.0.1:0")
            .env("RAYAN_DATABASE_URL", db_url)
            .env("RAYAN_STATE_DIR", dir.join("state"))
            .env("RAYAN_NODE", name)
            .env("RAYAN_ASTERISK_CONFIG_DIR", dir.join("state/asterisk"))
            .env("RAYAN_ASTERISK_AMI_ADDR", asterisk.addr().to_string())
            .env("RAYAN_ASTERISK_AMI_SECRET", "rayan-secret")
            .env("RAYAN_CLUSTER_HEARTBEAT_MS", "200")
            .env("RAYAN_CLUSTER_NODE_TIMEOUT_MS", "1000")
            .env("RAYAN_CLUSTER_CHECK_INTERVAL_MS", "1000")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        cmd.spawn().expect("start rayand")
    }

    async fn url(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(url) = std::fs::read_to_string(self.dir.path().join("state/rayand.url")) {
                let url = url.trim().to_owned();
                if reqwest::get(format!("{url}/healthz")).await.is_ok() {
                    return url;
                }
            }
            assert!(
                Instant::now() < deadline,
                "rayand {} did not come up",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn kill(&mut self) {
        self.child.kill().await.expect("kill");
    }

    async fn restart(&mut self) {
        self.child = Self::spawn(self.dir.path(), &self.db_url, &self.name, &self.asterisk);
        self.url().await;
    }

    fn token(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("state/admin.token"))
            .expect("admin token")
            .trim()
            .to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_processes_follow_each_other_and_a_killed_one_catches_up() {
    let db = TestDb::postgres().await;
    let mut a = Process::start(&db, "pbx1", None).await;
    let mut b = Process::start(&db, "pbx2", Some(&a)).await;
    let token = a.token();
    let http = reqwest::Client::new();
    let write = async |url: &str, number: &str| {
        let response = http
            .post(format!("{url}/api/v1/extensions"))
            .bearer_auth(&token)
            .header("prefer", "wait-for=all")
            .json(&json!({"extension": number}))
            .send()
            .await
            .expect("write");
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json::<Value>().await.expect("answer")
    };
    let answer = write(&a.url().await, "5001").await;
    assert_eq!(
        answer["apply"]["nodes"]["pbx2"]["status"], "verified",
        "{answer}"
    );
    assert!(b.asterisk.endpoints().contains(&"5001".to_owned()));
    let answer = write(&b.url().await, "5002").await;
    assert_eq!(
        answer["apply"]["nodes"]["pbx1"]["status"], "verified",
        "{answer}"
    );
    assert!(a.asterisk.endpoints().contains(&"5002".to_owned()));

    // SIGKILL: no goodbye, its LISTEN connection dies with it.
    b.kill().await;
    let url_a = a.url().await;
    for number in ["5003", "5004"] {
        write(&url_a, number).await;
    }
    b.restart().await;
    eventually(
        "the killed node caught up by itself",
        Duration::from_secs(20),
        async || {
            let endpoints = b.asterisk.endpoints();
            ["5001", "5002", "5003", "5004"]
                .iter()
                .all(|n| endpoints.contains(&(*n).to_owned()))
        },
    )
    .await;
    a.kill().await;
    b.kill().await;
}
