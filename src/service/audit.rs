//! Reading the audit log.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Page, Paging, ServiceError};
use crate::store;
use sea_orm::DatabaseConnection;

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub token_id: Option<i64>,
    pub actor: String,
    pub action: String,
    pub object_kind: String,
    pub object_id: String,
    /// The object before the change; null for a create.
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    /// The object after the change; null for a delete.
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
}

/// The audit log: who changed what, read-only.
#[derive(Clone)]
pub struct AuditService {
    db: DatabaseConnection,
}

impl AuditService {
    pub(super) fn new(db: DatabaseConnection) -> Self {
        AuditService { db }
    }
}

impl AuditService {
    pub async fn list(&self, paging: Paging) -> Result<Page<AuditView>, ServiceError> {
        let (rows, total) = store::audit::list(&self.db, paging.limit, paging.offset).await?;
        let items = rows
            .into_iter()
            .map(|r| AuditView {
                id: r.id,
                at: r.at,
                token_id: r.token_id,
                actor: r.actor,
                action: r.action,
                object_kind: r.object_kind,
                object_id: r.object_id,
                before: r.before,
                after: r.after,
            })
            .collect();
        Ok(paging.of(items, total))
    }
}
