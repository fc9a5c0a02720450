//! `/api/v1/trunks`

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::AppState;
use super::error::{ApiResult, Problem};
use super::extensions::DeleteView;
use super::extract::{Authed, Json, Operator, Paged, Path, Viewer};
use crate::model::trunk::{NewTrunk, TrunkPatch};
use crate::service::Page;
use crate::service::applies::ApplyView;
use crate::service::trunks::TrunkCheck;
use crate::service::trunks::{TrunkQuery, TrunkView};

#[utoipa::path(operation_id = "list_trunk", get, path = "/api/v1/trunks", tag = "trunks", params(Paged<TrunkQuery>),
    responses((status = 200, body = Page<TrunkView>), (status = 401, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Authed<Viewer>,
    Paged { paging, filter }: Paged<TrunkQuery>,
) -> ApiResult<axum::Json<Page<TrunkView>>> {
    Ok(axum::Json(
        state.services.trunks().list(filter, paging).await?,
    ))
}

#[utoipa::path(operation_id = "create_trunk", post, path = "/api/v1/trunks", tag = "trunks", request_body = NewTrunk,
    responses((status = 201, body = TrunkView, description = "Created and applied (see `apply`)"),
        (status = 202, body = TrunkView, description = "Saved; Asterisk is unreachable, so the apply is pending"),
        (status = 409, body = Problem),
        (status = 422, body = Problem, description = "An invalid field, or one the provider requires")))]
pub async fn create(
    State(state): State<AppState>,
    caller: Authed<Operator>,
    Json(input): Json<NewTrunk>,
) -> ApiResult<impl IntoResponse> {
    let view = state
        .services
        .trunks()
        .create(&caller.actor(), input)
        .await?;
    let location = format!("/api/v1/trunks/{}", view.name);
    let status = if pending(&view.apply) {
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

#[utoipa::path(operation_id = "show_trunk", get, path = "/api/v1/trunks/{name}", tag = "trunks",
    params(("name" = String, Path, description = "Trunk name")),
    responses((status = 200, body = TrunkView), (status = 404, body = Problem)))]
pub async fn show(
    State(state): State<AppState>,
    _caller: Authed<Viewer>,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<TrunkView>> {
    Ok(axum::Json(state.services.trunks().get(&name).await?))
}

#[utoipa::path(operation_id = "update_trunk", patch, path = "/api/v1/trunks/{name}", tag = "trunks", request_body = TrunkPatch,
    params(("name" = String, Path, description = "Trunk name")),
    responses((status = 200, body = TrunkView), (status = 202, body = TrunkView, description = "Saved; the apply is pending"),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Authed<Operator>,
    Path(name): Path<String>,
    Json(patch): Json<TrunkPatch>,
) -> ApiResult<(StatusCode, axum::Json<TrunkView>)> {
    let view = state
        .services
        .trunks()
        .update(&caller.actor(), &name, patch)
        .await?;
    let status = if pending(&view.apply) {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(view)))
}

#[utoipa::path(operation_id = "remove_trunk", delete, path = "/api/v1/trunks/{name}", tag = "trunks",
    params(("name" = String, Path, description = "Trunk name")),
    responses((status = 200, body = DeleteView, description = "Deleted; `apply` says whether Asterisk dropped it"), (status = 202, body = DeleteView), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "Routes still use the trunk; the detail lists them")))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Authed<Operator>,
    Path(name): Path<String>,
) -> ApiResult<(StatusCode, axum::Json<DeleteView>)> {
    let apply = state
        .services
        .trunks()
        .delete(&caller.actor(), &name)
        .await?;
    let status = if apply.is_pending() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        axum::Json(DeleteView {
            deleted: name,
            apply,
        }),
    ))
}

fn pending(apply: &Option<ApplyView>) -> bool {
    apply.as_ref().is_some_and(ApplyView::is_pending)
}

#[utoipa::path(operation_id = "check_trunk", post, path = "/api/v1/trunks/{name}/check", tag = "trunks",
    params(("name" = String, Path, description = "Trunk name")),
    responses((status = 200, body = TrunkCheck, description = "Registered again; what the registrar answered within 10 s"),
        (status = 404, body = Problem), (status = 503, body = Problem, description = "Asterisk is not reachable")))]
pub async fn check(
    State(state): State<AppState>,
    _caller: Authed<Operator>,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<TrunkCheck>> {
    Ok(axum::Json(state.services.trunks().check(&name).await?))
}
