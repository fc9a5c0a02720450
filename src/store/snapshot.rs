//! Everything the renderer needs, read in one go.

use sea_orm::ConnectionTrait;

use super::StoreError;
use crate::config::Settings;
use crate::render::ConfigSnapshot;
use crate::templates::ProviderTemplate;

/// Every extension, trunk and route, as the renderer takes them.
pub async fn load(db: &impl ConnectionTrait, _settings: &Settings) -> Result<ConfigSnapshot, StoreError> {
    Ok(ConfigSnapshot { extensions: super::extensions::all(db).await?, ..Default::default() })
}

/// The provider templates trunks are rendered with.
pub async fn provider_templates(_db: &impl ConnectionTrait) -> Result<Vec<ProviderTemplate>, StoreError> {
    crate::templates::builtin_provider_templates().map_err(|e| StoreError::Corrupt(e.to_string()))
}
