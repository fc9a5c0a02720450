//! Persistence: sea-orm entities, queries and transactions, on PostgreSQL or SQLite.

pub mod applies;
pub mod audit;
pub mod calls;
pub mod entities;
pub mod extensions;
pub mod routes;
pub mod kamailio;
pub mod snapshot;
pub mod templates;
pub mod tokens;
pub mod trunks;

#[path = "../../migrations/mod.rs"]
mod migrations;

use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, SqlErr, Statement};
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
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => StoreError::InUse(what.into(), detail.into()),
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
        .sqlx_logging(false);
    let db = Database::connect(options).await?;
    if db.get_database_backend() == DbBackend::Sqlite {
        // WAL lets readers go on during a write; busy_timeout makes writers queue
        // instead of failing with "database is locked".
        for pragma in ["PRAGMA journal_mode=WAL", "PRAGMA busy_timeout=5000", "PRAGMA foreign_keys=ON"] {
            db.execute(Statement::from_string(DbBackend::Sqlite, pragma)).await?;
        }
    }
    Ok(db)
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
