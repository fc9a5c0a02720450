//! Requests that fail halfway leave nothing half-written, the daemon keeps
//! working once the database is back, and hostile requests (schemathesis over
//! the whole OpenAPI document) get the answers the document promises.

use std::time::Duration;

use crate::support::daemon::TestDaemon;
use crate::support::db::Backend;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement, TransactionTrait};
use serde_json::json;

/// The audit insert fails after the extension insert succeeded: the whole write
/// must roll back, so the extension does not exist without its audit entry.
#[tokio::test]
async fn a_write_failing_after_its_first_statement_rolls_back() {
    let d = TestDaemon::start(Backend::Postgres).await;
    d.db.execute(
        "CREATE FUNCTION refuse_audit() RETURNS trigger AS $$ BEGIN \
         IF NEW.object_id = '1999' THEN RAISE EXCEPTION 'disk full'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
    )
    .await;
    d.db.execute("CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_audit()")
        .await;

    let failed = d
        .admin(
            Method::POST,
            "/api/v1/extensions",
            Some(json!({"extension": "1999", "name": "Half"})),
        )
        .await;
    failed.assert_problem(StatusCode::INTERNAL_SERVER_ERROR, None);
    d.admin(Method::GET, "/api/v1/extensions/1999", None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, None);

    d.db.execute("DROP TRIGGER refuse_audit ON audit_log").await;
    let retried = d
        .admin(
            Method::POST,
            "/api/v1/extensions",
            Some(json!({"extension": "1999", "name": "Half"})),
        )
        .await;
    assert_eq!(retried.status, StatusCode::CREATED, "{}", retried.body);
    d.stop().await;
}

/// The database connection dies while a write is in flight (as when PostgreSQL
/// is stopped): the write is either fully there or fully absent, matching what
/// the client was told, earlier writes are intact, and later writes succeed.
#[tokio::test]
async fn the_database_going_away_mid_request_loses_nothing() {
    let d = TestDaemon::start(Backend::Postgres).await;
    let first = d
        .admin(
            Method::POST,
            "/api/v1/extensions",
            Some(json!({"extension": "1000"})),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED);

    // Hold a lock so the next write blocks inside its transaction.
    let blocker = Database::connect(&d.db.url).await.unwrap();
    let txn = blocker.begin().await.unwrap();
    txn.execute(Statement::from_string(
        DbBackend::Postgres,
        "LOCK TABLE extensions IN ACCESS EXCLUSIVE MODE".to_owned(),
    ))
    .await
    .unwrap();

    let url = d.url.clone();
    let token = d.admin_token.clone();
    let request = tokio::spawn(async move {
        let resp = reqwest::Client::new()
            .post(format!("{url}/api/v1/extensions"))
            .bearer_auth(token)
            .json(&json!({"extension": "1001", "name": "In flight"}))
            .send()
            .await
            .unwrap();
        crate::support::daemon::Response::read(resp).await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Kill every daemon connection, as a database shutdown would.
    txn.execute(Statement::from_string(
        DbBackend::Postgres,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()"
            .to_owned(),
    ))
    .await
    .unwrap();
    txn.rollback().await.unwrap();
    blocker.close().await.ok();

    let answer = request.await.unwrap();
    let stored = d.admin(Method::GET, "/api/v1/extensions/1001", None).await;
    match answer.status {
        StatusCode::CREATED => {
            assert_eq!(stored.status, StatusCode::OK, "told created but not stored")
        }
        status => {
            assert!(
                status.is_server_error(),
                "unexpected {status}: {}",
                answer.body
            );
            assert_eq!(answer.content_type, "application/problem+json");
            assert_eq!(
                stored.status,
                StatusCode::NOT_FOUND,
                "told failed but stored"
            );
        }
    }
    let audit = d.admin(Method::GET, "/api/v1/audit", None).await;
    let audited_1001 = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["object_id"] == "1001");
    assert_eq!(
        audited_1001,
        stored.status == StatusCode::OK,
        "extension and audit entry go together"
    );

    assert_eq!(
        d.admin(Method::GET, "/api/v1/extensions/1000", None)
            .await
            .status,
        StatusCode::OK
    );
    let after = d
        .admin(
            Method::POST,
            "/api/v1/extensions",
            Some(json!({"extension": "1002"})),
        )
        .await;
    assert_eq!(
        after.status,
        StatusCode::CREATED,
        "the daemon recovers: {}",
        after.body
    );
    d.stop().await;
}

/// The first start writes an admin token readable by its owner only; a second
/// start keeps it, and a second daemon on the same state dir refuses to start.
#[tokio::test]
async fn bootstrap_token_and_single_instance() {
    use std::os::unix::fs::PermissionsExt;
    let d = TestDaemon::start(Backend::Sqlite).await;
    let path = d.state_dir.join("admin.token");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let settings = crate::support::daemon::test_settings(d.state_dir.parent().unwrap(), &d.db.url);
    let err = rayan::daemon::Daemon::start(settings)
        .await
        .err()
        .expect("second daemon must refuse");
    let text = err.to_string();
    assert!(
        text.contains("another rayand") && text.contains(&format!("pid {}", std::process::id())),
        "{text}"
    );

    // Stop the first daemon; a restart on the same state keeps the token.
    let token_before = std::fs::read_to_string(&path).unwrap();
    let dir = d.state_dir.parent().unwrap().to_owned();
    let db_url = d.db.url.clone();
    let mut d = d;
    d.daemon.take().unwrap().stop().await.unwrap();
    let restarted =
        rayan::daemon::Daemon::start(crate::support::daemon::test_settings(&dir, &db_url))
            .await
            .unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), token_before);
    restarted.stop().await.unwrap();
}

/// One client's share of a burst of mixed writes; returns the extensions and trunks
/// that a 2xx answer said exist at its end.
async fn mixed_writes(
    d: &TestDaemon,
    client: usize,
    rounds: usize,
) -> (Vec<String>, Vec<String>, Vec<u16>) {
    let mut statuses = Vec::new();
    let mut extensions = Vec::new();
    let mut trunks = Vec::new();
    let send = async |method: Method,
                      path: String,
                      body: Option<serde_json::Value>,
                      asynchronous: bool| {
        let mut req = d
            .http
            .request(method, format!("{}{}", d.url, path))
            .bearer_auth(&d.admin_token);
        if asynchronous {
            req = req.header("Prefer", "respond-async");
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = crate::support::daemon::Response::read(req.send().await.expect("request")).await;
        assert!(
            !resp.status.is_server_error(),
            "{} {}: {}",
            resp.status,
            path,
            resp.body
        );
        resp.status
    };
    let trunk = format!("t{client}");
    let status = send(
        Method::POST,
        "/api/v1/trunks".into(),
        Some(json!({"name": trunk, "provider": "custom_credential", "username": "u", "password": "Secret-9x", "server": "sip.example.com"})),
        false,
    )
    .await;
    statuses.push(status.as_u16());
    if status.is_success() {
        trunks.push(trunk.clone());
    }
    for round in 0..rounds {
        let number = format!("{}{:02}{:02}", 3, client, round);
        let asynchronous = round % 2 == 0;
        let mut step = |s: StatusCode| statuses.push(s.as_u16());
        let created = send(
            Method::POST,
            "/api/v1/extensions".into(),
            Some(json!({"extension": number})),
            asynchronous,
        )
        .await;
        step(created);
        step(
            send(
                Method::PATCH,
                format!("/api/v1/extensions/{number}"),
                Some(json!({"name": format!("N {round}")})),
                asynchronous,
            )
            .await,
        );
        let did = format!("+1555{client:02}{round:03}");
        step(
            send(
                Method::POST,
                "/api/v1/inbound-routes".into(),
                Some(json!({"did": did, "extension": number})),
                asynchronous,
            )
            .await,
        );
        let route = format!("r{client}_{round}");
        step(send(Method::POST, "/api/v1/outbound-routes".into(), Some(json!({"name": route, "pattern": format!("_9{client}{round}X."), "trunk": trunk})), asynchronous).await);
        if round % 3 == 2 {
            step(
                send(
                    Method::DELETE,
                    format!("/api/v1/outbound-routes/{route}"),
                    None,
                    asynchronous,
                )
                .await,
            );
        }
        if created.is_success() {
            extensions.push(number);
        }
    }
    (extensions, trunks, statuses)
}

/// Sixteen clients write at once (creates, patches, deletes of extensions, trunks and
/// routes): writes queue instead of failing, on SQLite as on PostgreSQL, and every
/// write that was answered 2xx is in the database and in pjsip.conf afterwards.
async fn concurrent_writes_queue_instead_of_failing(backend: Backend) {
    const CLIENTS: usize = 16;
    const ROUNDS: usize = 15;
    let d = std::sync::Arc::new(TestDaemon::start(backend).await);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let d = d.clone();
            tokio::spawn(async move { mixed_writes(&d, client, ROUNDS).await })
        })
        .collect();
    let mut extensions = Vec::new();
    let mut trunks = Vec::new();
    let mut writes = 0;
    for client in clients {
        let (e, t, statuses) = client.await.expect("client task");
        writes += statuses.len();
        let failed: Vec<&u16> = statuses
            .iter()
            .filter(|s| !(200..300).contains(*s))
            .collect();
        assert!(failed.is_empty(), "writes refused: {failed:?}");
        extensions.extend(e);
        trunks.extend(t);
    }
    assert!(writes >= CLIENTS * ROUNDS * 4, "{writes} writes");
    let forced = d.admin(Method::POST, "/api/v1/applies", None).await;
    assert!(forced.status.is_success(), "{}", forced.body);
    let listed = d
        .admin(Method::GET, "/api/v1/extensions?limit=1000", None)
        .await;
    let stored: std::collections::HashSet<&str> = listed.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["extension"].as_str())
        .collect();
    let pjsip = std::fs::read_to_string(d.config_dir().join("pjsip.conf")).expect("pjsip.conf");
    for number in &extensions {
        assert!(
            stored.contains(number.as_str()),
            "extension {number} answered 2xx but is not stored"
        );
        assert!(
            pjsip.contains(&format!("; BEGIN MANAGED - Extension {number}\n")),
            "extension {number} not in pjsip.conf"
        );
    }
    for trunk in &trunks {
        assert!(
            pjsip.contains(&format!("; BEGIN MANAGED - Trunk {trunk}\n")),
            "trunk {trunk} not in pjsip.conf"
        );
    }
    assert_eq!(stored.len(), extensions.len());
    match std::sync::Arc::try_unwrap(d) {
        Ok(d) => d.stop().await,
        Err(_) => panic!("daemon still shared"),
    }
}

/// An object made unrenderable behind the API's back (written straight into the
/// database) fails alone: it keeps its last good block, every other write is still
/// written, reloaded and verified, and it recovers once fixed.
async fn a_bad_object_fails_alone(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    let first = d
        .admin(
            Method::POST,
            "/api/v1/extensions",
            Some(json!({"extension": "1002", "name": "Bob"})),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["apply"]["status"], "verified", "{}", first.body);
    let pjsip_path = d.config_dir().join("pjsip.conf");
    let good_block = managed_block(
        &std::fs::read_to_string(&pjsip_path).expect("pjsip.conf"),
        "Extension 1002",
    );

    d.db.execute("UPDATE extensions SET caller_id = '' WHERE number = '1002'")
        .await;
    let other = d
        .admin(
            Method::POST,
            "/api/v1/extensions",
            Some(json!({"extension": "1600"})),
        )
        .await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.body);
    assert_eq!(
        other.body["apply"]["status"], "verified",
        "an unrelated write is held back: {}",
        other.body
    );
    let pjsip = std::fs::read_to_string(&pjsip_path).expect("pjsip.conf");
    assert!(
        pjsip.contains("; BEGIN MANAGED - Extension 1600\n"),
        "{pjsip}"
    );
    assert_eq!(
        managed_block(&pjsip, "Extension 1002"),
        good_block,
        "the bad object keeps its last good block"
    );

    let applies = d.admin(Method::GET, "/api/v1/applies?limit=1", None).await;
    let last = &applies.body["items"][0];
    let objects = last["objects"].as_array().expect("objects");
    let bad = objects
        .iter()
        .find(|o| o["kind"] == "extension" && o["name"] == "1002")
        .expect("1002 reported");
    assert_eq!(bad["status"], "failed", "{last}");
    assert!(
        bad["detail"]
            .as_str()
            .is_some_and(|d| d.contains("caller_id")),
        "{bad}"
    );
    let good = objects
        .iter()
        .find(|o| o["kind"] == "extension" && o["name"] == "1600")
        .expect("1600 reported");
    assert_eq!(good["status"], "verified", "{last}");

    // A fresh object that cannot be rendered gets no block at all.
    d.db.execute("UPDATE extensions SET name = 'a<b' WHERE number = '1600'")
        .await;
    d.db.execute("UPDATE extensions SET caller_id = NULL WHERE number = '1002'")
        .await;
    let fixed = d
        .admin(
            Method::PATCH,
            "/api/v1/extensions/1002",
            Some(json!({"name": "Bob B"})),
        )
        .await;
    assert_eq!(fixed.status, StatusCode::OK, "{}", fixed.body);
    assert_eq!(fixed.body["apply"]["status"], "verified", "{}", fixed.body);
    let pjsip = std::fs::read_to_string(&pjsip_path).expect("pjsip.conf");
    assert!(pjsip.contains("callerid=\"Bob B\" <1002>"), "{pjsip}");
    d.stop().await;
}

fn managed_block(text: &str, id: &str) -> String {
    let begin = format!("; BEGIN MANAGED - {id}\n");
    let end = format!("; END MANAGED - {id}\n");
    let start = text
        .find(&begin)
        .unwrap_or_else(|| panic!("no block {id} in {text}"));
    let stop = text[start..]
        .find(&end)
        .unwrap_or_else(|| panic!("block {id} not closed"))
        + start;
    text[start..stop].to_owned()
}

on_both_backends!(
    concurrent_writes_queue_instead_of_failing,
    a_bad_object_fails_alone
);

/// The seed the suite's schemathesis run uses unless told otherwise.
const DEFAULT_SEED: &str = "20261206";

/// Where schemathesis is: `RAYAN_SCHEMATHESIS`, or the venv `scripts/test-deps.sh`
/// installs under the target directory.
fn schemathesis() -> std::path::PathBuf {
    let st = match std::env::var_os("RAYAN_SCHEMATHESIS") {
        Some(path) => path.into(),
        None => {
            let tmp = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
            let target = tmp
                .parent()
                .expect("CARGO_TARGET_TMPDIR is inside the target directory");
            target.join("schemathesis").join("bin").join("st")
        }
    };
    assert!(
        st.is_file(),
        "schemathesis is missing ({} not found): run scripts/test-deps.sh, or set RAYAN_SCHEMATHESIS",
        st.display()
    );
    st
}

/// schemathesis's four standard checks.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance";

/// Runs schemathesis against the daemon's document with the four standard
/// checks for at most `seconds`; panics with its report on any finding.
async fn fuzz(
    st: &std::path::Path,
    d: &TestDaemon,
    token: &str,
    operations: &[&str],
    seconds: u32,
) {
    let workdir = tempfile::tempdir().expect("tempdir");
    let mut command = tokio::process::Command::new(st);
    command
        .current_dir(workdir.path())
        .arg("run")
        .arg(format!("{}/api/v1/openapi.json", d.url))
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--checks", CHECKS])
        // One request at a time: this checks what each answer says, not how
        // concurrent writes to one object interleave.
        .args([
            "--max-time",
            &seconds.to_string(),
            "--workers",
            "1",
            "--request-timeout",
            "30",
        ])
        .args([
            "--generation-database",
            "none",
            "--no-color",
            "--output-truncate",
            "false",
        ])
        .args(operations)
        .kill_on_drop(true);
    // A fixed seed by default, so that the suite checks the same cases on every run
    // (a finding is then the change's, not the dice's); `random` explores.
    let seed = std::env::var("RAYAN_SCHEMATHESIS_SEED").unwrap_or_else(|_| DEFAULT_SEED.to_owned());
    if seed != "random" {
        command.args(["--seed", &seed]);
    }
    let output = command
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run schemathesis: {e}"));
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found answers the OpenAPI document does not allow ({}):\n{report}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        report.contains("Tested:"),
        "schemathesis tested nothing:\n{report}"
    );
}

/// Every operation, fuzzed with valid and invalid input, answers as its
/// OpenAPI document says: no 5xx, only documented status codes and content
/// types, bodies that match their schemas. `RAYAN_SCHEMATHESIS_SECONDS` gives a
/// longer run than the 100 s of the test suite; `RAYAN_SCHEMATHESIS_SEED` replays one
/// (default [`DEFAULT_SEED`]; `random` for a new one each run).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_answers_as_its_openapi_document_says() {
    // The daemon's errors go with a failure's report.
    let filter = tracing_subscriber::EnvFilter::new("rayan=error");
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
    let st = schemathesis();
    let d = TestDaemon::start(Backend::Postgres).await;
    let seconds = std::env::var("RAYAN_SCHEMATHESIS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    // Revoking tokens would revoke the one the run uses: that operation goes last,
    // with a token of its own. Restarting Asterisk takes it away for a moment, and
    // every answer that needs it is then a documented 503: its own tests cover it.
    fuzz(
        &st,
        &d,
        &d.admin_token,
        &[
            "--exclude-operation-id",
            "revoke_token",
            "--exclude-operation-id",
            "asterisk_restart",
        ],
        seconds,
    )
    .await;
    let token = d.token("admin").await;
    fuzz(
        &st,
        &d,
        &token,
        &["--include-operation-id", "revoke_token"],
        10,
    )
    .await;
    d.stop().await;
}
