//! What the apply worker renders from: every extension, trunk (password decrypted) and
//! route, read in one transaction so they agree with each other.

use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DbBackend, IsolationLevel, TransactionTrait,
};

use super::StoreError;
use crate::model::ConfigSnapshot;
use crate::secrets::Secrets;
use crate::templates::ProviderTemplate;

/// Reads the whole configuration. On PostgreSQL the reads share one repeatable-read
/// snapshot; on SQLite one transaction gives the same.
pub async fn load(
    db: &DatabaseConnection,
    secrets: &Secrets,
) -> Result<ConfigSnapshot, StoreError> {
    let txn = match db.get_database_backend() {
        DbBackend::Postgres => {
            db.begin_with_config(
                Some(IsolationLevel::RepeatableRead),
                Some(AccessMode::ReadOnly),
            )
            .await?
        }
        _ => db.begin().await?,
    };
    let extensions = super::extensions::all(&txn).await?;
    let trunks = super::trunks::all(&txn)
        .await?
        .iter()
        .map(|t| t.decrypt(secrets))
        .collect::<Result<Vec<_>, _>>()?;
    let transports = super::transports::all(&txn).await?;
    let inbound_routes = super::routes::all_inbound(&txn).await?;
    let outbound_routes = super::routes::all_outbound(&txn).await?;
    let blocked = super::blocks::all(&txn)
        .await?
        .into_iter()
        .map(|b| b.address)
        .collect();
    txn.commit().await?;
    Ok(ConfigSnapshot {
        extensions,
        trunks,
        transports,
        inbound_routes,
        outbound_routes,
        blocked,
    })
}

/// Every provider template in the database (built-in and administrator-made), by id.
pub async fn provider_templates(
    db: &DatabaseConnection,
) -> Result<Vec<ProviderTemplate>, StoreError> {
    super::templates::list_provider_templates(db)
        .await?
        .into_iter()
        .map(|row| super::templates::provider_definition(&row))
        .collect()
}
