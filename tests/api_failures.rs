//! Requests that fail halfway leave nothing half-written, the daemon keeps
//! working once the database is back, and hostile requests (schemathesis over
//! the whole OpenAPI document) get the answers the document promises.

mod support;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement, TransactionTrait};
use serde_json::json;
use support::daemon::TestDaemon;
use support::db::Backend;

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

    let failed = d.admin(Method::POST, "/api/v1/extensions", Some(json!({"extension": "1999", "name": "Half"}))).await;
    failed.assert_problem(StatusCode::INTERNAL_SERVER_ERROR, None);
    d.admin(Method::GET, "/api/v1/extensions/1999", None).await.assert_problem(StatusCode::NOT_FOUND, None);

    d.db.execute("DROP TRIGGER refuse_audit ON audit_log").await;
    let retried = d.admin(Method::POST, "/api/v1/extensions", Some(json!({"extension": "1999", "name": "Half"}))).await;
    assert_eq!(retried.status, StatusCode::CREATED, "{}", retried.body);
    d.stop().await;
}

/// The database connection dies while a write is in flight (as when PostgreSQL
/// is stopped): the write is either fully there or fully absent, matching what
/// the client was told, earlier writes are intact, and later writes succeed.
#[tokio::test]
async fn the_database_going_away_mid_request_loses_nothing() {
    let d = TestDaemon::start(Backend::Postgres).await;
    let first = d.admin(Method::POST, "/api/v1/extensions", Some(json!({"extension": "1000"}))).await;
    assert_eq!(first.status, StatusCode::CREATED);

    // Hold a lock so the next write blocks inside its transaction.
    let blocker = Database::connect(&d.db.url).await.unwrap();
    let txn = blocker.begin().await.unwrap();
    txn.execute(Statement::from_string(DbBackend::Postgres, "LOCK TABLE extensions IN ACCESS EXCLUSIVE MODE".to_owned()))
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
        support::daemon::Response::read(resp).await
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
        StatusCode::CREATED => assert_eq!(stored.status, StatusCode::OK, "told created but not stored"),
        status => {
            assert!(status.is_server_error(), "unexpected {status}: {}", answer.body);
            assert_eq!(answer.content_type, "application/problem+json");
            assert_eq!(stored.status, StatusCode::NOT_FOUND, "told failed but stored");
        }
    }
    let audit = d.admin(Method::GET, "/api/v1/audit", None).await;
    let audited_1001 = audit.body["items"].as_array().unwrap().iter().any(|e| e["object_id"] == "1001");
    assert_eq!(audited_1001, stored.status == StatusCode::OK, "extension and audit entry go together");

    assert_eq!(d.admin(Method::GET, "/api/v1/extensions/1000", None).await.status, StatusCode::OK);
    let after = d.admin(Method::POST, "/api/v1/extensions", Some(json!({"extension": "1002"}))).await;
    assert_eq!(after.status, StatusCode::CREATED, "the daemon recovers: {}", after.body);
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

    let settings = support::daemon::test_settings(d.state_dir.parent().unwrap(), &d.db.url);
    let err = rayan::daemon::Daemon::start(settings).await.err().expect("second daemon must refuse");
    let text = err.to_string();
    assert!(text.contains("another rayand") && text.contains(&format!("pid {}", std::process::id())), "{text}");

    // Stop the first daemon; a restart on the same state keeps the token.
    let token_before = std::fs::read_to_string(&path).unwrap();
    let dir = d.state_dir.parent().unwrap().to_owned();
    let db_url = d.db.url.clone();
    let mut d = d;
    d.daemon.take().unwrap().stop().await.unwrap();
    let restarted = rayan::daemon::Daemon::start(support::daemon::test_settings(&dir, &db_url)).await.unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), token_before);
    restarted.stop().await.unwrap();
}

/// Where schemathesis is: `RAYAN_SCHEMATHESIS`, or the venv `scripts/test-deps.sh`
/// installs under the target directory.
fn schemathesis() -> std::path::PathBuf {
    let st = match std::env::var_os("RAYAN_SCHEMATHESIS") {
        Some(path) => path.into(),
        None => {
            let tmp = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
            let target = tmp.parent().expect("CARGO_TARGET_TMPDIR is inside the target directory");
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
const CHECKS: &str =
    "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance";

/// Runs schemathesis against the daemon's document with the four standard
/// checks for at most `seconds`; panics with its report on any finding.
async fn fuzz(st: &std::path::Path, d: &TestDaemon, token: &str, operations: &[&str], seconds: u32) {
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
        .args(["--max-time", &seconds.to_string(), "--workers", "1", "--request-timeout", "30"])
        .args(["--generation-database", "none", "--no-color", "--output-truncate", "false"])
        .args(operations)
        .kill_on_drop(true);
    if let Ok(seed) = std::env::var("RAYAN_SCHEMATHESIS_SEED") {
        command.args(["--seed", &seed]);
    }
    let output = command.output().await.unwrap_or_else(|e| panic!("cannot run schemathesis: {e}"));
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found answers the OpenAPI document does not allow ({}):\n{report}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains("Tested:"), "schemathesis tested nothing:\n{report}");
}

/// Every operation, fuzzed with valid and invalid input, answers as its
/// OpenAPI document says: no 5xx, only documented status codes and content
/// types, bodies that match their schemas. `RAYAN_SCHEMATHESIS_SECONDS` gives a
/// longer run than the 100 s of the test suite; `RAYAN_SCHEMATHESIS_SEED` replays one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_answers_as_its_openapi_document_says() {
    // The daemon's errors go with a failure's report.
    let filter = tracing_subscriber::EnvFilter::new("rayan=error");
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    let st = schemathesis();
    let d = TestDaemon::start(Backend::Postgres).await;
    let seconds = std::env::var("RAYAN_SCHEMATHESIS_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(100);
    // Revoking tokens would revoke the one the run uses: that operation goes last,
    // with a token of its own.
    fuzz(&st, &d, &d.admin_token, &["--exclude-operation-id", "revoke_token"], seconds).await;
    let token = d.token("admin").await;
    fuzz(&st, &d, &token, &["--include-operation-id", "revoke_token"], 10).await;
    d.stop().await;
}
