//! `/api/v1/nodes` and `/api/v1/kamailio/*`. Without a `[kamailio]` section
//! every Kamailio route answers 404 `not-configured`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::AppState;
use super::error::{ApiResult, Problem};
use super::extract::{Authed, Json, Operator, Paged, Path, Viewer};
use crate::service::Page;
use crate::service::applies::ApplyView;
use crate::service::cluster::NodeView;
use crate::service::kamailio::{
    AddressPatch, AddressView, DeletedView, DestinationPatch, DestinationView, KamailioStatus,
    NewAddress, NewDestination,
};

fn write_status(apply: Option<&ApplyView>, done: StatusCode) -> StatusCode {
    if apply.is_some_and(ApplyView::is_pending) {
        StatusCode::ACCEPTED
    } else {
        done
    }
}

#[utoipa::path(operation_id = "list_node", get, path = "/api/v1/nodes", tag = "kamailio", params(Paged),
    responses((status = 200, body = Page<NodeView>), (status = 401, body = Problem)))]
pub async fn list_nodes(
    State(state): State<AppState>,
    _caller: Authed<Viewer>,
    Paged { paging, .. }: Paged,
) -> ApiResult<axum::Json<Page<NodeView>>> {
    Ok(axum::Json(
        paging.page(state.services.cluster().list_nodes().await?),
    ))
}

#[utoipa::path(operation_id = "kamailio_status", get, path = "/api/v1/kamailio/status", tag = "kamailio",
    responses((status = 200, body = KamailioStatus, description = "Reachability, version and live destinations"),
        (status = 404, body = Problem, description = "Kamailio is not configured")))]
pub async fn status(
    State(state): State<AppState>,
    _caller: Authed<Viewer>,
) -> ApiResult<axum::Json<KamailioStatus>> {
    Ok(axum::Json(state.services.kamailio().status().await?))
}

#[utoipa::path(operation_id = "list_kamailio_dispatcher", get, path = "/api/v1/kamailio/dispatchers", tag = "kamailio",
    params(Paged), responses((status = 200, body = Page<DestinationView>), (status = 404, body = Problem)))]
pub async fn list_dispatchers(
    State(state): State<AppState>,
    _caller: Authed<Viewer>,
    Paged { paging, .. }: Paged,
) -> ApiResult<axum::Json<Page<DestinationView>>> {
    Ok(axum::Json(paging.page(
        state.services.kamailio().list_destinations().await?,
    )))
}

#[utoipa::path(operation_id = "create_kamailio_dispatcher", post, path = "/api/v1/kamailio/dispatchers", tag = "kamailio",
    request_body = NewDestination,
    responses((status = 201, body = DestinationView, description = "Created and loaded by Kamailio (see `apply`)"),
        (status = 202, body = DestinationView, description = "Saved; Kamailio is unreachable, so the apply is pending"),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_dispatcher(
    State(state): State<AppState>,
    caller: Authed<Operator>,
    Json(input): Json<NewDestination>,
) -> ApiResult<impl IntoResponse> {
    let view = state
        .services
        .kamailio()
        .create_destination(&caller.actor(), input)
        .await?;
    let location = format!("/api/v1/kamailio/dispatchers/{}", view.id);
    Ok((
        write_status(view.apply.as_ref(), StatusCode::CREATED),
        [(axum::http::header::LOCATION, location)],
        axum::Json(view),
    ))
}

#[utoipa::path(operation_id = "show_kamailio_dispatcher", get, path = "/api/v1/kamailio/dispatchers/{id}", tag = "kamailio",
    params(("id" = i64, Path, description = "Destination id")),
    responses((status = 200, body = DestinationView), (status = 404, body = Problem)))]
pub async fn show_dispatcher(
    State(state): State<AppState>,
    _caller: Authed<Viewer>,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<DestinationView>> {
    Ok(axum::Json(
        state.services.kamailio().get_destination(id).await?,
    ))
}

#[utoipa::path(operation_id = "update_kamailio_dispatcher", patch, path = "/api/v1/kamailio/dispatchers/{id}", tag = "kamailio",
    request_body = DestinationPatch, params(("id" = i64, Path, description = "Destination id")),
    responses((status = 200, body = DestinationView), (status = 202, body = DestinationView), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn update_dispatcher(
    State(state): State<AppState>,
    caller: Authed<Operator>,
    Path(id): Path<i64>,
    Json(patch): Json<DestinationPatch>,
) -> ApiResult<(StatusCode, axum::Json<DestinationView>)> {
    let view = state
        .services
        .kamailio()
        .update_destination(&caller.actor(), id, patch)
        .await?;
    Ok((
        write_status(view.apply.as_ref(), StatusCode::OK),
        axum::Json(view),
    ))
}

#[utoipa::path(operation_id = "remove_kamailio_dispatcher", delete, path = "/api/v1/kamailio/dispatchers/{id}", tag = "kamailio",
    params(("id" = i64, Path, description = "Destination id")),
    responses((status = 200, body = DeletedView), (status = 202, body = DeletedView), (status = 404, body = Problem)))]
pub async fn remove_dispatcher(
    State(state): State<AppState>,
    caller: Authed<Operator>,
    Path(id): Path<i64>,
) -> ApiResult<(StatusCode, axum::Json<DeletedView>)> {
    let apply = state
        .services
        .kamailio()
        .delete_destination(&caller.actor(), id)
        .await?;
    Ok((
        write_status(Some(&apply), StatusCode::OK),
        axum::Json(DeletedView { deleted: id, apply }),
    ))
}

#[utoipa::path(operation_id = "list_kamailio_address", get, path = "/api/v1/kamailio/addresses", tag = "kamailio",
    params(Paged), responses((status = 200, body = Page<AddressView>), (status = 404, body = Problem)))]
pub async fn list_addresses(
    State(state): State<AppState>,
    _caller: Authed<Viewer>,
    Paged { paging, .. }: Paged,
) -> ApiResult<axum::Json<Page<AddressView>>> {
    Ok(axum::Json(
        paging.page(state.services.kamailio().list_addresses().await?),
    ))
}

#[utoipa::path(operation_id = "create_kamailio_address", post, path = "/api/v1/kamailio/addresses", tag = "kamailio",
    request_body = NewAddress,
    responses((status = 201, body = AddressView), (status = 202, body = AddressView), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_address(
    State(state): State<AppState>,
    caller: Authed<Operator>,
    Json(input): Json<NewAddress>,
) -> ApiResult<impl IntoResponse> {
    let view = state
        .services
        .kamailio()
        .create_address(&caller.actor(), input)
        .await?;
    let location = format!("/api/v1/kamailio/addresses/{}", view.id);
    Ok((
        write_status(view.apply.as_ref(), StatusCode::CREATED),
        [(axum::http::header::LOCATION, location)],
        axum::Json(view),
    ))
}

#[utoipa::path(operation_id = "show_kamailio_address", get, path = "/api/v1/kamailio/addresses/{id}", tag = "kamailio",
    params(("id" = i64, Path, description = "Address id")),
    responses((status = 200, body = AddressView), (status = 404, body = Problem)))]
pub async fn show_address(
    State(state): State<AppState>,
    _caller: Authed<Viewer>,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<AddressView>> {
    Ok(axum::Json(state.services.kamailio().get_address(id).await?))
}

#[utoipa::path(operation_id = "update_kamailio_address", patch, path = "/api/v1/kamailio/addresses/{id}", tag = "kamailio",
    request_body = AddressPatch, params(("id" = i64, Path, description = "Address id")),
    responses((status = 200, body = AddressView), (status = 202, body = AddressView), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn update_address(
    State(state): State<AppState>,
    caller: Authed<Operator>,
    Path(id): Path<i64>,
    Json(patch): Json<AddressPatch>,
) -> ApiResult<(StatusCode, axum::Json<AddressView>)> {
    let view = state
        .services
        .kamailio()
        .update_address(&caller.actor(), id, patch)
        .await?;
    Ok((
        write_status(view.apply.as_ref(), StatusCode::OK),
        axum::Json(view),
    ))
}

#[utoipa::path(operation_id = "remove_kamailio_address", delete, path = "/api/v1/kamailio/addresses/{id}", tag = "kamailio",
    params(("id" = i64, Path, description = "Address id")),
    responses((status = 200, body = DeletedView), (status = 202, body = DeletedView), (status = 404, body = Problem)))]
pub async fn remove_address(
    State(state): State<AppState>,
    caller: Authed<Operator>,
    Path(id): Path<i64>,
) -> ApiResult<(StatusCode, axum::Json<DeletedView>)> {
    let apply = state
        .services
        .kamailio()
        .delete_address(&caller.actor(), id)
        .await?;
    Ok((
        write_status(Some(&apply), StatusCode::OK),
        axum::Json(DeletedView { deleted: id, apply }),
    ))
}
