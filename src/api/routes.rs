//! `/api/v1/outbound-routes` (by name) and `/api/v1/inbound-routes` (by id)

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::AppState;
use super::error::{ApiResult, Problem};
use super::extensions::DeleteView;
use super::extract::{Authed, Json, Operator, Paged, Path, Viewer};
use crate::model::routes::{
    InboundRoutePatch, NewInboundRoute, NewOutboundRoute, OutboundRoutePatch,
};
use crate::service::Page;
use crate::service::applies::ApplyView;
use crate::service::routes::{
    InboundRouteQuery, InboundRouteView, OutboundRouteQuery, OutboundRouteView,
};

fn pending(apply: &Option<ApplyView>) -> bool {
    apply.as_ref().is_some_and(ApplyView::is_pending)
}

/// 202 when the write's apply is pending, `done` otherwise.
pub(super) fn status(apply: &Option<ApplyView>, done: StatusCode) -> StatusCode {
    if pending(apply) {
        StatusCode::ACCEPTED
    } else {
        done
    }
}

pub(super) fn deleted(deleted: String, apply: ApplyView) -> (StatusCode, axum::Json<DeleteView>) {
    let status = if apply.is_pending() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    (status, axum::Json(DeleteView { deleted, apply }))
}

#[utoipa::path(operation_id = "list_outbound_route", get, path = "/api/v1/outbound-routes", tag = "routes",
    params(Paged<OutboundRouteQuery>), responses((status = 200, body = Page<OutboundRouteView>), (status = 401, body = Problem)))]
pub async fn list_outbound(
    State(state): State<AppState>,
    _caller: Authed<Viewer>,
    Paged { paging, filter }: Paged<OutboundRouteQuery>,
) -> ApiResult<axum::Json<Page<OutboundRouteView>>> {
    Ok(axum::Json(
        state
            .services
            .routes()
            .list_outbound_routes(filter, paging)
            .await?,
    ))
}

#[utoipa::path(operation_id = "create_outbound_route", post, path = "/api/v1/outbound-routes", tag = "routes",
    request_body = NewOutboundRoute,
    responses((status = 201, body = OutboundRouteView, description = "Created and applied (see `apply`)"),
        (status = 202, body = OutboundRouteView, description = "Saved; the apply is pending"), (status = 409, body = Problem),
        (status = 422, body = Problem, description = "An invalid field or a trunk that does not exist")))]
pub async fn create_outbound(
    State(state): State<AppState>,
    caller: Authed<Operator>,
    Json(input): Json<NewOutboundRoute>,
) -> ApiResult<impl IntoResponse> {
    let view = state
        .services
        .routes()
        .create_outbound_route(&caller.actor(), input)
        .await?;
    let location = format!("/api/v1/outbound-routes/{}", view.name);
    Ok((
        status(&view.apply, StatusCode::CREATED),
        [(axum::http::header::LOCATION, location)],
        axum::Json(view),
    ))
}

#[utoipa::path(operation_id = "show_outbound_route", get, path = "/api/v1/outbound-routes/{name}", tag = "routes",
    params(("name" = String, Path, description = "Route name")),
    responses((status = 200, body = OutboundRouteView), (status = 404, body = Problem)))]
pub async fn show_outbound(
    State(state): State<AppState>,
    _caller: Authed<Viewer>,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<OutboundRouteView>> {
    Ok(axum::Json(
        state.services.routes().get_outbound_route(&name).await?,
    ))
}

#[utoipa::path(operation_id = "update_outbound_route", patch, path = "/api/v1/outbound-routes/{name}", tag = "routes",
    request_body = OutboundRoutePatch, params(("name" = String, Path, description = "Route name")),
    responses((status = 200, body = OutboundRouteView), (status = 202, body = OutboundRouteView),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update_outbound(
    State(state): State<AppState>,
    caller: Authed<Operator>,
    Path(name): Path<String>,
    Json(patch): Json<OutboundRoutePatch>,
) -> ApiResult<(StatusCode, axum::Json<OutboundRouteView>)> {
    let view = state
        .services
        .routes()
        .update_outbound_route(&caller.actor(), &name, patch)
        .await?;
    Ok((status(&view.apply, StatusCode::OK), axum::Json(view)))
}

#[utoipa::path(operation_id = "remove_outbound_route", delete, path = "/api/v1/outbound-routes/{name}", tag = "routes",
    params(("name" = String, Path, description = "Route name")),
    responses((status = 200, body = DeleteView, description = "Deleted; `apply` says what Asterisk loaded"),
        (status = 202, body = DeleteView), (status = 404, body = Problem)))]
pub async fn remove_outbound(
    State(state): State<AppState>,
    caller: Authed<Operator>,
    Path(name): Path<String>,
) -> ApiResult<(StatusCode, axum::Json<DeleteView>)> {
    let apply = state
        .services
        .routes()
        .delete_outbound_route(&caller.actor(), &name)
        .await?;
    Ok(deleted(name, apply))
}

#[utoipa::path(operation_id = "list_inbound_route", get, path = "/api/v1/inbound-routes", tag = "routes",
    params(Paged<InboundRouteQuery>), responses((status = 200, body = Page<InboundRouteView>), (status = 401, body = Problem)))]
pub async fn list_inbound(
    State(state): State<AppState>,
    _caller: Authed<Viewer>,
    Paged { paging, filter }: Paged<InboundRouteQuery>,
) -> ApiResult<axum::Json<Page<InboundRouteView>>> {
    Ok(axum::Json(
        state
            .services
            .routes()
            .list_inbound_routes(filter, paging)
            .await?,
    ))
}

#[utoipa::path(operation_id = "create_inbound_route", post, path = "/api/v1/inbound-routes", tag = "routes",
    request_body = NewInboundRoute,
    responses((status = 201, body = InboundRouteView, description = "Created and applied (see `apply`)"),
        (status = 202, body = InboundRouteView, description = "Saved; the apply is pending"), (status = 409, body = Problem),
        (status = 422, body = Problem, description = "An invalid field, or an extension or trunk that does not exist")))]
pub async fn create_inbound(
    State(state): State<AppState>,
    caller: Authed<Operator>,
    Json(input): Json<NewInboundRoute>,
) -> ApiResult<impl IntoResponse> {
    let view = state
        .services
        .routes()
        .create_inbound_route(&caller.actor(), input)
        .await?;
    let location = format!("/api/v1/inbound-routes/{}", view.id);
    Ok((
        status(&view.apply, StatusCode::CREATED),
        [(axum::http::header::LOCATION, location)],
        axum::Json(view),
    ))
}

#[utoipa::path(operation_id = "show_inbound_route", get, path = "/api/v1/inbound-routes/{id}", tag = "routes",
    params(("id" = i64, Path, description = "Route id")),
    responses((status = 200, body = InboundRouteView), (status = 404, body = Problem)))]
pub async fn show_inbound(
    State(state): State<AppState>,
    _caller: Authed<Viewer>,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<InboundRouteView>> {
    Ok(axum::Json(
        state.services.routes().get_inbound_route(id).await?,
    ))
}

#[utoipa::path(operation_id = "update_inbound_route", patch, path = "/api/v1/inbound-routes/{id}", tag = "routes",
    request_body = InboundRoutePatch, params(("id" = i64, Path, description = "Route id")),
    responses((status = 200, body = InboundRouteView), (status = 202, body = InboundRouteView),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update_inbound(
    State(state): State<AppState>,
    caller: Authed<Operator>,
    Path(id): Path<i64>,
    Json(patch): Json<InboundRoutePatch>,
) -> ApiResult<(StatusCode, axum::Json<InboundRouteView>)> {
    let view = state
        .services
        .routes()
        .update_inbound_route(&caller.actor(), id, patch)
        .await?;
    Ok((status(&view.apply, StatusCode::OK), axum::Json(view)))
}

#[utoipa::path(operation_id = "remove_inbound_route", delete, path = "/api/v1/inbound-routes/{id}", tag = "routes",
    params(("id" = i64, Path, description = "Route id")),
    responses((status = 200, body = DeleteView, description = "Deleted; `apply` says what Asterisk loaded"),
        (status = 202, body = DeleteView), (status = 404, body = Problem)))]
pub async fn remove_inbound(
    State(state): State<AppState>,
    caller: Authed<Operator>,
    Path(id): Path<i64>,
) -> ApiResult<(StatusCode, axum::Json<DeleteView>)> {
    let apply = state
        .services
        .routes()
        .delete_inbound_route(&caller.actor(), id)
        .await?;
    Ok(deleted(id.to_string(), apply))
}
