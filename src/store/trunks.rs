//! Trunk rows. The password column holds only what [`crate::secrets::Secrets`] made of
//! it; decrypting is left to the caller that renders.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::StoreError;
use super::entities::trunk::{self, ActiveModel, Column, Entity};
use crate::model::Trunk;
use crate::model::options::ObjectOptions;
use crate::secrets::Secrets;

/// A trunk's stored fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkRow {
    pub name: String,
    pub provider: String,
    pub username: Option<String>,
    /// `base64(nonce || ciphertext)` of the password.
    pub secret_enc: Option<String>,
    pub server: Option<String>,
    pub port: Option<u16>,
    pub did: Option<String>,
    pub context: String,
    pub codecs: Option<Vec<String>>,
    pub match_addresses: Vec<String>,
    pub enabled: bool,
    pub options: ObjectOptions,
    pub transport: Option<String>,
}

/// A trunk as stored: its row, id and timestamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTrunk {
    pub id: i64,
    pub row: TrunkRow,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl StoredTrunk {
    /// The trunk with `password` in place of the stored secret (`None`: no secret).
    pub fn to_trunk_with(&self, password: Option<String>) -> Trunk {
        let r = &self.row;
        Trunk {
            id: self.id,
            name: r.name.clone(),
            provider: r.provider.clone(),
            username: r.username.clone(),
            password,
            server: r.server.clone(),
            port: r.port,
            did: r.did.clone(),
            context: r.context.clone(),
            codecs: r.codecs.clone(),
            match_addresses: r.match_addresses.clone(),
            enabled: r.enabled,
            options: r.options.clone(),
            transport: r.transport.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    /// The trunk as the renderer needs it, its password decrypted.
    pub fn decrypt(&self, secrets: &Secrets) -> Result<Trunk, StoreError> {
        let password = match &self.row.secret_enc {
            None => None,
            Some(stored) => Some(secrets.decrypt(stored).map_err(|e| {
                StoreError::Corrupt(format!("trunk {} password: {e}", self.row.name))
            })?),
        };
        Ok(self.to_trunk_with(password))
    }
}

/// List filters; combined with AND.
#[derive(Debug, Clone, Default)]
pub struct TrunkFilter {
    pub provider: Option<String>,
    pub enabled: Option<bool>,
}

fn corrupt(name: &str, what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("trunk {name} {what}: {e}"))
}

fn from_model(m: trunk::Model) -> Result<StoredTrunk, StoreError> {
    let codecs = m
        .codecs
        .map(serde_json::from_value::<Vec<String>>)
        .transpose()
        .map_err(|e| corrupt(&m.name, "codecs", e))?;
    let match_addresses = serde_json::from_value::<Vec<String>>(m.match_addresses)
        .map_err(|e| corrupt(&m.name, "match_addresses", e))?;
    let options = m
        .options
        .map(serde_json::from_value::<ObjectOptions>)
        .transpose()
        .map_err(|e| corrupt(&m.name, "options", e))?
        .unwrap_or_default();
    let port = m
        .port
        .map(u16::try_from)
        .transpose()
        .map_err(|e| corrupt(&m.name, "port", e))?;
    Ok(StoredTrunk {
        id: m.id,
        row: TrunkRow {
            name: m.name,
            provider: m.provider,
            username: m.username,
            secret_enc: m.secret_enc,
            server: m.server,
            port,
            did: m.did,
            context: m.context,
            codecs,
            match_addresses,
            enabled: m.enabled,
            options,
            transport: m.transport,
        },
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

fn active(row: &TrunkRow) -> ActiveModel {
    ActiveModel {
        name: Set(row.name.clone()),
        provider: Set(row.provider.clone()),
        username: Set(row.username.clone()),
        secret_enc: Set(row.secret_enc.clone()),
        server: Set(row.server.clone()),
        port: Set(row.port.map(i32::from)),
        did: Set(row.did.clone()),
        context: Set(row.context.clone()),
        codecs: Set(row.codecs.as_ref().map(|c| serde_json::json!(c))),
        match_addresses: Set(serde_json::json!(row.match_addresses)),
        enabled: Set(row.enabled),
        options: Set((!row.options.is_empty()).then(|| serde_json::json!(row.options))),
        transport: Set(row.transport.clone()),
        ..Default::default()
    }
}

pub async fn insert(db: &impl ConnectionTrait, row: TrunkRow) -> Result<StoredTrunk, StoreError> {
    let now = Utc::now();
    let mut model = active(&row);
    model.created_at = Set(now);
    model.updated_at = Set(now);
    let inserted = model
        .insert(db)
        .await
        .map_err(|e| StoreError::conflict_as(e, format!("trunk {}", row.name)))?;
    from_model(inserted)
}

pub async fn find(
    db: &impl ConnectionTrait,
    name: &str,
) -> Result<Option<StoredTrunk>, StoreError> {
    Entity::find()
        .filter(Column::Name.eq(name))
        .one(db)
        .await?
        .map(from_model)
        .transpose()
}

pub async fn get(db: &impl ConnectionTrait, name: &str) -> Result<StoredTrunk, StoreError> {
    find(db, name)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("trunk {name}")))
}

pub async fn list(
    db: &impl ConnectionTrait,
    filter: &TrunkFilter,
    limit: u64,
    offset: u64,
) -> Result<(Vec<StoredTrunk>, u64), StoreError> {
    let mut cond = Condition::all();
    if let Some(provider) = &filter.provider {
        cond = cond.add(Column::Provider.eq(provider.as_str()));
    }
    if let Some(enabled) = filter.enabled {
        cond = cond.add(Column::Enabled.eq(enabled));
    }
    let query = Entity::find().filter(cond);
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_asc(Column::Name)
        .limit(limit)
        .offset(offset)
        .all(db)
        .await?;
    let items = rows.into_iter().map(from_model).collect::<Result<_, _>>()?;
    Ok((items, total))
}

/// Every trunk, by name.
pub async fn all(db: &impl ConnectionTrait) -> Result<Vec<StoredTrunk>, StoreError> {
    Entity::find()
        .order_by_asc(Column::Name)
        .all(db)
        .await?
        .into_iter()
        .map(from_model)
        .collect()
}

/// The names of the trunks with these ids.
pub async fn names(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = i64>,
) -> Result<HashMap<i64, String>, StoreError> {
    let ids: Vec<i64> = ids.into_iter().collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i64, String)> = Entity::find()
        .select_only()
        .column(Column::Id)
        .column(Column::Name)
        .filter(Column::Id.is_in(ids))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

/// The names of the trunks built from provider template `provider`.
pub async fn names_using_provider(
    db: &impl ConnectionTrait,
    provider: &str,
) -> Result<Vec<String>, StoreError> {
    Ok(Entity::find()
        .select_only()
        .column(Column::Name)
        .filter(Column::Provider.eq(provider))
        .order_by_asc(Column::Name)
        .into_tuple()
        .all(db)
        .await?)
}

/// Writes `row` over the trunk with `id`.
pub async fn update(
    db: &impl ConnectionTrait,
    stored: &StoredTrunk,
    row: TrunkRow,
) -> Result<StoredTrunk, StoreError> {
    let mut model = active(&row);
    model.id = Set(stored.id);
    model.created_at = Set(stored.created_at);
    model.updated_at = Set(Utc::now());
    from_model(model.update(db).await?)
}

pub async fn delete(
    db: &impl ConnectionTrait,
    stored: &StoredTrunk,
    referenced_by: impl FnOnce() -> String,
) -> Result<(), StoreError> {
    Entity::delete_by_id(stored.id)
        .exec(db)
        .await
        .map_err(|e| {
            StoreError::in_use_as(e, format!("trunk {}", stored.row.name), referenced_by())
        })?;
    Ok(())
}
