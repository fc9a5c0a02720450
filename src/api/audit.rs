//! `/api/v1/audit` (admin only)

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use super::AppState;
use super::error::{ApiResult, Problem};
use super::extract::{Admin, Authed, Query};
use crate::service::audit::AuditView;
use crate::service::{Page, Paging};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

#[utoipa::path(operation_id = "list_audit", get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Page<AuditView>), (status = 403, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Authed<Admin>,
    Query(query): Query<AuditQuery>,
) -> ApiResult<axum::Json<Page<AuditView>>> {
    Ok(axum::Json(state.services.list_audit(Paging::new(query.limit, query.offset)).await?))
}
