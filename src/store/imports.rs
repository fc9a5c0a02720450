//! Import records: the plan and the hand-written text it replaced.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};

use super::StoreError;
use super::entities::import;

/// Records an import; returns its id.
pub async fn record(
    db: &impl ConnectionTrait,
    actor: &str,
    plan: serde_json::Value,
    originals: serde_json::Value,
) -> Result<i64, StoreError> {
    let row = import::ActiveModel {
        at: Set(Utc::now()),
        actor: Set(actor.to_owned()),
        plan: Set(plan),
        originals: Set(originals),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(row.id)
}
