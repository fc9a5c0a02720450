//! A fresh database per test: a new PostgreSQL database on the local server
//! (dropped afterwards), or a SQLite file in a temp dir.

use std::sync::atomic::{AtomicU32, Ordering};

use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};

/// Where the test PostgreSQL server is; the test command makes sure it runs.
pub fn postgres_admin_url() -> String {
    std::env::var("RAYAN_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Postgres => Self::postgres().await,
            Backend::Sqlite => Self::sqlite(),
        }
    }

    pub async fn postgres() -> TestDb {
        let name = format!(
            "rayan_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        let admin = postgres_admin_url();
        let conn = Database::connect(&admin)
            .await
            .expect("connect to the test PostgreSQL (is it running?)");
        conn.execute(Statement::from_string(
            DbBackend::Postgres,
            format!("CREATE DATABASE \"{name}\""),
        ))
        .await
        .expect("create test database");
        conn.close().await.ok();
        let base = admin
            .rsplit_once('/')
            .map(|(b, _)| b.to_owned())
            .unwrap_or(admin);
        TestDb {
            url: format!("{base}/{name}"),
            backend: Backend::Postgres,
            pg_name: Some(name),
            _dir: None,
        }
    }

    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("rayan.db").display()
        );
        TestDb {
            url,
            backend: Backend::Sqlite,
            pg_name: None,
            _dir: Some(dir),
        }
    }

    /// Runs raw SQL against the test database (for fault injection).
    pub async fn execute(&self, sql: &str) {
        let conn = Database::connect(&self.url).await.expect("connect");
        let backend = conn.get_database_backend();
        conn.execute(Statement::from_string(backend, sql.to_owned()))
            .await
            .expect(sql);
        conn.close().await.ok();
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop runs outside any runtime guarantee: use a private one on a thread.
        let admin = postgres_admin_url();
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(conn) = Database::connect(&admin).await {
                    let _ = conn
                        .execute(Statement::from_string(
                            DbBackend::Postgres,
                            format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
                        ))
                        .await;
                    conn.close().await.ok();
                }
            });
        })
        .join();
    }
}
