//! `/api/v1/extensions`

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::AppState;
use super::error::{ApiResult, Problem};
use super::extract::{Authed, Json, Operator, Query, Viewer};
use crate::model::extension::{ExtensionPatch, NewExtension};
use crate::service::Page;
use crate::service::extensions::{ExtensionQuery, ExtensionView};

#[utoipa::path(operation_id = "list_extension", get, path = "/api/v1/extensions", tag = "extensions", params(ExtensionQuery),
    responses((status = 200, body = Page<ExtensionView>), (status = 401, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Authed<Viewer>,
    Query(query): Query<ExtensionQuery>,
) -> ApiResult<axum::Json<Page<ExtensionView>>> {
    Ok(axum::Json(state.services.list_extensions(query).await?))
}

#[utoipa::path(operation_id = "create_extension", post, path = "/api/v1/extensions", tag = "extensions", request_body = NewExtension,
    responses((status = 201, body = ExtensionView), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Authed<Operator>,
    Json(input): Json<NewExtension>,
) -> ApiResult<impl IntoResponse> {
    let view = state.services.create_extension(&caller.actor(), input).await?;
    let location = format!("/api/v1/extensions/{}", view.extension);
    Ok((StatusCode::CREATED, [(axum::http::header::LOCATION, location)], axum::Json(view)))
}

#[utoipa::path(operation_id = "show_extension", get, path = "/api/v1/extensions/{number}", tag = "extensions",
    params(("number" = String, Path, description = "Extension number")),
    responses((status = 200, body = ExtensionView), (status = 404, body = Problem)))]
pub async fn show(
    State(state): State<AppState>,
    _caller: Authed<Viewer>,
    Path(number): Path<String>,
) -> ApiResult<axum::Json<ExtensionView>> {
    Ok(axum::Json(state.services.get_extension(&number).await?))
}

#[utoipa::path(operation_id = "update_extension", patch, path = "/api/v1/extensions/{number}", tag = "extensions", request_body = ExtensionPatch,
    params(("number" = String, Path, description = "Extension number")),
    responses((status = 200, body = ExtensionView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Authed<Operator>,
    Path(number): Path<String>,
    Json(patch): Json<ExtensionPatch>,
) -> ApiResult<axum::Json<ExtensionView>> {
    Ok(axum::Json(state.services.update_extension(&caller.actor(), &number, patch).await?))
}

#[utoipa::path(operation_id = "remove_extension", delete, path = "/api/v1/extensions/{number}", tag = "extensions",
    params(("number" = String, Path, description = "Extension number")),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Authed<Operator>,
    Path(number): Path<String>,
) -> ApiResult<StatusCode> {
    state.services.delete_extension(&caller.actor(), &number).await?;
    Ok(StatusCode::NO_CONTENT)
}
