//! `/api/v1/audit` (admin only)

use axum::extract::State;

use super::AppState;
use super::error::{ApiResult, Problem};
use super::extract::{Admin, Authed, Paged};
use crate::service::Page;
use crate::service::audit::AuditView;

#[utoipa::path(operation_id = "list_audit", get, path = "/api/v1/audit", tag = "audit", params(Paged),
    responses((status = 200, body = Page<AuditView>), (status = 403, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Authed<Admin>,
    Paged { paging, .. }: Paged,
) -> ApiResult<axum::Json<Page<AuditView>>> {
    Ok(axum::Json(state.services.audit().list(paging).await?))
}
