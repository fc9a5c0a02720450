//! Extension rows.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::StoreError;
use super::entities::extension::{self, ActiveModel, Column, Entity};
use crate::model::options::ObjectOptions;
use crate::model::{Extension, ExtensionAuth};

/// Everything needed to insert an extension.
pub struct ExtensionRow {
    pub number: String,
    pub name: Option<String>,
    pub template: String,
    pub context: String,
    pub codecs: Option<Vec<String>>,
    pub max_contacts: Option<u32>,
    pub caller_id: Option<String>,
    pub enabled: bool,
    pub auth: ExtensionAuth,
    pub options: ObjectOptions,
    pub transport: Option<String>,
}

/// List filters; all optional, combined with AND.
#[derive(Debug, Clone, Default)]
pub struct ExtensionFilter {
    pub context: Option<String>,
    pub template: Option<String>,
    pub enabled: Option<bool>,
    /// Number prefix or case-insensitive substring of the name.
    pub search: Option<String>,
}

fn to_model(row: extension::Model) -> Result<Extension, StoreError> {
    let codecs =
        match row.codecs {
            None => None,
            Some(value) => Some(serde_json::from_value::<Vec<String>>(value).map_err(|e| {
                StoreError::Corrupt(format!("extension {} codecs: {e}", row.number))
            })?),
        };
    let options = match row.options {
        None => ObjectOptions::default(),
        Some(value) => serde_json::from_value(value)
            .map_err(|e| StoreError::Corrupt(format!("extension {} options: {e}", row.number)))?,
    };
    Ok(Extension {
        options,
        transport: row.transport,
        id: row.id,
        number: row.number,
        name: row.name,
        template: row.template,
        context: row.context,
        codecs,
        max_contacts: row.max_contacts.map(|n| n.max(0) as u32),
        caller_id: row.caller_id,
        enabled: row.enabled,
        auth: ExtensionAuth {
            realm: row.auth_realm,
            md5_cred: row.md5_cred,
        },
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn codecs_json(codecs: &Option<Vec<String>>) -> Option<serde_json::Value> {
    codecs.as_ref().map(|c| serde_json::json!(c))
}

fn options_json(options: &ObjectOptions) -> Option<serde_json::Value> {
    (!options.is_empty()).then(|| serde_json::json!(options))
}

/// A new row, created and updated `now`.
fn active_row(row: &ExtensionRow, now: chrono::DateTime<Utc>) -> ActiveModel {
    ActiveModel {
        number: Set(row.number.clone()),
        name: Set(row.name.clone()),
        template: Set(row.template.clone()),
        context: Set(row.context.clone()),
        codecs: Set(codecs_json(&row.codecs)),
        max_contacts: Set(row.max_contacts.map(|n| n as i32)),
        caller_id: Set(row.caller_id.clone()),
        enabled: Set(row.enabled),
        auth_realm: Set(row.auth.realm.clone()),
        md5_cred: Set(row.auth.md5_cred.clone()),
        options: Set(options_json(&row.options)),
        transport: Set(row.transport.clone()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

pub async fn insert(db: &impl ConnectionTrait, row: ExtensionRow) -> Result<Extension, StoreError> {
    let number = row.number.clone();
    let model = active_row(&row, Utc::now())
        .insert(db)
        .await
        .map_err(|e| StoreError::conflict_as(e, format!("extension {number}")))?;
    to_model(model)
}

/// Inserts many rows in a few statements; returns them as stored, in number order.
pub async fn insert_all(
    db: &impl ConnectionTrait,
    rows: Vec<ExtensionRow>,
) -> Result<Vec<Extension>, StoreError> {
    let now = Utc::now();
    let numbers: Vec<String> = rows.iter().map(|r| r.number.clone()).collect();
    // 14 values a row: well inside every backend's limit on bound values.
    for chunk in rows.chunks(500) {
        let models = chunk.iter().map(|row| active_row(row, now));
        Entity::insert_many(models)
            .exec(db)
            .await
            .map_err(|e| StoreError::conflict_as(e, "an extension of the batch"))?;
    }
    let mut stored = Vec::with_capacity(numbers.len());
    for chunk in numbers.chunks(500) {
        let found = Entity::find()
            .filter(Column::Number.is_in(chunk.iter().cloned()))
            .order_by_asc(Column::Number)
            .all(db)
            .await?;
        for row in found {
            stored.push(to_model(row)?);
        }
    }
    Ok(stored)
}

/// Which of `numbers` are taken already.
pub async fn existing_numbers(
    db: &impl ConnectionTrait,
    numbers: &[String],
) -> Result<std::collections::HashSet<String>, StoreError> {
    let mut taken = std::collections::HashSet::new();
    for chunk in numbers.chunks(500) {
        let found: Vec<String> = Entity::find()
            .select_only()
            .column(Column::Number)
            .filter(Column::Number.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(db)
            .await?;
        taken.extend(found);
    }
    Ok(taken)
}

pub async fn find(
    db: &impl ConnectionTrait,
    number: &str,
) -> Result<Option<Extension>, StoreError> {
    Entity::find()
        .filter(Column::Number.eq(number))
        .one(db)
        .await?
        .map(to_model)
        .transpose()
}

pub async fn get(db: &impl ConnectionTrait, number: &str) -> Result<Extension, StoreError> {
    find(db, number)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("extension {number}")))
}

pub async fn list(
    db: &impl ConnectionTrait,
    filter: &ExtensionFilter,
    limit: u64,
    offset: u64,
) -> Result<(Vec<Extension>, u64), StoreError> {
    let mut cond = Condition::all();
    if let Some(context) = &filter.context {
        cond = cond.add(Column::Context.eq(context.as_str()));
    }
    if let Some(template) = &filter.template {
        cond = cond.add(Column::Template.eq(template.as_str()));
    }
    if let Some(enabled) = filter.enabled {
        cond = cond.add(Column::Enabled.eq(enabled));
    }
    if let Some(search) = &filter.search {
        let escaped = search
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        cond = cond.add(
            Condition::any()
                .add(Column::Number.like(format!("{escaped}%")))
                .add(
                    Expr::expr(sea_orm::sea_query::Func::lower(Expr::col(Column::Name)))
                        .like(format!("%{}%", escaped.to_lowercase())),
                ),
        );
    }
    let query = Entity::find().filter(cond);
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_asc(Column::Number)
        .limit(limit)
        .offset(offset)
        .all(db)
        .await?;
    let items = rows.into_iter().map(to_model).collect::<Result<_, _>>()?;
    Ok((items, total))
}

/// Every extension, for rendering.
pub async fn all(db: &impl ConnectionTrait) -> Result<Vec<Extension>, StoreError> {
    Entity::find()
        .order_by_asc(Column::Number)
        .all(db)
        .await?
        .into_iter()
        .map(to_model)
        .collect()
}

pub async fn count(db: &impl ConnectionTrait) -> Result<u64, StoreError> {
    Ok(Entity::find().count(db).await?)
}

/// Writes every field of `ext` (already merged with the patch) back.
pub async fn update(db: &impl ConnectionTrait, ext: &Extension) -> Result<Extension, StoreError> {
    let model = ActiveModel {
        id: Set(ext.id),
        number: Set(ext.number.clone()),
        name: Set(ext.name.clone()),
        template: Set(ext.template.clone()),
        context: Set(ext.context.clone()),
        codecs: Set(codecs_json(&ext.codecs)),
        max_contacts: Set(ext.max_contacts.map(|n| n as i32)),
        caller_id: Set(ext.caller_id.clone()),
        enabled: Set(ext.enabled),
        auth_realm: Set(ext.auth.realm.clone()),
        md5_cred: Set(ext.auth.md5_cred.clone()),
        options: Set(options_json(&ext.options)),
        transport: Set(ext.transport.clone()),
        created_at: Set(ext.created_at),
        updated_at: Set(Utc::now()),
    }
    .update(db)
    .await?;
    to_model(model)
}

pub async fn delete(
    db: &impl ConnectionTrait,
    ext: &Extension,
    referenced_by: impl FnOnce() -> String,
) -> Result<(), StoreError> {
    Entity::delete_by_id(ext.id).exec(db).await.map_err(|e| {
        StoreError::in_use_as(e, format!("extension {}", ext.number), referenced_by())
    })?;
    Ok(())
}
