//! The HTTP API: REST routes, extractors, problem+json errors, OpenAPI.

pub mod asterisk;
pub mod audit;
pub mod calls;
pub mod error;
pub mod events;
pub mod extensions;
pub mod extract;
pub mod health;
pub mod tokens;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::service::Services;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub openapi: Arc<utoipa::openapi::OpenApi>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "rayan", description = "Control plane for Asterisk and Kamailio"),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "extensions", description = "Phones: endpoint, auth and aor"),
        (name = "tokens", description = "API tokens and roles"),
        (name = "asterisk", description = "What Asterisk has loaded"),
        (name = "applies", description = "Writes, reloads and verifications"),
        (name = "audit", description = "Who changed what"),
        (name = "events", description = "The event stream (WebSocket)"),
        (name = "calls", description = "Call history, click-to-call and hang-up"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(extensions::list, extensions::create))
        .routes(routes!(extensions::show, extensions::update, extensions::remove))
        .routes(routes!(extensions::verify))
        .routes(routes!(asterisk::status))
        .routes(routes!(asterisk::endpoints))
        .routes(routes!(asterisk::list_applies, asterisk::force_apply))
        .routes(routes!(asterisk::show_apply))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::revoke))
        .routes(routes!(audit::list))
        .routes(routes!(events::stream))
        .routes(routes!(calls::list, calls::create))
        .routes(routes!(calls::hang_up))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
}

/// The OpenAPI document, generated from the handlers' annotations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_routes().split_for_parts().1
}

/// The whole HTTP application.
pub fn router(services: Services) -> Router {
    let (routes, openapi) = api_routes().split_for_parts();
    let settings = services.settings.clone();
    let state = AppState { services, openapi: Arc::new(openapi) };
    routes
        .route("/api/v1/openapi.json", axum::routing::get(health::openapi_json))
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .layer(cors_layer(&settings.cors_origins))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

fn cors_layer(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
}
