//! Blocked source addresses.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};

use super::StoreError;
use super::entities::blocked_address::{ActiveModel, Column, Entity, Model};
use crate::model::BlockedAddress;

fn to_model(row: Model) -> Result<BlockedAddress, StoreError> {
    Ok(BlockedAddress {
        address: row
            .address
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("blocked address {}: {e}", row.address)))?,
        reason: row.reason,
        failures: u32::try_from(row.failures).unwrap_or_default(),
        blocked_by: row.blocked_by,
        created_at: row.created_at,
        expires_at: row.expires_at,
    })
}

/// Adds the block, or renews it (a later expiry, the new reason).
pub async fn upsert<C: ConnectionTrait>(db: &C, block: &BlockedAddress) -> Result<(), StoreError> {
    let row = ActiveModel {
        address: Set(block.address.to_string()),
        reason: Set(block.reason.clone()),
        failures: Set(i32::try_from(block.failures).unwrap_or(i32::MAX)),
        blocked_by: Set(block.blocked_by.clone()),
        created_at: Set(block.created_at),
        expires_at: Set(block.expires_at),
    };
    Entity::insert(row)
        .on_conflict(
            OnConflict::column(Column::Address)
                .update_columns([
                    Column::Reason,
                    Column::Failures,
                    Column::BlockedBy,
                    Column::ExpiresAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn get<C: ConnectionTrait>(
    db: &C,
    address: std::net::IpAddr,
) -> Result<Option<BlockedAddress>, StoreError> {
    Entity::find_by_id(address.to_string())
        .one(db)
        .await?
        .map(to_model)
        .transpose()
}

/// True when it was there.
pub async fn delete<C: ConnectionTrait>(
    db: &C,
    address: std::net::IpAddr,
) -> Result<bool, StoreError> {
    let result = Entity::delete_by_id(address.to_string()).exec(db).await?;
    Ok(result.rows_affected > 0)
}

/// Every block, oldest first.
pub async fn all<C: ConnectionTrait>(db: &C) -> Result<Vec<BlockedAddress>, StoreError> {
    Entity::find()
        .order_by_asc(Column::CreatedAt)
        .order_by_asc(Column::Address)
        .all(db)
        .await?
        .into_iter()
        .map(to_model)
        .collect()
}

/// How many blocks `blocked_by` made.
pub async fn count_by<C: ConnectionTrait>(db: &C, blocked_by: &str) -> Result<u64, StoreError> {
    Ok(Entity::find()
        .filter(Column::BlockedBy.eq(blocked_by))
        .count(db)
        .await?)
}

/// Blocks whose time is up at `now`.
pub async fn expired<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
) -> Result<Vec<BlockedAddress>, StoreError> {
    Entity::find()
        .filter(Column::ExpiresAt.lte(now))
        .all(db)
        .await?
        .into_iter()
        .map(to_model)
        .collect()
}
