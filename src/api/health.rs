//! Liveness, readiness and the OpenAPI document.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiResult, Problem};
use super::extract::{Authed, Viewer};

/// Liveness: the process answers. Needs no token.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()), responses((status = 200, body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    pub ready: bool,
    pub database: bool,
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness), (status = 401, body = Problem)))]
pub async fn readyz(State(state): State<AppState>, _caller: Authed<Viewer>) -> (StatusCode, axum::Json<Readiness>) {
    let database = crate::store::ping(&state.services.db).await;
    let status = if database { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(Readiness { ready: database, database }))
}

pub async fn openapi_json(
    State(state): State<AppState>,
    _caller: Authed<Viewer>,
) -> ApiResult<axum::Json<utoipa::openapi::OpenApi>> {
    Ok(axum::Json((*state.openapi).clone()))
}
