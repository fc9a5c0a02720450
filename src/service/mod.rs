//! Use cases: what the API (and the CLI through it) can do. Handlers stay thin;
//! every rule lives here, every write is one transaction with its audit entry.

pub mod applies;
pub mod asterisk;
pub mod audit;
pub mod calls;
pub mod catalog;
pub mod click_to_call;
pub mod cluster;
pub mod extensions;
pub mod import;
mod inbound_layout;
pub mod kamailio;
pub mod routes;
pub mod security;
pub mod status;
pub mod stream;
pub mod templates;
pub mod tokens;
pub mod transports;
pub mod trunks;
mod write;

use sea_orm::DatabaseConnection;
use serde::Serialize;
use thiserror::Error;
use utoipa::ToSchema;

use crate::ami::AmiClient;
use crate::apply::ApplyHandle;
use crate::config::Settings;
use crate::events::EventHub;
use crate::live::LiveState;
use crate::model::FieldErrors;
use crate::render::RenderSettings;
use crate::secrets::Secrets;
use crate::store::StoreError;
use applies::ApplyService;
use asterisk::AsteriskService;
use audit::AuditService;
use calls::CallService;
use cluster::ClusterService;
use extensions::ExtensionService;
use import::ImportService;
use kamailio::KamailioService;
use routes::RouteService;
use stream::StreamService;
use templates::TemplateService;
use tokens::TokenService;
use transports::TransportService;
use trunks::TrunkService;
use write::Writer;

#[derive(Debug, Error)]
pub enum ServiceError {
    #[error("invalid input: {0}")]
    Validation(FieldErrors),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    Conflict(String),
    #[error("{what} is still used by {by}")]
    InUse { what: String, by: String },
    #[error("{0}")]
    Unavailable(String),
    /// A request the object's state forbids (e.g. deleting a built-in template).
    #[error("{0}")]
    Refused(String),
    /// Asterisk was reached but refused or could not do it.
    #[error("{0}")]
    Rejected(String),
    /// An optional part (Kamailio) has no settings: its routes answer 404.
    #[error("{0}")]
    NotConfigured(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ServiceError::NotFound(what),
            StoreError::Conflict(what) => ServiceError::Conflict(what),
            StoreError::InUse(what, by) => ServiceError::InUse { what, by },
            StoreError::Db(e) => e.into(),
            other => ServiceError::Store(other),
        }
    }
}

impl From<sea_orm::DbErr> for ServiceError {
    fn from(e: sea_orm::DbErr) -> Self {
        match e {
            // The row went away between reading and updating it (a concurrent delete).
            sea_orm::DbErr::RecordNotUpdated => {
                ServiceError::NotFound("the object (deleted meanwhile)".into())
            }
            e => ServiceError::Store(StoreError::Db(e)),
        }
    }
}

impl From<FieldErrors> for ServiceError {
    fn from(e: FieldErrors) -> Self {
        ServiceError::Validation(e)
    }
}

/// A page of a listing: `limit` is the limit as applied (a request above
/// [`Paging::MAX_LIMIT`] gets that many), `total` counts every match.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
}

/// Which part of a listing to answer: at most `limit` items from `offset` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub limit: u64,
    pub offset: u64,
}

impl Paging {
    pub const DEFAULT_LIMIT: u64 = 100;
    pub const MAX_LIMIT: u64 = 1000;
    /// The largest offset a database binds: a signed 64-bit integer.
    pub const MAX_OFFSET: u64 = i64::MAX as u64;

    /// A limit above [`Self::MAX_LIMIT`] is cut to it, an offset beyond
    /// [`Self::MAX_OFFSET`] too (nothing is there). A limit of 0 asks only for the total.
    pub fn new(limit: Option<u64>, offset: Option<u64>) -> Self {
        Paging {
            limit: limit.unwrap_or(Self::DEFAULT_LIMIT).min(Self::MAX_LIMIT),
            offset: offset.unwrap_or(0).min(Self::MAX_OFFSET),
        }
    }

    /// This page of a listing held in memory.
    /// The page of a list the store already cut: `items` of `total`.
    pub fn of<T>(self, items: Vec<T>, total: u64) -> Page<T> {
        Page {
            items,
            total,
            limit: self.limit,
            offset: self.offset,
        }
    }

    pub fn page<T>(self, items: Vec<T>) -> Page<T> {
        let total = items.len() as u64;
        let skip = usize::try_from(self.offset).unwrap_or(usize::MAX);
        let take = usize::try_from(self.limit).unwrap_or(usize::MAX);
        let items = items.into_iter().skip(skip).take(take).collect();
        Page {
            items,
            total,
            limit: self.limit,
            offset: self.offset,
        }
    }
}

impl Default for Paging {
    fn default() -> Self {
        Paging::new(None, None)
    }
}

/// What the daemon builds the services from.
pub struct Parts {
    pub db: DatabaseConnection,
    pub settings: std::sync::Arc<Settings>,
    pub ami: AmiClient,
    pub apply: ApplyHandle,
    /// What is kept live from Asterisk's events.
    pub live: LiveState,
    pub events: EventHub,
    /// Encrypts trunk passwords at rest (`<state_dir>/secret.key`).
    pub secrets: Secrets,
}

/// The use cases, one service per aggregate, each holding only what it needs.
/// Cheap to clone.
#[derive(Clone)]
pub struct Services {
    db: DatabaseConnection,
    extensions: ExtensionService,
    import: ImportService,
    trunks: TrunkService,
    transports: TransportService,
    routes: RouteService,
    templates: TemplateService,
    tokens: TokenService,
    calls: CallService,
    kamailio: KamailioService,
    asterisk: AsteriskService,
    applies: ApplyService,
    audit: AuditService,
    streams: StreamService,
    cluster: ClusterService,
    security: security::SecurityService,
}

impl Services {
    pub fn new(parts: Parts) -> Self {
        let Parts {
            db,
            settings,
            ami,
            apply,
            live,
            events,
            secrets,
        } = parts;
        let writer = Writer::new(db.clone(), apply.clone(), &settings);
        Services {
            extensions: ExtensionService::new(
                writer.clone(),
                live.registrations.clone(),
                live.presence.clone(),
                &settings,
            ),
            import: ImportService::new(writer.clone(), ami.clone(), secrets.clone(), &settings),
            trunks: TrunkService::new(
                writer.clone(),
                secrets.clone(),
                live.trunks.clone(),
                live.registrations.clone(),
                ami.clone(),
                transports::DefaultTransports::from(&RenderSettings::from(&*settings)),
            ),
            transports: TransportService::new(
                writer.clone(),
                &RenderSettings::from(&*settings),
                settings.asterisk.config_dir.join("pjsip.conf"),
            ),
            routes: RouteService::new(writer.clone()),
            templates: TemplateService::new(
                writer.clone(),
                settings.provider_templates_dir.clone(),
            ),
            tokens: TokenService::new(writer.clone(), settings.state_dir.clone()),
            calls: CallService::new(
                writer.clone(),
                ami.clone(),
                settings.asterisk.dial_timeout_secs,
            ),
            security: security::SecurityService::new(
                writer.clone(),
                live.security.clone(),
                settings.kamailio.is_some(),
            ),
            kamailio: KamailioService::new(writer, settings.kamailio.clone()),
            asterisk: AsteriskService::new(
                db.clone(),
                ami,
                apply.clone(),
                secrets,
                RenderSettings::from(&*settings),
                live.clone(),
            ),
            applies: ApplyService::new(db.clone(), apply, settings.node.clone()),
            audit: AuditService::new(db.clone()),
            streams: StreamService::new(events, settings.events.clone()),
            cluster: ClusterService::new(db.clone(), &settings.cluster),
            db,
        }
    }

    /// True when the database answers a trivial query (readiness).
    pub async fn database_answers(&self) -> bool {
        crate::store::ping(&self.db).await
    }

    pub fn extensions(&self) -> &ExtensionService {
        &self.extensions
    }

    pub fn import(&self) -> &ImportService {
        &self.import
    }

    pub fn trunks(&self) -> &TrunkService {
        &self.trunks
    }

    pub fn transports(&self) -> &TransportService {
        &self.transports
    }

    pub fn routes(&self) -> &RouteService {
        &self.routes
    }

    pub fn templates(&self) -> &TemplateService {
        &self.templates
    }

    pub fn tokens(&self) -> &TokenService {
        &self.tokens
    }

    pub fn calls(&self) -> &CallService {
        &self.calls
    }

    pub fn kamailio(&self) -> &KamailioService {
        &self.kamailio
    }

    pub fn asterisk(&self) -> &AsteriskService {
        &self.asterisk
    }

    pub fn applies(&self) -> &ApplyService {
        &self.applies
    }

    pub fn audit(&self) -> &AuditService {
        &self.audit
    }

    pub fn streams(&self) -> &StreamService {
        &self.streams
    }

    pub fn cluster(&self) -> &ClusterService {
        &self.cluster
    }

    pub fn security(&self) -> &security::SecurityService {
        &self.security
    }
}

#[cfg(test)]
mod tests {
    use super::Paging;

    #[test]
    fn paging_keeps_to_its_bounds() {
        assert_eq!(
            Paging::new(None, None),
            Paging {
                limit: Paging::DEFAULT_LIMIT,
                offset: 0
            }
        );
        assert_eq!(
            Paging::new(Some(0), Some(3)),
            Paging {
                limit: 0,
                offset: 3
            }
        );
        let huge = Paging::new(Some(u64::MAX), Some(u64::MAX));
        assert_eq!(
            huge,
            Paging {
                limit: Paging::MAX_LIMIT,
                offset: Paging::MAX_OFFSET
            }
        );
    }

    #[test]
    fn a_page_in_memory_is_cut_like_one_from_the_database() {
        let page = Paging::new(Some(2), Some(1)).page(vec![1, 2, 3, 4]);
        assert_eq!(
            (page.items, page.total, page.limit, page.offset),
            (vec![2, 3], 4, 2, 1)
        );
        let page = Paging::new(Some(0), None).page(vec![1, 2]);
        assert_eq!((page.items.len(), page.total), (0, 2));
        let page = Paging::new(None, Some(Paging::MAX_OFFSET)).page(vec![1, 2]);
        assert!(page.items.is_empty());
    }
}
