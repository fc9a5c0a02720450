//! `POST /api/v1/import`: adopt the hand-written phones of Asterisk's pjsip.conf.

use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;
use super::error::{ApiResult, Problem};
use super::extract::{Admin, Authed, Query};
use crate::service::import::{ImportQuery, ImportView};

#[utoipa::path(operation_id = "import", post, path = "/api/v1/import", tag = "extensions",
    params(ImportQuery),
    responses((status = 200, body = ImportView, description = "The plan (dry run), or the switch-over and how each phone came through"),
        (status = 202, body = ImportView, description = "Switched over; the apply is still pending"),
        (status = 422, body = Problem, description = "A file that cannot be read as config, named with its line"),
        (status = 503, body = Problem, description = "Asterisk is not reachable")))]
pub async fn import(
    State(state): State<AppState>,
    caller: Authed<Admin>,
    Query(query): Query<ImportQuery>,
) -> ApiResult<(StatusCode, axum::Json<ImportView>)> {
    let view = state
        .services
        .import()
        .import(&caller.actor(), query)
        .await?;
    let status = if view.apply.as_ref().is_some_and(|a| a.is_pending()) {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(view)))
}
