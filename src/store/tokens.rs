//! API tokens, stored as SHA-256 hashes. A token is a random 256-bit value, so a
//! fast hash is enough: there is nothing to brute-force.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};

use super::StoreError;
use super::entities::api_token::{self, ActiveModel, Column, Entity};

pub use api_token::Model as TokenRow;

pub async fn insert(
    db: &impl ConnectionTrait,
    name: &str,
    role: &str,
    token_hash: &str,
    prefix: &str,
    created_by: Option<i64>,
) -> Result<TokenRow, StoreError> {
    Ok(ActiveModel {
        name: Set(name.to_owned()),
        role: Set(role.to_owned()),
        token_hash: Set(token_hash.to_owned()),
        prefix: Set(prefix.to_owned()),
        created_by: Set(created_by),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// The live (not revoked) token with this hash.
pub async fn find_active_by_hash(
    db: &impl ConnectionTrait,
    token_hash: &str,
) -> Result<Option<TokenRow>, StoreError> {
    Ok(Entity::find()
        .filter(Column::TokenHash.eq(token_hash))
        .filter(Column::RevokedAt.is_null())
        .one(db)
        .await?)
}

pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<TokenRow>, StoreError> {
    Ok(Entity::find().order_by_asc(Column::Id).all(db).await?)
}

pub async fn count_active(db: &impl ConnectionTrait) -> Result<u64, StoreError> {
    Ok(Entity::find()
        .filter(Column::RevokedAt.is_null())
        .count(db)
        .await?)
}

/// Marks a token revoked; returns the row as it was before.
pub async fn revoke(db: &impl ConnectionTrait, id: i64) -> Result<TokenRow, StoreError> {
    let row = Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("token {id}")))?;
    if row.revoked_at.is_none() {
        let mut active: ActiveModel = row.clone().into();
        active.revoked_at = Set(Some(Utc::now()));
        active.update(db).await?;
    }
    Ok(row)
}

pub async fn touch(db: &impl ConnectionTrait, id: i64) -> Result<(), StoreError> {
    Entity::update_many()
        .col_expr(
            Column::LastUsedAt,
            sea_orm::sea_query::Expr::value(Utc::now()),
        )
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}
