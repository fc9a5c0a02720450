//! Requests that fail halfway leave nothing half-written, and the daemon keeps
//! working once the database is back.

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
