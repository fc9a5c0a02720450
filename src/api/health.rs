//! Liveness, readiness, metrics and the OpenAPI document.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiResult, Problem};
use super::extract::{Authed, Viewer};
use crate::model::LinkState;
use crate::service::status::KamailioState;

/// Liveness: the process answers. Needs no token.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()), responses((status = 200, body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: `ready` is `database` and (once an apply worker runs) `apply_worker`.
/// `asterisk` and `kamailio` are information only: the daemon stays useful, and
/// keeps changes for later, while Asterisk restarts.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    pub ready: bool,
    pub database: bool,
    /// Whether the apply worker is alive; null until this build runs one.
    pub apply_worker: Option<bool>,
    /// The AMI connection; null until this build has an AMI client.
    pub asterisk: Option<LinkState>,
    /// Kamailio; null when no Kamailio is configured or not yet checked.
    pub kamailio: Option<KamailioState>,
}

/// Readiness: the database answers and the apply worker is alive.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness), (status = 401, body = Problem)))]
pub async fn readyz(
    State(state): State<AppState>,
    _caller: Authed<Viewer>,
) -> (StatusCode, axum::Json<Readiness>) {
    let database = state.services.database_answers().await;
    let board = state.status.snapshot();
    let ready = database && board.apply_worker_alive != Some(false);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Readiness {
        ready,
        database,
        apply_worker: board.apply_worker_alive,
        asterisk: board.ami,
        kamailio: board.kamailio,
    };
    (status, axum::Json(body))
}

/// Prometheus text exposition of the daemon's metrics.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, body = String, content_type = "text/plain"), (status = 401, body = Problem)))]
pub async fn metrics(State(state): State<AppState>, _caller: Authed<Viewer>) -> impl IntoResponse {
    let mut text = crate::metrics::render();
    state.services.security().render_metrics(&mut text);
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text)
}

pub async fn openapi_json(
    State(state): State<AppState>,
    _caller: Authed<Viewer>,
) -> ApiResult<axum::Json<utoipa::openapi::OpenApi>> {
    Ok(axum::Json((*state.openapi).clone()))
}
