//! Persistence: sea-orm entities, queries and transactions, on PostgreSQL or SQLite.

pub mod applies;
pub mod audit;
pub mod blocks;
pub mod calls;
pub mod cluster;
pub mod entities;
pub mod extensions;
pub mod imports;
pub mod kamailio;
pub mod routes;
pub mod snapshot;
pub mod templates;
pub mod tokens;
pub mod transports;
pub mod trunks;

#[path = "../../migrations/mod.rs"]
mod migrations;

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, SqlErr, Statement, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use thiserror::Error;

pub use sea_orm::DatabaseConnection as Db;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("{0} already exists")]
    Conflict(String),
    #[error("{0} is still referenced: {1}")]
    InUse(String, String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Db(#[from] DbErr),
}

impl StoreError {
    /// Maps a unique-constraint violation to `Conflict(what)`, keeps other errors.
    pub fn conflict_as(err: DbErr, what: impl Into<String>) -> StoreError {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict(what.into()),
            _ => StoreError::Db(err),
        }
    }

    /// Maps a foreign-key violation to `InUse(what, detail)`, keeps other errors.
    pub fn in_use_as(err: DbErr, what: impl Into<String>, detail: impl Into<String>) -> StoreError {
        match err.sql_err() {
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => {
                StoreError::InUse(what.into(), detail.into())
            }
            _ => StoreError::Db(err),
        }
    }
}

/// Opens the database and applies pending migrations.
pub async fn connect(url: &str) -> Result<DatabaseConnection, StoreError> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(if url.starts_with("sqlite") { 4 } else { 16 })
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        // Set on every connection of the pool, not just the first: WAL lets readers go
        // on during a write, busy_timeout makes a single statement wait for the write
        // lock instead of failing with "database is locked". A transaction that reads
        // first and writes later cannot wait that way (SQLite refuses the upgrade at
        // once), which is why write transactions also queue in `WriteGate`.
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true)
        });
    Ok(Database::connect(options).await?)
}

const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Lets write transactions queue instead of failing. On SQLite only one write
/// transaction can run at a time, and one that started by reading fails with
/// `database is locked` when another commits first; so on SQLite they take turns
/// here (one process owns a SQLite file, see the state lock). PostgreSQL runs them
/// side by side.
#[derive(Clone, Debug)]
pub struct WriteGate(Option<Arc<tokio::sync::Mutex<()>>>);

/// A write transaction and, on SQLite, its turn; both end when it is dropped.
pub struct WriteTxn {
    pub txn: DatabaseTransaction,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteGate {
    pub fn for_db(db: &DatabaseConnection) -> Self {
        WriteGate(
            (db.get_database_backend() == DbBackend::Sqlite)
                .then(|| Arc::new(tokio::sync::Mutex::new(()))),
        )
    }

    /// Begins a write transaction once it is this caller's turn.
    pub async fn begin(&self, db: &DatabaseConnection) -> Result<WriteTxn, DbErr> {
        let turn = match &self.0 {
            Some(gate) => Some(gate.clone().lock_owned().await),
            None => None,
        };
        let txn = db.begin().await?;
        if turn.is_some() {
            // Take SQLite's write lock before the first read (what BEGIN IMMEDIATE
            // does): a statement that writes nothing still takes it, and waits for it
            // under busy_timeout, so a write by another connection in between (an apply
            // record) cannot make this transaction's later write fail.
            txn.execute(Statement::from_string(
                DbBackend::Sqlite,
                "UPDATE seaql_migrations SET version = version WHERE 0",
            ))
            .await?;
        }
        Ok(WriteTxn { txn, _turn: turn })
    }
}

impl WriteTxn {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }
}

impl std::ops::Deref for WriteTxn {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), StoreError> {
    migrations::Migrator::up(db, None).await?;
    Ok(())
}

/// True when the database answers a trivial query.
pub async fn ping(db: &DatabaseConnection) -> bool {
    db.ping().await.is_ok()
}
