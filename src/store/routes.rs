//! Inbound and outbound route rows. Rows hold trunk and extension ids; what leaves this
//! module carries their names, as the renderer and the API use them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::StoreError;
use super::entities::{extension, inbound_route, outbound_route};
use crate::model::{InboundRoute, OutboundRoute};

/// An outbound route's stored fields, with its trunk by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRow {
    pub name: String,
    pub pattern: String,
    pub trunk_id: i64,
    pub strip: u32,
    pub prepend: String,
    pub priority: i32,
    pub context: String,
}

/// An inbound route's stored fields, with its trunk and extension by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundRow {
    pub did: String,
    pub trunk_id: Option<i64>,
    pub extension_id: i64,
}

/// A route as stored: the renderer's view of it (names resolved) and its timestamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored<T> {
    pub route: T,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// List filters; combined with AND.
#[derive(Debug, Clone, Default)]
pub struct RouteFilter {
    pub trunk_id: Option<i64>,
    pub extension_id: Option<i64>,
    pub context: Option<String>,
}

async fn extension_numbers(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = i64>,
) -> Result<HashMap<i64, String>, StoreError> {
    let ids: Vec<i64> = ids.into_iter().collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i64, String)> = extension::Entity::find()
        .select_only()
        .column(extension::Column::Id)
        .column(extension::Column::Number)
        .filter(extension::Column::Id.is_in(ids))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

fn resolve(
    map: &HashMap<i64, String>,
    id: i64,
    what: &str,
    route: &str,
) -> Result<String, StoreError> {
    map.get(&id).cloned().ok_or_else(|| {
        StoreError::Corrupt(format!(
            "{route} names {what} id {id}, which does not exist"
        ))
    })
}

async fn outbound_models(
    db: &impl ConnectionTrait,
    rows: Vec<outbound_route::Model>,
) -> Result<Vec<Stored<OutboundRoute>>, StoreError> {
    let trunks = super::trunks::names(db, rows.iter().map(|r| r.trunk_id)).await?;
    rows.into_iter()
        .map(|r| {
            let object = format!("outbound route {}", r.name);
            Ok(Stored {
                route: OutboundRoute {
                    id: r.id,
                    trunk: resolve(&trunks, r.trunk_id, "trunk", &object)?,
                    strip: u32::try_from(r.strip)
                        .map_err(|e| StoreError::Corrupt(format!("{object} strip: {e}")))?,
                    name: r.name,
                    pattern: r.pattern,
                    prepend: r.prepend,
                    priority: r.priority,
                    context: r.context,
                },
                created_at: r.created_at,
                updated_at: r.updated_at,
            })
        })
        .collect()
}

async fn inbound_models(
    db: &impl ConnectionTrait,
    rows: Vec<inbound_route::Model>,
) -> Result<Vec<Stored<InboundRoute>>, StoreError> {
    let trunks = super::trunks::names(db, rows.iter().filter_map(|r| r.trunk_id)).await?;
    let extensions = extension_numbers(db, rows.iter().map(|r| r.extension_id)).await?;
    rows.into_iter()
        .map(|r| {
            let object = format!("inbound route {}", r.id);
            Ok(Stored {
                route: InboundRoute {
                    id: r.id,
                    trunk: r
                        .trunk_id
                        .map(|id| resolve(&trunks, id, "trunk", &object))
                        .transpose()?,
                    extension: resolve(&extensions, r.extension_id, "extension", &object)?,
                    did: r.did,
                },
                created_at: r.created_at,
                updated_at: r.updated_at,
            })
        })
        .collect()
}

fn one<T>(items: Vec<Stored<T>>) -> Result<Stored<T>, StoreError> {
    items
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::Corrupt("a written route could not be read back".into()))
}

fn outbound_active(row: &OutboundRow) -> outbound_route::ActiveModel {
    outbound_route::ActiveModel {
        name: Set(row.name.clone()),
        pattern: Set(row.pattern.clone()),
        trunk_id: Set(row.trunk_id),
        strip: Set(i32::try_from(row.strip).unwrap_or(i32::MAX)),
        prepend: Set(row.prepend.clone()),
        priority: Set(row.priority),
        context: Set(row.context.clone()),
        ..Default::default()
    }
}

pub async fn insert_outbound(
    db: &impl ConnectionTrait,
    row: OutboundRow,
) -> Result<Stored<OutboundRoute>, StoreError> {
    let now = Utc::now();
    let mut model = outbound_active(&row);
    model.created_at = Set(now);
    model.updated_at = Set(now);
    let inserted = model
        .insert(db)
        .await
        .map_err(|e| StoreError::conflict_as(e, format!("outbound route {}", row.name)))?;
    one(outbound_models(db, vec![inserted]).await?)
}

pub async fn find_outbound(
    db: &impl ConnectionTrait,
    name: &str,
) -> Result<Option<Stored<OutboundRoute>>, StoreError> {
    let rows = outbound_route::Entity::find()
        .filter(outbound_route::Column::Name.eq(name))
        .all(db)
        .await?;
    Ok(outbound_models(db, rows).await?.into_iter().next())
}

pub async fn get_outbound(
    db: &impl ConnectionTrait,
    name: &str,
) -> Result<Stored<OutboundRoute>, StoreError> {
    find_outbound(db, name)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("outbound route {name}")))
}

/// Outbound routes by priority, then name.
pub async fn list_outbound(
    db: &impl ConnectionTrait,
    filter: &RouteFilter,
    limit: u64,
    offset: u64,
) -> Result<(Vec<Stored<OutboundRoute>>, u64), StoreError> {
    let mut cond = Condition::all();
    if let Some(trunk_id) = filter.trunk_id {
        cond = cond.add(outbound_route::Column::TrunkId.eq(trunk_id));
    }
    if let Some(context) = &filter.context {
        cond = cond.add(outbound_route::Column::Context.eq(context.as_str()));
    }
    let query = outbound_route::Entity::find().filter(cond);
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_asc(outbound_route::Column::Priority)
        .order_by_asc(outbound_route::Column::Name)
        .limit(limit)
        .offset(offset)
        .all(db)
        .await?;
    Ok((outbound_models(db, rows).await?, total))
}

/// Every outbound route, for rendering.
pub async fn all_outbound(db: &impl ConnectionTrait) -> Result<Vec<OutboundRoute>, StoreError> {
    let rows = outbound_route::Entity::find()
        .order_by_asc(outbound_route::Column::Name)
        .all(db)
        .await?;
    Ok(outbound_models(db, rows)
        .await?
        .into_iter()
        .map(|s| s.route)
        .collect())
}

pub async fn update_outbound(
    db: &impl ConnectionTrait,
    stored: &Stored<OutboundRoute>,
    row: OutboundRow,
) -> Result<Stored<OutboundRoute>, StoreError> {
    let mut model = outbound_active(&row);
    model.id = Set(stored.route.id);
    model.created_at = Set(stored.created_at);
    model.updated_at = Set(Utc::now());
    let updated = model.update(db).await?;
    one(outbound_models(db, vec![updated]).await?)
}

pub async fn delete_outbound(db: &impl ConnectionTrait, id: i64) -> Result<(), StoreError> {
    outbound_route::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

fn inbound_active(row: &InboundRow) -> inbound_route::ActiveModel {
    inbound_route::ActiveModel {
        did: Set(row.did.clone()),
        trunk_id: Set(row.trunk_id),
        extension_id: Set(row.extension_id),
        ..Default::default()
    }
}

pub async fn insert_inbound(
    db: &impl ConnectionTrait,
    row: InboundRow,
) -> Result<Stored<InboundRoute>, StoreError> {
    let now = Utc::now();
    let mut model = inbound_active(&row);
    model.created_at = Set(now);
    model.updated_at = Set(now);
    let inserted = model
        .insert(db)
        .await
        .map_err(|e| StoreError::conflict_as(e, format!("an inbound route for {}", row.did)))?;
    one(inbound_models(db, vec![inserted]).await?)
}

pub async fn get_inbound(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<Stored<InboundRoute>, StoreError> {
    let rows = inbound_route::Entity::find_by_id(id).all(db).await?;
    inbound_models(db, rows)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::NotFound(format!("inbound route {id}")))
}

/// Inbound routes by DID, then id.
pub async fn list_inbound(
    db: &impl ConnectionTrait,
    filter: &RouteFilter,
    limit: u64,
    offset: u64,
) -> Result<(Vec<Stored<InboundRoute>>, u64), StoreError> {
    let mut cond = Condition::all();
    if let Some(trunk_id) = filter.trunk_id {
        cond = cond.add(inbound_route::Column::TrunkId.eq(trunk_id));
    }
    if let Some(extension_id) = filter.extension_id {
        cond = cond.add(inbound_route::Column::ExtensionId.eq(extension_id));
    }
    let query = inbound_route::Entity::find().filter(cond);
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_asc(inbound_route::Column::Did)
        .order_by_asc(inbound_route::Column::Id)
        .limit(limit)
        .offset(offset)
        .all(db)
        .await?;
    Ok((inbound_models(db, rows).await?, total))
}

/// Every inbound route, for rendering and for the dialplan checks.
pub async fn all_inbound(db: &impl ConnectionTrait) -> Result<Vec<InboundRoute>, StoreError> {
    let rows = inbound_route::Entity::find()
        .order_by_asc(inbound_route::Column::Did)
        .order_by_asc(inbound_route::Column::Id)
        .all(db)
        .await?;
    Ok(inbound_models(db, rows)
        .await?
        .into_iter()
        .map(|s| s.route)
        .collect())
}

pub async fn update_inbound(
    db: &impl ConnectionTrait,
    stored: &Stored<InboundRoute>,
    row: InboundRow,
) -> Result<Stored<InboundRoute>, StoreError> {
    let did = row.did.clone();
    let mut model = inbound_active(&row);
    model.id = Set(stored.route.id);
    model.created_at = Set(stored.created_at);
    model.updated_at = Set(Utc::now());
    let updated = model
        .update(db)
        .await
        .map_err(|e| StoreError::conflict_as(e, format!("an inbound route for {did}")))?;
    one(inbound_models(db, vec![updated]).await?)
}

pub async fn delete_inbound(db: &impl ConnectionTrait, id: i64) -> Result<(), StoreError> {
    inbound_route::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

/// The routes that use the trunk with `trunk_id`, described for an error message.
pub async fn using_trunk(
    db: &impl ConnectionTrait,
    trunk_id: i64,
) -> Result<Vec<String>, StoreError> {
    let outbound: Vec<String> = outbound_route::Entity::find()
        .select_only()
        .column(outbound_route::Column::Name)
        .filter(outbound_route::Column::TrunkId.eq(trunk_id))
        .order_by_asc(outbound_route::Column::Name)
        .into_tuple()
        .all(db)
        .await?;
    let inbound: Vec<(i64, String)> = inbound_route::Entity::find()
        .select_only()
        .column(inbound_route::Column::Id)
        .column(inbound_route::Column::Did)
        .filter(inbound_route::Column::TrunkId.eq(trunk_id))
        .order_by_asc(inbound_route::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    Ok(outbound
        .into_iter()
        .map(|name| format!("outbound route {name}"))
        .chain(
            inbound
                .into_iter()
                .map(|(id, did)| format!("inbound route {id} ({did})")),
        )
        .collect())
}

/// The inbound routes that ring the extension with `extension_id`, described for an
/// error message.
pub async fn using_extension(
    db: &impl ConnectionTrait,
    extension_id: i64,
) -> Result<Vec<String>, StoreError> {
    let inbound: Vec<(i64, String)> = inbound_route::Entity::find()
        .select_only()
        .column(inbound_route::Column::Id)
        .column(inbound_route::Column::Did)
        .filter(inbound_route::Column::ExtensionId.eq(extension_id))
        .order_by_asc(inbound_route::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    Ok(inbound
        .into_iter()
        .map(|(id, did)| format!("inbound route {id} ({did})"))
        .collect())
}

/// The id of the extension with `number`.
pub async fn extension_id(
    db: &impl ConnectionTrait,
    number: &str,
) -> Result<Option<i64>, StoreError> {
    Ok(extension::Entity::find()
        .select_only()
        .column(extension::Column::Id)
        .filter(extension::Column::Number.eq(number))
        .into_tuple()
        .one(db)
        .await?)
}
