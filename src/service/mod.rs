//! Use cases: what the API (and the CLI through it) can do. Handlers stay thin;
//! every rule lives here, every write is one transaction with its audit entry.

pub mod applies;
pub mod asterisk;
pub mod audit;
pub mod calls;
pub mod catalog;
pub mod click_to_call;
pub mod extensions;
mod inbound_layout;
pub mod routes;
pub mod templates;
pub mod status;
pub mod stream;
pub mod kamailio;
pub mod tokens;
pub mod trunks;
mod write;

use sea_orm::DatabaseConnection;
use serde::Serialize;
use thiserror::Error;
use utoipa::ToSchema;

use crate::ami::AmiClient;
use crate::apply::ApplyHandle;
use crate::config::Settings;
use crate::events::EventHub;
use crate::registrations::Registrations;
use crate::model::FieldErrors;
use crate::store::StoreError;

#[derive(Debug, Error)]
pub enum ServiceError {
    #[error("invalid input: {0}")]
    Validation(FieldErrors),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    Conflict(String),
    #[error("{what} is still used by {by}")]
    InUse { what: String, by: String },
    #[error("{0}")]
    Unavailable(String),
    /// A request the object's state forbids (e.g. deleting a built-in template).
    #[error("{0}")]
    Refused(String),
    /// Asterisk was reached but refused or could not do it.
    #[error("{0}")]
    Rejected(String),
    /// An optional part (Kamailio) has no settings: its routes answer 404.
    #[error("{0}")]
    NotConfigured(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ServiceError::NotFound(what),
            StoreError::Conflict(what) => ServiceError::Conflict(what),
            StoreError::InUse(what, by) => ServiceError::InUse { what, by },
            other => ServiceError::Store(other),
        }
    }
}

impl From<sea_orm::DbErr> for ServiceError {
    fn from(e: sea_orm::DbErr) -> Self {
        ServiceError::Store(StoreError::Db(e))
    }
}

impl From<FieldErrors> for ServiceError {
    fn from(e: FieldErrors) -> Self {
        ServiceError::Validation(e)
    }
}

/// A page of a listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
}

/// Paging parameters, clamped to sane bounds.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub limit: u64,
    pub offset: u64,
}

impl Paging {
    pub const DEFAULT_LIMIT: u64 = 100;
    pub const MAX_LIMIT: u64 = 1000;

    pub fn new(limit: Option<u64>, offset: Option<u64>) -> Self {
        Paging {
            limit: limit.unwrap_or(Self::DEFAULT_LIMIT).clamp(1, Self::MAX_LIMIT),
            offset: offset.unwrap_or(0),
        }
    }
}

/// Everything the use cases share. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub db: DatabaseConnection,
    pub settings: std::sync::Arc<Settings>,
    pub tokens: tokens::TokenCache,
    pub ami: AmiClient,
    pub apply: ApplyHandle,
    pub registrations: Registrations,
    pub events: EventHub,
    /// Encrypts trunk passwords at rest (`<state_dir>/secret.key`).
    pub secrets: crate::secrets::Secrets,
    /// Open event streams (WebSockets), so that shutdown can wait for them to close.
    pub streams: tokio_util::task::TaskTracker,
    write_gate: crate::store::WriteGate,
}

impl Services {
    /// Begins a write transaction; concurrent writes queue for their turn (on SQLite)
    /// instead of failing.
    pub(crate) async fn begin_write(&self) -> Result<crate::store::WriteTxn, sea_orm::DbErr> {
        self.write_gate.begin(&self.db).await
    }

    /// True when the database answers a trivial query (readiness).
    pub async fn database_answers(&self) -> bool {
        crate::store::ping(&self.db).await
    }

    pub fn new(
        db: DatabaseConnection,
        settings: std::sync::Arc<Settings>,
        ami: AmiClient,
        apply: ApplyHandle,
        registrations: Registrations,
        events: EventHub,
        secrets: crate::secrets::Secrets,
    ) -> Self {
        Services {
            write_gate: crate::store::WriteGate::for_db(&db),
            db,
            settings,
            tokens: tokens::TokenCache::default(),
            ami,
            apply,
            registrations,
            events,
            secrets,
            streams: tokio_util::task::TaskTracker::new(),
        }
    }
}
