//! `/api/v1/asterisk/*` and `/api/v1/applies`

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{AnyOfBuilder, Schema};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use super::AppState;
use super::error::{ApiResult, Problem};
use super::extract::{Admin, Authed, Operator, Paged, Path, Query, Viewer};
use crate::model::apply::{ApplyReport, DryRun, Outcome};
use crate::service::Page;
use crate::service::applies::ApplyRecord;
use crate::service::asterisk::{AsteriskStatus, EndpointRow, RestartView};

#[utoipa::path(operation_id = "asterisk_status", get, path = "/api/v1/asterisk/status", tag = "asterisk",
    responses((status = 200, body = AsteriskStatus)))]
pub async fn status(
    State(state): State<AppState>,
    _caller: Authed<Viewer>,
) -> axum::Json<AsteriskStatus> {
    axum::Json(state.services.asterisk().status())
}

#[utoipa::path(operation_id = "asterisk_endpoints", get, path = "/api/v1/asterisk/endpoints", tag = "asterisk", params(Paged),
    responses((status = 200, body = Page<EndpointRow>), (status = 503, body = Problem)))]
pub async fn endpoints(
    State(state): State<AppState>,
    _caller: Authed<Viewer>,
    Paged { paging, .. }: Paged,
) -> ApiResult<axum::Json<Page<EndpointRow>>> {
    Ok(axum::Json(
        paging.page(state.services.asterisk().endpoints().await?),
    ))
}

#[utoipa::path(operation_id = "list_applies", get, path = "/api/v1/applies", tag = "applies", params(Paged),
    responses((status = 200, body = Page<ApplyRecord>)))]
pub async fn list_applies(
    State(state): State<AppState>,
    _caller: Authed<Viewer>,
    Paged { paging, .. }: Paged,
) -> ApiResult<axum::Json<Page<ApplyRecord>>> {
    Ok(axum::Json(state.services.applies().list(paging).await?))
}

#[utoipa::path(operation_id = "show_apply", get, path = "/api/v1/applies/{id}", tag = "applies",
    params(("id" = i64, Path, description = "Apply id")),
    responses((status = 200, body = ApplyRecord), (status = 404, body = Problem)))]
pub async fn show_apply(
    State(state): State<AppState>,
    _caller: Authed<Viewer>,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<ApplyRecord>> {
    Ok(axum::Json(state.services.applies().get(id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ForceQuery {
    /// Show the unified diff an apply would write; change nothing.
    pub dry_run: Option<bool>,
}

/// The answer of `POST /api/v1/applies`: the apply's report, or with
/// `dry_run=true` what an apply would write.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ForcedApply {
    Report(ApplyReport),
    DryRun(DryRun),
}

/// `anyOf`: a derived (`oneOf`) schema would refuse a report whose files
/// happen to fit a dry run's too.
impl PartialSchema for ForcedApply {
    fn schema() -> RefOr<Schema> {
        AnyOfBuilder::new()
            .item(Ref::from_schema_name(ApplyReport::name()))
            .item(Ref::from_schema_name(DryRun::name()))
            .description(Some(
                "The apply's report, or with `dry_run=true` what an apply would write",
            ))
            .into()
    }
}

impl ToSchema for ForcedApply {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((ApplyReport::name().into(), ApplyReport::schema()));
        ApplyReport::schemas(schemas);
        schemas.push((DryRun::name().into(), DryRun::schema()));
        DryRun::schemas(schemas);
    }
}

#[utoipa::path(operation_id = "force_apply", post, path = "/api/v1/applies", tag = "applies", params(ForceQuery),
    responses((status = 200, body = ForcedApply, description = "The apply's outcome, or with dry_run=true what would be written"),
        (status = 202, body = ApplyReport, description = "Pending: Asterisk is unreachable"), (status = 503, body = Problem)))]
pub async fn force_apply(
    State(state): State<AppState>,
    caller: Authed<Operator>,
    Query(q): Query<ForceQuery>,
) -> ApiResult<Response> {
    if q.dry_run.unwrap_or(false) {
        let plan = ForcedApply::DryRun(state.services.applies().dry_run().await?);
        return Ok(axum::Json(plan).into_response());
    }
    let report = state
        .services
        .applies()
        .force(&format!("forced by {}", caller.name))
        .await?;
    let status = if report.status == Outcome::Pending {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(ForcedApply::Report(report))).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RestartQuery {
    /// Restart at once, dropping the calls in progress (default: after they end).
    pub now: Option<bool>,
    /// How long to wait for Asterisk to be back, in seconds (default 60, at most 600).
    pub wait_secs: Option<u64>,
}

#[utoipa::path(operation_id = "asterisk_restart", post, path = "/api/v1/asterisk/restart", tag = "asterisk",
    params(RestartQuery),
    responses((status = 200, body = RestartView, description = "Asterisk is back; `transports` says what runs"),
        (status = 202, body = RestartView, description = "Requested; Asterisk is not back yet"),
        (status = 409, body = Problem, description = "Asterisk refused the command (the AMI user lacks `command`)"),
        (status = 503, body = Problem, description = "Asterisk is not reachable")))]
pub async fn restart(
    State(state): State<AppState>,
    _caller: Authed<Admin>,
    Query(query): Query<RestartQuery>,
) -> ApiResult<(StatusCode, axum::Json<RestartView>)> {
    let wait = std::time::Duration::from_secs(query.wait_secs.unwrap_or(60));
    let view = state
        .services
        .asterisk()
        .restart(query.now.unwrap_or(false), wait)
        .await?;
    let status = if view.status == Outcome::Pending && view.booted_after_ms.is_none() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(view)))
}
