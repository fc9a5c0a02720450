//! The audit log: who changed what, when, with before/after (secrets masked by the caller).

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryOrder, QuerySelect, Set,
};
use serde_json::Value;

use super::StoreError;
use super::entities::audit_log;

/// Who did something: a token id (None for the daemon itself) and a display name.
#[derive(Debug, Clone)]
pub struct Actor {
    pub token_id: Option<i64>,
    pub name: String,
}

impl Actor {
    pub fn system() -> Self {
        Actor {
            token_id: None,
            name: "rayand".into(),
        }
    }
}

pub struct AuditEntry<'a> {
    pub actor: &'a Actor,
    pub action: &'a str,
    pub object_kind: &'a str,
    pub object_id: &'a str,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

pub async fn record(db: &impl ConnectionTrait, entry: AuditEntry<'_>) -> Result<(), StoreError> {
    audit_log::ActiveModel {
        at: Set(Utc::now()),
        token_id: Set(entry.actor.token_id),
        actor: Set(entry.actor.name.clone()),
        action: Set(entry.action.to_owned()),
        object_kind: Set(entry.object_kind.to_owned()),
        object_id: Set(entry.object_id.to_owned()),
        before: Set(entry.before),
        after: Set(entry.after),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Records many entries in a few statements (a bulk write).
pub async fn record_all(
    db: &impl ConnectionTrait,
    entries: Vec<AuditEntry<'_>>,
) -> Result<(), StoreError> {
    let now = Utc::now();
    // 8 values a row: well inside every backend's limit on bound values.
    for chunk in entries.chunks(500) {
        let rows = chunk.iter().map(|entry| audit_log::ActiveModel {
            at: Set(now),
            token_id: Set(entry.actor.token_id),
            actor: Set(entry.actor.name.clone()),
            action: Set(entry.action.to_owned()),
            object_kind: Set(entry.object_kind.to_owned()),
            object_id: Set(entry.object_id.to_owned()),
            before: Set(entry.before.clone()),
            after: Set(entry.after.clone()),
            ..Default::default()
        });
        audit_log::Entity::insert_many(rows).exec(db).await?;
    }
    Ok(())
}

/// Newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    limit: u64,
    offset: u64,
) -> Result<(Vec<audit_log::Model>, u64), StoreError> {
    let total = audit_log::Entity::find().count(db).await?;
    let rows = audit_log::Entity::find()
        .order_by_desc(audit_log::Column::Id)
        .limit(limit)
        .offset(offset)
        .all(db)
        .await?;
    Ok((rows, total))
}
