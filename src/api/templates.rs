//! `/api/v1/provider-templates` and `/api/v1/extension-templates`

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::AppState;
use super::error::{ApiResult, Problem};
use super::extract::{Admin, Authed, Json, Paged, Path, Viewer};
use crate::service::Page;
use crate::service::templates::ProviderTemplate;
use crate::service::templates::{ExtensionTemplateView, ProviderTemplateView};

#[utoipa::path(operation_id = "list_provider_template", get, path = "/api/v1/provider-templates", tag = "templates",
    params(Paged), responses((status = 200, body = Page<ProviderTemplateView>), (status = 401, body = Problem)))]
pub async fn list_providers(
    State(state): State<AppState>,
    _caller: Authed<Viewer>,
    Paged { paging, .. }: Paged,
) -> ApiResult<axum::Json<Page<ProviderTemplateView>>> {
    Ok(axum::Json(paging.page(
        state.services.templates().list_provider_templates().await?,
    )))
}

/// Administrators' own templates; every option must be a documented PJSIP option of
/// its section type.
#[utoipa::path(operation_id = "create_provider_template", post, path = "/api/v1/provider-templates", tag = "templates",
    request_body = ProviderTemplate,
    responses((status = 201, body = ProviderTemplateView), (status = 403, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem, description = "Each problem on its field, e.g. `endpoint.<option>`")))]
pub async fn create_provider(
    State(state): State<AppState>,
    caller: Authed<Admin>,
    Json(template): Json<ProviderTemplate>,
) -> ApiResult<impl IntoResponse> {
    let view = state
        .services
        .templates()
        .create_provider_template(&caller.actor(), template)
        .await?;
    let location = format!("/api/v1/provider-templates/{}", view.template.id);
    Ok((
        StatusCode::CREATED,
        [(axum::http::header::LOCATION, location)],
        axum::Json(view),
    ))
}

#[utoipa::path(operation_id = "show_provider_template", get, path = "/api/v1/provider-templates/{id}", tag = "templates",
    params(("id" = String, Path, description = "Provider template id")),
    responses((status = 200, body = ProviderTemplateView), (status = 404, body = Problem)))]
pub async fn show_provider(
    State(state): State<AppState>,
    _caller: Authed<Viewer>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<ProviderTemplateView>> {
    Ok(axum::Json(
        state
            .services
            .templates()
            .get_provider_template(&id)
            .await?,
    ))
}

#[utoipa::path(operation_id = "remove_provider_template", delete, path = "/api/v1/provider-templates/{id}", tag = "templates",
    params(("id" = String, Path, description = "Provider template id")),
    responses((status = 204), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "Built in, or trunks still use it (the detail lists them)")))]
pub async fn remove_provider(
    State(state): State<AppState>,
    caller: Authed<Admin>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .services
        .templates()
        .delete_provider_template(&caller.actor(), &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(operation_id = "list_extension_template", get, path = "/api/v1/extension-templates", tag = "templates",
    params(Paged), responses((status = 200, body = Page<ExtensionTemplateView>), (status = 401, body = Problem)))]
pub async fn list_extensions(
    State(state): State<AppState>,
    _caller: Authed<Viewer>,
    Paged { paging, .. }: Paged,
) -> ApiResult<axum::Json<Page<ExtensionTemplateView>>> {
    Ok(axum::Json(
        paging.page(
            state
                .services
                .templates()
                .list_extension_templates()
                .await?,
        ),
    ))
}

#[utoipa::path(operation_id = "show_extension_template", get, path = "/api/v1/extension-templates/{id}", tag = "templates",
    params(("id" = String, Path, description = "Extension template id")),
    responses((status = 200, body = ExtensionTemplateView), (status = 404, body = Problem)))]
pub async fn show_extension(
    State(state): State<AppState>,
    _caller: Authed<Viewer>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<ExtensionTemplateView>> {
    Ok(axum::Json(
        state
            .services
            .templates()
            .get_extension_template(&id)
            .await?,
    ))
}
