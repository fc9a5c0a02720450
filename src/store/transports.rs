//! Transport rows.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use super::StoreError;
use super::entities::transport::{self, ActiveModel, Column, Entity};
use super::entities::{extension, trunk};
use crate::model::transport::TlsSettings;
use crate::model::{Transport, TransportProtocol};

fn to_model(row: transport::Model) -> Result<Transport, StoreError> {
    let corrupt = |what: &str, e: &dyn std::fmt::Display| {
        StoreError::Corrupt(format!("transport {} {what}: {e}", row.name))
    };
    let protocol = TransportProtocol::parse(&row.protocol)
        .ok_or_else(|| corrupt("protocol", &row.protocol))?;
    let bind = row.bind.parse().map_err(|e| corrupt("bind", &e))?;
    let local_net: Vec<String> =
        serde_json::from_value(row.local_net.clone()).map_err(|e| corrupt("local_net", &e))?;
    let tls: TlsSettings = match &row.tls {
        None => TlsSettings::default(),
        Some(value) => serde_json::from_value(value.clone()).map_err(|e| corrupt("tls", &e))?,
    };
    let port = |p: Option<i32>, what: &str| {
        p.map(|p| u16::try_from(p).map_err(|e| corrupt(what, &e)))
            .transpose()
    };
    Ok(Transport {
        id: row.id,
        protocol,
        bind,
        port: port(row.port, "port")?,
        external_signaling_port: port(row.external_signaling_port, "external_signaling_port")?,
        local_net,
        tls,
        cos: row
            .cos
            .map(|c| u8::try_from(c).map_err(|e| corrupt("cos", &e)))
            .transpose()?,
        name: row.name,
        external_media_address: row.external_media_address,
        external_signaling_address: row.external_signaling_address,
        tos: row.tos,
        allow_reload: row.allow_reload,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn active(t: &Transport) -> ActiveModel {
    ActiveModel {
        name: Set(t.name.clone()),
        protocol: Set(t.protocol.as_str().to_owned()),
        bind: Set(t.bind.to_string()),
        port: Set(t.port.map(i32::from)),
        external_media_address: Set(t.external_media_address.clone()),
        external_signaling_address: Set(t.external_signaling_address.clone()),
        external_signaling_port: Set(t.external_signaling_port.map(i32::from)),
        local_net: Set(serde_json::json!(t.local_net)),
        tos: Set(t.tos.clone()),
        cos: Set(t.cos.map(i32::from)),
        tls: Set((!t.tls.is_empty()).then(|| serde_json::json!(t.tls))),
        allow_reload: Set(t.allow_reload),
        created_at: Set(t.created_at),
        updated_at: Set(t.updated_at),
        ..Default::default()
    }
}

pub async fn insert(db: &impl ConnectionTrait, t: &Transport) -> Result<Transport, StoreError> {
    let model = active(t)
        .insert(db)
        .await
        .map_err(|e| StoreError::conflict_as(e, format!("transport {}", t.name)))?;
    to_model(model)
}

pub async fn find(db: &impl ConnectionTrait, name: &str) -> Result<Option<Transport>, StoreError> {
    Entity::find()
        .filter(Column::Name.eq(name))
        .one(db)
        .await?
        .map(to_model)
        .transpose()
}

pub async fn get(db: &impl ConnectionTrait, name: &str) -> Result<Transport, StoreError> {
    find(db, name)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("transport {name}")))
}

pub async fn list(
    db: &impl ConnectionTrait,
    limit: u64,
    offset: u64,
) -> Result<(Vec<Transport>, u64), StoreError> {
    let total = Entity::find().count(db).await?;
    let rows = Entity::find()
        .order_by_asc(Column::Name)
        .limit(limit)
        .offset(offset)
        .all(db)
        .await?;
    let items = rows.into_iter().map(to_model).collect::<Result<_, _>>()?;
    Ok((items, total))
}

/// Every transport, for rendering and clash checks.
pub async fn all(db: &impl ConnectionTrait) -> Result<Vec<Transport>, StoreError> {
    Entity::find()
        .order_by_asc(Column::Name)
        .all(db)
        .await?
        .into_iter()
        .map(to_model)
        .collect()
}

/// Writes every field of `t` (already merged with the patch) back.
pub async fn update(db: &impl ConnectionTrait, t: &Transport) -> Result<Transport, StoreError> {
    let mut model = active(t);
    model.id = Set(t.id);
    model.updated_at = Set(Utc::now());
    to_model(model.update(db).await?)
}

pub async fn delete(db: &impl ConnectionTrait, t: &Transport) -> Result<(), StoreError> {
    Entity::delete_by_id(t.id).exec(db).await?;
    Ok(())
}

/// The extensions and trunks that name `name` as their transport.
pub async fn named_by(
    db: &impl ConnectionTrait,
    name: &str,
) -> Result<(Vec<String>, Vec<String>), StoreError> {
    let extensions: Vec<String> = extension::Entity::find()
        .select_only()
        .column(extension::Column::Number)
        .filter(extension::Column::Transport.eq(name))
        .order_by_asc(extension::Column::Number)
        .into_tuple()
        .all(db)
        .await?;
    let trunks: Vec<String> = trunk::Entity::find()
        .select_only()
        .column(trunk::Column::Name)
        .filter(trunk::Column::Transport.eq(name))
        .order_by_asc(trunk::Column::Name)
        .into_tuple()
        .all(db)
        .await?;
    Ok((extensions, trunks))
}

/// The webrtc extensions that name `name` as their transport.
pub async fn webrtc_extensions_naming(
    db: &impl ConnectionTrait,
    name: &str,
) -> Result<Vec<String>, StoreError> {
    Ok(extension::Entity::find()
        .select_only()
        .column(extension::Column::Number)
        .filter(extension::Column::Transport.eq(name))
        .filter(extension::Column::Template.eq(WEBRTC_TEMPLATE))
        .order_by_asc(extension::Column::Number)
        .into_tuple()
        .all(db)
        .await?)
}

/// The extensions and trunks without a transport of their own that use the UDP
/// default (`udp`: every trunk, every extension but webrtc ones) or the WSS
/// default (`wss`: webrtc extensions).
pub async fn using_default(
    db: &impl ConnectionTrait,
    udp: bool,
    wss: bool,
) -> Result<(Vec<String>, Vec<String>), StoreError> {
    let mut template = sea_orm::Condition::any();
    if udp {
        template = template.add(extension::Column::Template.ne(WEBRTC_TEMPLATE));
    }
    if wss {
        template = template.add(extension::Column::Template.eq(WEBRTC_TEMPLATE));
    }
    let extensions: Vec<String> = extension::Entity::find()
        .select_only()
        .column(extension::Column::Number)
        .filter(extension::Column::Transport.is_null())
        .filter(template)
        .order_by_asc(extension::Column::Number)
        .limit(100)
        .into_tuple()
        .all(db)
        .await?;
    let trunks: Vec<String> = if udp {
        trunk::Entity::find()
            .select_only()
            .column(trunk::Column::Name)
            .filter(trunk::Column::Transport.is_null())
            .order_by_asc(trunk::Column::Name)
            .limit(100)
            .into_tuple()
            .all(db)
            .await?
    } else {
        Vec::new()
    };
    Ok((extensions, trunks))
}

/// The built-in template whose phones use the WSS transport.
const WEBRTC_TEMPLATE: &str = "webrtc";
