//! Provider and extension template rows: built-in ones are synchronised from the
//! files shipped with rayan at start; administrators may add their own.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, ModelTrait, QueryFilter,
    QueryOrder, Set,
};

use super::StoreError;
use super::entities::{extension_template, provider_template};
use crate::templates::ProviderTemplate;

pub async fn extension_template_exists(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<bool, StoreError> {
    Ok(extension_template::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .is_some())
}

pub async fn list_extension_templates(
    db: &impl ConnectionTrait,
) -> Result<Vec<extension_template::Model>, StoreError> {
    Ok(extension_template::Entity::find()
        .order_by_asc(extension_template::Column::Id)
        .all(db)
        .await?)
}

pub async fn get_extension_template(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<extension_template::Model, StoreError> {
    extension_template::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("extension template {id}")))
}

/// Inserts or updates a built-in extension template.
pub async fn upsert_builtin_extension_template(
    db: &impl ConnectionTrait,
    id: &str,
    display_name: &str,
    description: &str,
    definition: serde_json::Value,
) -> Result<(), StoreError> {
    let now = Utc::now();
    match extension_template::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
    {
        Some(row)
            if row.display_name == display_name
                && row.description == description
                && row.definition == definition => {}
        Some(row) => {
            let mut active: extension_template::ActiveModel = row.into();
            active.display_name = Set(display_name.to_owned());
            active.description = Set(description.to_owned());
            active.definition = Set(definition);
            active.builtin = Set(true);
            active.updated_at = Set(now);
            active.update(db).await?;
        }
        None => {
            extension_template::ActiveModel {
                id: Set(id.to_owned()),
                display_name: Set(display_name.to_owned()),
                description: Set(description.to_owned()),
                builtin: Set(true),
                definition: Set(definition),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(db)
            .await?;
        }
    }
    Ok(())
}

pub async fn list_provider_templates(
    db: &impl ConnectionTrait,
) -> Result<Vec<provider_template::Model>, StoreError> {
    Ok(provider_template::Entity::find()
        .order_by_asc(provider_template::Column::Id)
        .all(db)
        .await?)
}

pub async fn find_provider_template(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<provider_template::Model>, StoreError> {
    Ok(provider_template::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?)
}

/// Inserts a new built-in provider template or updates a changed one; an
/// administrator-made template with the same id is left alone.
pub async fn upsert_builtin_provider_template(
    db: &impl ConnectionTrait,
    id: &str,
    display_name: &str,
    auth_type: &str,
    definition: serde_json::Value,
) -> Result<(), StoreError> {
    let now = Utc::now();
    match provider_template::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
    {
        Some(row) if !row.builtin => {}
        Some(row)
            if row.display_name == display_name
                && row.auth_type == auth_type
                && row.definition == definition => {}
        Some(row) => {
            let mut active: provider_template::ActiveModel = row.into();
            active.display_name = Set(display_name.to_owned());
            active.auth_type = Set(auth_type.to_owned());
            active.definition = Set(definition);
            active.updated_at = Set(now);
            active.update(db).await?;
        }
        None => {
            provider_template::ActiveModel {
                id: Set(id.to_owned()),
                display_name: Set(display_name.to_owned()),
                auth_type: Set(auth_type.to_owned()),
                builtin: Set(true),
                definition: Set(definition),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(db)
            .await?;
        }
    }
    Ok(())
}

pub async fn builtin_provider_ids(db: &impl ConnectionTrait) -> Result<Vec<String>, StoreError> {
    Ok(provider_template::Entity::find()
        .filter(provider_template::Column::Builtin.eq(true))
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect())
}

/// The template a provider row stores.
pub fn provider_definition(row: &provider_template::Model) -> Result<ProviderTemplate, StoreError> {
    serde_json::from_value(row.definition.clone())
        .map_err(|e| StoreError::Corrupt(format!("provider template {}: {e}", row.id)))
}

pub async fn get_provider_template(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<provider_template::Model, StoreError> {
    find_provider_template(db, id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("provider template {id}")))
}

/// Inserts an administrator-made provider template.
pub async fn insert_provider_template(
    db: &impl ConnectionTrait,
    template: &ProviderTemplate,
) -> Result<provider_template::Model, StoreError> {
    let now = Utc::now();
    let definition = serde_json::to_value(template)
        .map_err(|e| StoreError::Corrupt(format!("provider template {}: {e}", template.id)))?;
    provider_template::ActiveModel {
        id: Set(template.id.clone()),
        display_name: Set(template.display_name.clone()),
        auth_type: Set(auth_type_name(template).to_owned()),
        builtin: Set(false),
        definition: Set(definition),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(|e| StoreError::conflict_as(e, format!("provider template {}", template.id)))
}

/// `credential` or `ip`, as the `auth_type` column holds it.
pub fn auth_type_name(template: &ProviderTemplate) -> &'static str {
    match template.auth_type {
        crate::templates::AuthType::Credential => "credential",
        crate::templates::AuthType::Ip => "ip",
    }
}

pub async fn delete_provider_template(
    db: &impl ConnectionTrait,
    row: provider_template::Model,
    referenced_by: impl FnOnce() -> String,
) -> Result<(), StoreError> {
    let what = format!("provider template {}", row.id);
    row.delete(db)
        .await
        .map_err(|e| StoreError::in_use_as(e, what, referenced_by()))?;
    Ok(())
}
