//! Applies: waiting for the one a write triggered, listing, forcing, dry runs.

use std::collections::BTreeMap;
use std::time::Duration;

use sea_orm::DatabaseConnection;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Page, Paging, ServiceError};
use crate::apply::{ApplyHandle, ApplyReport, DryRun, Outcome};
use crate::store;

/// The apply outcome of one write, as returned with the written object.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApplyView {
    /// The apply's id (`GET /api/v1/applies/{id}`); absent while it still runs.
    pub id: Option<i64>,
    pub status: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// With `Prefer: wait-for=all`: the outcome on every other live node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<BTreeMap<String, NodeOutcome>>,
}

/// An object's outcome on one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct NodeOutcome {
    pub status: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// When that node's apply of it finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
}

impl ApplyView {
    pub fn is_pending(&self) -> bool {
        self.status == Outcome::Pending
    }

    pub(super) fn pending(detail: &str) -> Self {
        ApplyView {
            id: None,
            status: Outcome::Pending,
            detail: Some(detail.into()),
            nodes: None,
        }
    }
}

/// An apply as stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApplyRecord {
    pub id: i64,
    pub node: String,
    pub trigger: String,
    /// running, verified, failed, pending, interrupted.
    pub status: String,
    pub requested_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Null until the apply finished.
    #[schema(value_type = Option<Vec<crate::apply::FileOutcome>>)]
    pub files: Option<serde_json::Value>,
    /// Null until the apply finished.
    #[schema(value_type = Option<Vec<crate::apply::ReloadRecord>>)]
    pub reloads: Option<serde_json::Value>,
    /// Null until the apply finished.
    #[schema(value_type = Option<Vec<crate::apply::ObjectOutcome>>)]
    pub objects: Option<serde_json::Value>,
    pub detail: Option<String>,
}

impl From<store::applies::ApplyRow> for ApplyRecord {
    fn from(r: store::applies::ApplyRow) -> Self {
        ApplyRecord {
            id: r.id,
            node: r.node,
            trigger: r.trigger,
            status: r.status,
            requested_at: r.requested_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            files: r.files,
            reloads: r.reloads,
            objects: r.objects,
            detail: r.detail,
        }
    }
}

/// How the client asked a write to wait (HTTP `Prefer`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WaitPreference {
    /// At most this long for the apply; never longer than `apply.wait_ms`.
    pub limit: Option<Duration>,
    /// Also for every other live node (`wait-for=all`).
    pub all_nodes: bool,
}

tokio::task_local! {
    /// The current request's wait preference, when the client stated one.
    pub static WAIT_PREFERENCE: WaitPreference;
}

/// Applies of this node: listing them, forcing one, dry runs.
#[derive(Clone)]
pub struct ApplyService {
    db: DatabaseConnection,
    apply: ApplyHandle,
    node: String,
}

impl ApplyService {
    pub(super) fn new(db: DatabaseConnection, apply: ApplyHandle, node: String) -> Self {
        ApplyService { db, apply, node }
    }

    /// Re-renders everything and reloads both modules, whatever changed.
    pub async fn force(&self, trigger: &str) -> Result<ApplyReport, ServiceError> {
        let rx = self.apply.request(trigger, true);
        rx.await
            .map(|report| (*report).clone())
            .map_err(|_| ServiceError::Unavailable("the apply worker is not running".into()))
    }

    pub async fn dry_run(&self) -> Result<DryRun, ServiceError> {
        self.apply
            .dry_run()
            .await
            .map_err(|e| ServiceError::Unavailable(format!("dry run failed: {e}")))
    }

    pub async fn list(&self, paging: Paging) -> Result<Page<ApplyRecord>, ServiceError> {
        let (rows, total) =
            store::applies::list(&self.db, Some(&self.node), paging.limit, paging.offset).await?;
        Ok(paging.of(rows.into_iter().map(Into::into).collect(), total))
    }

    pub async fn get(&self, id: i64) -> Result<ApplyRecord, ServiceError> {
        Ok(store::applies::get(&self.db, id).await?.into())
    }
}
