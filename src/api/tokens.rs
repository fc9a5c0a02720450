//! `/api/v1/tokens` (admin only)

use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;
use super::error::{ApiResult, Problem};
use super::extract::{Admin, Authed, Json, Paged, Path};
use crate::service::Page;
use crate::service::tokens::{NewToken, TokenView};

#[utoipa::path(operation_id = "list_token", get, path = "/api/v1/tokens", tag = "tokens", params(Paged),
    responses((status = 200, body = Page<TokenView>), (status = 403, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Authed<Admin>,
    Paged { paging, .. }: Paged,
) -> ApiResult<axum::Json<Page<TokenView>>> {
    Ok(axum::Json(
        paging.page(state.services.tokens().list().await?),
    ))
}

#[utoipa::path(operation_id = "create_token", post, path = "/api/v1/tokens", tag = "tokens", request_body = NewToken,
    responses((status = 201, body = TokenView, description = "The token is in `token`, shown only this once"),
        (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Authed<Admin>,
    Json(input): Json<NewToken>,
) -> ApiResult<(StatusCode, axum::Json<TokenView>)> {
    let view = state
        .services
        .tokens()
        .create(&caller.actor(), input)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(view)))
}

#[utoipa::path(operation_id = "revoke_token", delete, path = "/api/v1/tokens/{id}", tag = "tokens",
    params(("id" = i64, Path, description = "Token id")),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Authed<Admin>,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    state.services.tokens().revoke(&caller.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
