//! `/api/v1/security`: blocked source addresses, and who fails to
//! authenticate (admins only).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::IntoParams;

use super::AppState;
use super::error::{ApiResult, Problem};
use super::extensions::DeleteView;
use super::extract::{Admin, Authed, Json, Path, Query};
use super::routes::{deleted, status};

use crate::service::security::{BlockedView, NewBlock, SourceReport};

#[utoipa::path(operation_id = "list_blocked", get, path = "/api/v1/security/blocked", tag = "security",
    responses((status = 200, body = Vec<BlockedView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_blocked(
    State(state): State<AppState>,
    _caller: Authed<Admin>,
) -> ApiResult<axum::Json<Vec<BlockedView>>> {
    Ok(axum::Json(state.services.security().blocked().await?))
}

#[utoipa::path(operation_id = "block_address", post, path = "/api/v1/security/blocked", tag = "security",
    request_body = NewBlock,
    responses((status = 201, body = BlockedView, description = "Blocked; `apply` says whether it is live"),
        (status = 202, body = BlockedView, description = "Saved; the apply is pending"),
        (status = 422, body = Problem, description = "Not one address, or one rayan never blocks")))]
pub async fn block(
    State(state): State<AppState>,
    caller: Authed<Admin>,
    Json(input): Json<NewBlock>,
) -> ApiResult<impl IntoResponse> {
    let view = state
        .services
        .security()
        .block(&caller.actor(), input)
        .await?;
    Ok((status(&view.apply, StatusCode::CREATED), axum::Json(view)))
}

#[utoipa::path(operation_id = "unblock_address", delete, path = "/api/v1/security/blocked/{address}", tag = "security",
    params(("address" = String, Path, description = "The blocked address")),
    responses((status = 200, body = DeleteView), (status = 202, body = DeleteView),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn unblock(
    State(state): State<AppState>,
    caller: Authed<Admin>,
    Path(address): Path<String>,
) -> ApiResult<(StatusCode, axum::Json<DeleteView>)> {
    let apply = state
        .services
        .security()
        .unblock(&caller.actor(), &address)
        .await?;
    Ok(deleted(address, apply))
}

/// `GET /api/v1/security/sources` options.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SourcesQuery {
    /// At most this many (1 to 1000, default 100).
    pub limit: Option<usize>,
}

#[utoipa::path(operation_id = "list_sources", get, path = "/api/v1/security/sources", tag = "security",
    params(SourcesQuery),
    responses((status = 200, body = Vec<SourceReport>, description = "Sources with failed attempts, the most recent failures first"),
        (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn sources(
    State(state): State<AppState>,
    _caller: Authed<Admin>,
    Query(query): Query<SourcesQuery>,
) -> ApiResult<axum::Json<Vec<SourceReport>>> {
    let limit = query.limit.unwrap_or(100).clamp(1, 1_000);
    Ok(axum::Json(state.services.security().sources(limit)))
}
