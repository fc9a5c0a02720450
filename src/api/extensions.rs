//! `/api/v1/extensions`

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::AppState;
use super::error::{ApiResult, Problem};
use super::extract::{Authed, Json, Operator, Paged, Path, Query, Viewer};
use crate::model::extension::{ExtensionPatch, NewExtension};
use crate::service::Page;
use crate::service::applies::ApplyView;
use crate::service::asterisk::VerifyView;
use crate::service::extensions::{BulkCreated, ExtensionQuery, ExtensionView};

#[utoipa::path(operation_id = "list_extension", get, path = "/api/v1/extensions", tag = "extensions", params(Paged<ExtensionQuery>),
    responses((status = 200, body = Page<ExtensionView>), (status = 401, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Authed<Viewer>,
    Paged { paging, filter }: Paged<ExtensionQuery>,
) -> ApiResult<axum::Json<Page<ExtensionView>>> {
    Ok(axum::Json(
        state.services.extensions().list(filter, paging).await?,
    ))
}

#[utoipa::path(operation_id = "create_extension", post, path = "/api/v1/extensions", tag = "extensions", request_body = NewExtension,
    responses((status = 201, body = ExtensionView, description = "Created and applied (see `apply`)"),
        (status = 202, body = ExtensionView, description = "Saved; Asterisk is unreachable, so the apply is pending"), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Authed<Operator>,
    Json(input): Json<NewExtension>,
) -> ApiResult<impl IntoResponse> {
    let view = state
        .services
        .extensions()
        .create(&caller.actor(), input)
        .await?;
    let location = format!("/api/v1/extensions/{}", view.extension);
    let status = if pending(&view) {
        StatusCode::ACCEPTED
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        [(axum::http::header::LOCATION, location)],
        axum::Json(view),
    ))
}

#[utoipa::path(operation_id = "show_extension", get, path = "/api/v1/extensions/{number}", tag = "extensions",
    params(("number" = String, Path, description = "Extension number")),
    responses((status = 200, body = ExtensionView), (status = 404, body = Problem)))]
pub async fn show(
    State(state): State<AppState>,
    _caller: Authed<Viewer>,
    Path(number): Path<String>,
) -> ApiResult<axum::Json<ExtensionView>> {
    Ok(axum::Json(state.services.extensions().get(&number).await?))
}

#[utoipa::path(operation_id = "update_extension", patch, path = "/api/v1/extensions/{number}", tag = "extensions", request_body = ExtensionPatch,
    params(("number" = String, Path, description = "Extension number")),
    responses((status = 200, body = ExtensionView), (status = 202, body = ExtensionView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Authed<Operator>,
    Path(number): Path<String>,
    Json(patch): Json<ExtensionPatch>,
) -> ApiResult<(StatusCode, axum::Json<ExtensionView>)> {
    let view = state
        .services
        .extensions()
        .update(&caller.actor(), &number, patch)
        .await?;
    let status = if pending(&view) {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(view)))
}

#[utoipa::path(operation_id = "remove_extension", delete, path = "/api/v1/extensions/{number}", tag = "extensions",
    params(("number" = String, Path, description = "Extension number")),
    responses((status = 200, body = DeleteView, description = "Deleted; `apply` says whether Asterisk dropped it"),
        (status = 202, body = DeleteView), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Authed<Operator>,
    Path(number): Path<String>,
) -> ApiResult<(StatusCode, axum::Json<DeleteView>)> {
    let apply = state
        .services
        .extensions()
        .delete(&caller.actor(), &number)
        .await?;
    let status = if apply.is_pending() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        axum::Json(DeleteView {
            deleted: number,
            apply,
        }),
    ))
}

/// The answer to a delete.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct DeleteView {
    pub deleted: String,
    pub apply: ApplyView,
}

/// `POST /api/v1/extensions/bulk` options.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BulkQuery {
    /// Create the valid rows and list the others, instead of refusing the batch.
    pub skip_invalid: Option<bool>,
}

/// Up to 10,000 extensions fit; the other routes keep `max_body_bytes`.
pub const BULK_BODY_BYTES: usize = 16 * 1024 * 1024;

#[utoipa::path(operation_id = "bulk_create_extensions", post, path = "/api/v1/extensions/bulk", tag = "extensions",
    request_body = Vec<NewExtension>, params(BulkQuery),
    responses((status = 201, body = BulkCreated, description = "Created in one transaction and applied once"),
        (status = 202, body = BulkCreated, description = "Saved; the apply is pending"),
        (status = 422, body = Problem, description = "A row is invalid (fields named `[index].field`); nothing was created")))]
pub async fn bulk(
    State(state): State<AppState>,
    caller: Authed<Operator>,
    Query(query): Query<BulkQuery>,
    Json(rows): Json<Vec<NewExtension>>,
) -> ApiResult<(StatusCode, axum::Json<BulkCreated>)> {
    let created = state
        .services
        .extensions()
        .create_all(&caller.actor(), rows, query.skip_invalid.unwrap_or(false))
        .await?;
    let status = if created.apply.as_ref().is_some_and(ApplyView::is_pending) {
        StatusCode::ACCEPTED
    } else {
        StatusCode::CREATED
    };
    Ok((status, axum::Json(created)))
}

#[utoipa::path(operation_id = "export_extensions", get, path = "/api/v1/extensions/export", tag = "extensions",
    responses((status = 200, content_type = "text/csv", body = String, description = "Every extension, a header row first; never a secret"),
        (status = 401, body = Problem)))]
pub async fn export(
    State(state): State<AppState>,
    _caller: Authed<Viewer>,
) -> ApiResult<impl IntoResponse> {
    let csv = state.services.extensions().export_csv().await?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"extensions.csv\"",
            ),
        ],
        csv,
    ))
}

fn pending(view: &ExtensionView) -> bool {
    view.apply.as_ref().is_some_and(ApplyView::is_pending)
}

#[utoipa::path(operation_id = "verify_extension", get, path = "/api/v1/extensions/{number}/verify", tag = "extensions",
    params(("number" = String, Path, description = "Extension number")),
    responses((status = 200, body = VerifyView), (status = 404, body = Problem), (status = 503, body = Problem)))]
pub async fn verify(
    State(state): State<AppState>,
    _caller: Authed<Viewer>,
    Path(number): Path<String>,
) -> ApiResult<axum::Json<VerifyView>> {
    Ok(axum::Json(
        state.services.asterisk().verify_extension(&number).await?,
    ))
}
