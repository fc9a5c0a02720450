//! `/api/v1/calls`: the call history, click-to-call and hang-up.

use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;
use super::error::{ApiResult, Problem};
use super::extract::{Authed, Json, Operator, Paged, Path, Viewer};
use crate::service::Page;
use crate::service::calls::{CallQuery, CallView};
use crate::service::click_to_call::{CallHungUp, CallStarted, NewCall};

#[utoipa::path(operation_id = "list_calls", get, path = "/api/v1/calls", tag = "calls", params(Paged<CallQuery>),
    responses((status = 200, body = Page<CallView>, description = "Ended calls, newest first"),
        (status = 401, body = Problem), (status = 422, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Authed<Viewer>,
    Paged { paging, filter }: Paged<CallQuery>,
) -> ApiResult<axum::Json<Page<CallView>>> {
    Ok(axum::Json(
        state.services.calls().list(filter, paging).await?,
    ))
}

#[utoipa::path(operation_id = "click_to_call", post, path = "/api/v1/calls", tag = "calls", request_body = NewCall,
    description = "Rings `from` (AMI Originate of `PJSIP/<from>` into `<from's context>,<to>,1`) and, once it answers, \
connects it to `to` through the dialplan. The answer's `id` is the `linkedid` of this call's `call` and `hangup` events \
and of its call history row.",
    responses((status = 202, body = CallStarted, description = "Asterisk is placing the call"),
        (status = 409, body = Problem, description = "Asterisk could not ring `from` (e.g. not registered)"),
        (status = 422, body = Problem, description = "Unknown or disabled extension"),
        (status = 503, body = Problem, description = "Asterisk is not reachable")))]
pub async fn create(
    State(state): State<AppState>,
    caller: Authed<Operator>,
    Json(input): Json<NewCall>,
) -> ApiResult<(StatusCode, axum::Json<CallStarted>)> {
    let started = state
        .services
        .calls()
        .click_to_call(&caller.actor(), input)
        .await?;
    Ok((StatusCode::ACCEPTED, axum::Json(started)))
}

#[utoipa::path(operation_id = "hang_up_call", delete, path = "/api/v1/calls/{id}", tag = "calls",
    params(("id" = String, Path, description = "The call id (its linkedid), or the uniqueid of one of its channels")),
    responses((status = 200, body = CallHungUp), (status = 404, body = Problem, description = "No live call with this id"),
        (status = 503, body = Problem)))]
pub async fn hang_up(
    State(state): State<AppState>,
    caller: Authed<Operator>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<CallHungUp>> {
    Ok(axum::Json(
        state.services.calls().hang_up(&caller.actor(), &id).await?,
    ))
}
