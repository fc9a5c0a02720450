//! Apply records: what each apply wrote, reloaded and verified.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use super::StoreError;
use super::entities::applies::{self, ActiveModel, Column, Entity};

pub use applies::Model as ApplyRow;

/// Opens a record for an apply that is starting now.
pub async fn begin(
    db: &impl ConnectionTrait,
    node: &str,
    trigger: &str,
    dry_run: bool,
) -> Result<ApplyRow, StoreError> {
    let now = Utc::now();
    let trigger: String = trigger.chars().take(200).collect();
    Ok(ActiveModel {
        node: Set(node.to_owned()),
        trigger: Set(trigger),
        status: Set("running".into()),
        dry_run: Set(dry_run),
        requested_at: Set(now),
        started_at: Set(Some(now)),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// The outcome of an apply, written when it ends.
pub struct Finished {
    pub status: String,
    pub files: serde_json::Value,
    pub reloads: serde_json::Value,
    pub objects: serde_json::Value,
    pub detail: Option<String>,
}

pub async fn finish(
    db: &impl ConnectionTrait,
    id: i64,
    outcome: Finished,
) -> Result<ApplyRow, StoreError> {
    let row = Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("apply {id}")))?;
    let mut active: ActiveModel = row.into();
    active.status = Set(outcome.status);
    active.files = Set(Some(outcome.files));
    active.reloads = Set(Some(outcome.reloads));
    active.objects = Set(Some(outcome.objects));
    active.detail = Set(outcome.detail);
    active.finished_at = Set(Some(Utc::now()));
    Ok(active.update(db).await?)
}

pub async fn get(db: &impl ConnectionTrait, id: i64) -> Result<ApplyRow, StoreError> {
    Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("apply {id}")))
}

/// Newest first, optionally only this node's.
pub async fn list(
    db: &impl ConnectionTrait,
    node: Option<&str>,
    limit: u64,
    offset: u64,
) -> Result<(Vec<ApplyRow>, u64), StoreError> {
    let mut query = Entity::find();
    if let Some(node) = node {
        query = query.filter(Column::Node.eq(node));
    }
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(Column::Id)
        .limit(limit)
        .offset(offset)
        .all(db)
        .await?;
    Ok((rows, total))
}

/// Marks applies a crashed daemon left `running` as interrupted.
pub async fn close_interrupted(db: &impl ConnectionTrait, node: &str) -> Result<u64, StoreError> {
    let result = Entity::update_many()
        .col_expr(
            Column::Status,
            sea_orm::sea_query::Expr::value("interrupted"),
        )
        .col_expr(
            Column::FinishedAt,
            sea_orm::sea_query::Expr::value(Utc::now()),
        )
        .filter(Column::Node.eq(node))
        .filter(Column::Status.eq("running"))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
