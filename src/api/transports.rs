//! `/api/v1/transports` (by name): the PJSIP transports rayan manages.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::AppState;
use super::error::{ApiResult, Problem};
use super::extensions::DeleteView;
use super::extract::{Admin, Authed, Json, Paged, Path, Viewer};
use super::routes::{deleted, status};
use crate::model::transport::{NewTransport, TransportPatch};
use crate::service::Page;
use crate::service::transports::TransportView;

#[utoipa::path(operation_id = "list_transport", get, path = "/api/v1/transports", tag = "transports",
    params(Paged), responses((status = 200, body = Page<TransportView>), (status = 401, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Authed<Viewer>,
    Paged { paging, .. }: Paged,
) -> ApiResult<axum::Json<Page<TransportView>>> {
    Ok(axum::Json(state.services.transports().list(paging).await?))
}

#[utoipa::path(operation_id = "create_transport", post, path = "/api/v1/transports", tag = "transports",
    request_body = NewTransport,
    responses((status = 201, body = TransportView, description = "Created; `apply` says what is live and what waits for a restart"),
        (status = 202, body = TransportView, description = "Saved; the apply is pending"),
        (status = 409, body = Problem, description = "Another transport has this name or socket"),
        (status = 422, body = Problem, description = "An invalid field, or a certificate file rayand cannot read")))]
pub async fn create(
    State(state): State<AppState>,
    caller: Authed<Admin>,
    Json(input): Json<NewTransport>,
) -> ApiResult<impl IntoResponse> {
    let view = state
        .services
        .transports()
        .create(&caller.actor(), input)
        .await?;
    let location = format!("/api/v1/transports/{}", view.name);
    Ok((
        status(&view.apply, StatusCode::CREATED),
        [(axum::http::header::LOCATION, location)],
        axum::Json(view),
    ))
}

#[utoipa::path(operation_id = "show_transport", get, path = "/api/v1/transports/{name}", tag = "transports",
    params(("name" = String, Path, description = "Transport name")),
    responses((status = 200, body = TransportView), (status = 404, body = Problem)))]
pub async fn show(
    State(state): State<AppState>,
    _caller: Authed<Viewer>,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<TransportView>> {
    Ok(axum::Json(state.services.transports().get(&name).await?))
}

#[utoipa::path(operation_id = "update_transport", patch, path = "/api/v1/transports/{name}", tag = "transports",
    request_body = TransportPatch, params(("name" = String, Path, description = "Transport name")),
    responses((status = 200, body = TransportView), (status = 202, body = TransportView),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Authed<Admin>,
    Path(name): Path<String>,
    Json(patch): Json<TransportPatch>,
) -> ApiResult<(StatusCode, axum::Json<TransportView>)> {
    let view = state
        .services
        .transports()
        .update(&caller.actor(), &name, patch)
        .await?;
    Ok((status(&view.apply, StatusCode::OK), axum::Json(view)))
}

#[utoipa::path(operation_id = "remove_transport", delete, path = "/api/v1/transports/{name}", tag = "transports",
    params(("name" = String, Path, description = "Transport name")),
    responses((status = 200, body = DeleteView), (status = 202, body = DeleteView),
        (status = 404, body = Problem), (status = 409, body = Problem, description = "Extensions or trunks use it (listed)")))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Authed<Admin>,
    Path(name): Path<String>,
) -> ApiResult<(StatusCode, axum::Json<DeleteView>)> {
    let apply = state
        .services
        .transports()
        .delete(&caller.actor(), &name)
        .await?;
    Ok(deleted(name, apply))
}
