//! Inbound and outbound route use cases. A route must point at objects that exist, and
//! its pattern, strip and prepend must render.

use super::write::Action;
use crate::model::ObjectRef;
use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::applies::ApplyView;
use super::inbound_layout::LayoutChange;
use super::write::Writer;
use super::{Page, Paging, ServiceError, inbound_layout};
use crate::model::extension::DEFAULT_CONTEXT;
use crate::model::routes::{
    DEFAULT_ROUTE_PRIORITY, InboundRoutePatch, NewInboundRoute, NewOutboundRoute,
    OutboundRoutePatch, check_did, check_route_pattern,
};
use crate::model::{FieldErrors, InboundRoute, OutboundRoute};
use crate::store::audit::Actor;
use crate::store::routes::{InboundRow, OutboundRow, RouteFilter, Stored};
use crate::store::{self};

/// An outbound route as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OutboundRouteView {
    #[schema(example = "us_local")]
    pub name: String,
    #[schema(example = "_1NXXNXXXXXX")]
    pub pattern: String,
    /// Trunk name.
    pub trunk: String,
    pub strip: u32,
    pub prepend: String,
    pub priority: i32,
    pub context: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// In answers to writes: what Asterisk loaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apply: Option<ApplyView>,
}

impl From<&Stored<OutboundRoute>> for OutboundRouteView {
    fn from(s: &Stored<OutboundRoute>) -> Self {
        let r = &s.route;
        OutboundRouteView {
            name: r.name.clone(),
            pattern: r.pattern.clone(),
            trunk: r.trunk.clone(),
            strip: r.strip,
            prepend: r.prepend.clone(),
            priority: r.priority,
            context: r.context.clone(),
            created_at: s.created_at,
            updated_at: s.updated_at,
            apply: None,
        }
    }
}

/// An inbound route as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InboundRouteView {
    pub id: i64,
    #[schema(example = "+15551234567")]
    pub did: String,
    /// `null`: calls from any trunk.
    pub trunk: Option<String>,
    /// Destination extension number.
    pub extension: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// In answers to writes: what Asterisk loaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apply: Option<ApplyView>,
}

impl From<&Stored<InboundRoute>> for InboundRouteView {
    fn from(s: &Stored<InboundRoute>) -> Self {
        let r = &s.route;
        InboundRouteView {
            id: r.id,
            did: r.did.clone(),
            trunk: r.trunk.clone(),
            extension: r.extension.clone(),
            created_at: s.created_at,
            updated_at: s.updated_at,
            apply: None,
        }
    }
}

/// `GET /api/v1/outbound-routes` filters (beside `limit` and `offset`).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OutboundRouteQuery {
    /// Trunk name.
    pub trunk: Option<String>,
    /// The callers' context.
    pub context: Option<String>,
}

/// `GET /api/v1/inbound-routes` filters (beside `limit` and `offset`).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InboundRouteQuery {
    /// Trunk name.
    pub trunk: Option<String>,
    /// Destination extension number.
    pub extension: Option<String>,
}

fn has_error(errors: &FieldErrors, field: &str) -> bool {
    errors.0.iter().any(|e| e.field == field)
}

fn audit_outbound(s: &Stored<OutboundRoute>) -> serde_json::Value {
    serde_json::to_value(OutboundRouteView::from(s)).unwrap_or_default()
}

fn audit_inbound(s: &Stored<InboundRoute>) -> serde_json::Value {
    serde_json::to_value(InboundRouteView::from(s)).unwrap_or_default()
}

fn outbound_row(route: &OutboundRoute, trunk_id: i64) -> OutboundRow {
    OutboundRow {
        name: route.name.clone(),
        pattern: route.pattern.clone(),
        trunk_id,
        strip: route.strip,
        prepend: route.prepend.clone(),
        priority: route.priority,
        context: route.context.clone(),
    }
}

/// Paging with a filter that matches nothing (a filter naming a missing trunk).
fn empty_page<T>(paging: Paging) -> Page<T> {
    paging.of(Vec::new(), 0)
}

/// Outbound and inbound routes: the dialplan rayan writes.
#[derive(Clone)]
pub struct RouteService {
    writer: Writer,
}

impl RouteService {
    pub(super) fn new(writer: Writer) -> Self {
        RouteService { writer }
    }
}

impl RouteService {
    /// Checks the route's pattern, strip, prepend and trunk; returns the trunk's id.
    async fn check_outbound(
        &self,
        db: &impl ConnectionTrait,
        route: &OutboundRoute,
        mut errors: FieldErrors,
    ) -> Result<i64, ServiceError> {
        check_route_pattern(&mut errors, &route.pattern, route.strip, &route.prepend);
        let mut trunk_id = None;
        if !has_error(&errors, "trunk") {
            match store::trunks::find(db, &route.trunk).await? {
                Some(trunk) => trunk_id = Some(trunk.id),
                None => errors.push("trunk", format!("no trunk named '{}'", route.trunk)),
            }
        }
        errors.finish()?;
        trunk_id.ok_or_else(|| ServiceError::NotFound(format!("trunk {}", route.trunk)))
    }

    pub async fn create_outbound_route(
        &self,
        actor: &Actor,
        input: NewOutboundRoute,
    ) -> Result<OutboundRouteView, ServiceError> {
        let errors = input.validate().err().unwrap_or_default();
        let route = OutboundRoute {
            id: 0,
            name: input.name,
            pattern: input.pattern,
            trunk: input.trunk,
            strip: input.strip.unwrap_or(0),
            prepend: input.prepend.unwrap_or_default(),
            priority: input.priority.unwrap_or(DEFAULT_ROUTE_PRIORITY),
            context: input.context.unwrap_or_else(|| DEFAULT_CONTEXT.into()),
        };
        let mut write = self.writer.write(actor).await?;
        let trunk_id = self.check_outbound(&*write, &route, errors).await?;
        let stored =
            store::routes::insert_outbound(&*write, outbound_row(&route, trunk_id)).await?;
        let object = ObjectRef::outbound_route(&route.name);
        write
            .audit(Action::Create, &object, None, Some(audit_outbound(&stored)))
            .await?;
        let mut view = OutboundRouteView::from(&stored);
        view.apply = Some(write.commit_and_apply(&object).await?);
        Ok(view)
    }

    pub async fn get_outbound_route(&self, name: &str) -> Result<OutboundRouteView, ServiceError> {
        Ok(OutboundRouteView::from(
            &store::routes::get_outbound(self.writer.db(), name).await?,
        ))
    }

    pub async fn list_outbound_routes(
        &self,
        query: OutboundRouteQuery,
        paging: Paging,
    ) -> Result<Page<OutboundRouteView>, ServiceError> {
        let mut filter = RouteFilter {
            context: query.context,
            ..Default::default()
        };
        if let Some(trunk) = &query.trunk {
            match store::trunks::find(self.writer.db(), trunk).await? {
                Some(t) => filter.trunk_id = Some(t.id),
                None => return Ok(empty_page(paging)),
            }
        }
        let (items, total) =
            store::routes::list_outbound(self.writer.db(), &filter, paging.limit, paging.offset)
                .await?;
        Ok(paging.of(items.iter().map(OutboundRouteView::from).collect(), total))
    }

    pub async fn update_outbound_route(
        &self,
        actor: &Actor,
        name: &str,
        patch: OutboundRoutePatch,
    ) -> Result<OutboundRouteView, ServiceError> {
        let errors = patch.validate().err().unwrap_or_default();
        let mut write = self.writer.write(actor).await?;
        let before = store::routes::get_outbound(&*write, name).await?;
        let mut route = before.route.clone();
        patch.apply_to(&mut route);
        let trunk_id = self.check_outbound(&*write, &route, errors).await?;
        let after =
            store::routes::update_outbound(&*write, &before, outbound_row(&route, trunk_id))
                .await?;
        let object = ObjectRef::outbound_route(name);
        write
            .audit(
                Action::Update,
                &object,
                Some(audit_outbound(&before)),
                Some(audit_outbound(&after)),
            )
            .await?;
        let mut view = OutboundRouteView::from(&after);
        view.apply = Some(write.commit_and_apply(&object).await?);
        Ok(view)
    }

    pub async fn delete_outbound_route(
        &self,
        actor: &Actor,
        name: &str,
    ) -> Result<ApplyView, ServiceError> {
        let mut write = self.writer.write(actor).await?;
        let route = store::routes::get_outbound(&*write, name).await?;
        store::routes::delete_outbound(&*write, route.route.id).await?;
        let object = ObjectRef::outbound_route(name);
        write
            .audit(Action::Delete, &object, Some(audit_outbound(&route)), None)
            .await?;
        write.commit_and_apply(&object).await
    }

    /// Checks the route's DID, extension and trunk, that it is not a duplicate and that
    /// its number stays unambiguous; returns the row to store.
    async fn check_inbound(
        &self,
        db: &impl ConnectionTrait,
        route: &InboundRoute,
        mut errors: FieldErrors,
    ) -> Result<InboundRow, ServiceError> {
        check_did(&mut errors, "did", &route.did);
        let mut extension_id = None;
        if !has_error(&errors, "extension") {
            extension_id = store::routes::extension_id(db, &route.extension).await?;
            if extension_id.is_none() {
                errors.push("extension", format!("no extension {}", route.extension));
            }
        }
        let mut trunk_id = None;
        if let Some(trunk) = route
            .trunk
            .as_deref()
            .filter(|_| !has_error(&errors, "trunk"))
        {
            match store::trunks::find(db, trunk).await? {
                Some(t) => trunk_id = Some(t.id),
                None => errors.push("trunk", format!("no trunk named '{trunk}'")),
            }
        }
        errors.finish()?;
        let id = (route.id != 0).then_some(route.id);
        let duplicate = store::routes::all_inbound(db)
            .await?
            .into_iter()
            .any(|r| Some(r.id) != id && r.did == route.did && r.trunk == route.trunk);
        if duplicate {
            let via = route
                .trunk
                .as_deref()
                .map(|t| format!(" via trunk {t}"))
                .unwrap_or_default();
            return Err(ServiceError::Conflict(format!(
                "an inbound route for {}{via}",
                route.did
            )));
        }
        let change = LayoutChange::Route {
            id,
            did: &route.did,
            trunk: route.trunk.as_deref(),
        };
        if let Some(clash) = inbound_layout::clash(db, change).await? {
            let mut errors = FieldErrors::new();
            errors.push("did", clash);
            return Err(errors.into());
        }
        Ok(InboundRow {
            did: route.did.clone(),
            trunk_id,
            extension_id: extension_id
                .ok_or_else(|| ServiceError::NotFound(format!("extension {}", route.extension)))?,
        })
    }

    pub async fn create_inbound_route(
        &self,
        actor: &Actor,
        input: NewInboundRoute,
    ) -> Result<InboundRouteView, ServiceError> {
        let errors = input.validate().err().unwrap_or_default();
        let route = InboundRoute {
            id: 0,
            did: input.did,
            trunk: input.trunk,
            extension: input.extension,
        };
        let mut write = self.writer.write(actor).await?;
        let row = self.check_inbound(&*write, &route, errors).await?;
        let stored = store::routes::insert_inbound(&*write, row).await?;
        let object = ObjectRef::inbound_route(stored.route.id);
        write
            .audit(Action::Create, &object, None, Some(audit_inbound(&stored)))
            .await?;
        let mut view = InboundRouteView::from(&stored);
        view.apply = Some(write.commit_and_apply(&object).await?);
        Ok(view)
    }

    pub async fn get_inbound_route(&self, id: i64) -> Result<InboundRouteView, ServiceError> {
        Ok(InboundRouteView::from(
            &store::routes::get_inbound(self.writer.db(), id).await?,
        ))
    }

    pub async fn list_inbound_routes(
        &self,
        query: InboundRouteQuery,
        paging: Paging,
    ) -> Result<Page<InboundRouteView>, ServiceError> {
        let mut filter = RouteFilter::default();
        if let Some(trunk) = &query.trunk {
            match store::trunks::find(self.writer.db(), trunk).await? {
                Some(t) => filter.trunk_id = Some(t.id),
                None => return Ok(empty_page(paging)),
            }
        }
        if let Some(extension) = &query.extension {
            match store::routes::extension_id(self.writer.db(), extension).await? {
                Some(id) => filter.extension_id = Some(id),
                None => return Ok(empty_page(paging)),
            }
        }
        let (items, total) =
            store::routes::list_inbound(self.writer.db(), &filter, paging.limit, paging.offset)
                .await?;
        Ok(paging.of(items.iter().map(InboundRouteView::from).collect(), total))
    }

    pub async fn update_inbound_route(
        &self,
        actor: &Actor,
        id: i64,
        patch: InboundRoutePatch,
    ) -> Result<InboundRouteView, ServiceError> {
        let errors = patch.validate().err().unwrap_or_default();
        let mut write = self.writer.write(actor).await?;
        let before = store::routes::get_inbound(&*write, id).await?;
        let mut route = before.route.clone();
        patch.apply_to(&mut route);
        let row = self.check_inbound(&*write, &route, errors).await?;
        let after = store::routes::update_inbound(&*write, &before, row).await?;
        let object = ObjectRef::inbound_route(id);
        write
            .audit(
                Action::Update,
                &object,
                Some(audit_inbound(&before)),
                Some(audit_inbound(&after)),
            )
            .await?;
        let mut view = InboundRouteView::from(&after);
        view.apply = Some(write.commit_and_apply(&object).await?);
        Ok(view)
    }

    pub async fn delete_inbound_route(
        &self,
        actor: &Actor,
        id: i64,
    ) -> Result<ApplyView, ServiceError> {
        let mut write = self.writer.write(actor).await?;
        let route = store::routes::get_inbound(&*write, id).await?;
        store::routes::delete_inbound(&*write, id).await?;
        let object = ObjectRef::inbound_route(id);
        write
            .audit(Action::Delete, &object, Some(audit_inbound(&route)), None)
            .await?;
        write.commit_and_apply(&object).await
    }
}
