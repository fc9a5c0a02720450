//! The HTTP API: REST routes, extractors, problem+json errors, OpenAPI.

pub mod asterisk;
pub mod audit;
pub mod calls;
pub mod cors;
pub mod document;
pub mod error;
pub mod events;
pub mod extensions;
pub mod extract;
pub mod health;
pub mod import;
pub mod kamailio;
pub mod prefer;
pub mod routes;
pub mod security;
pub mod templates;
pub mod tokens;
pub mod transports;
pub mod trunks;

use std::any::Any;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::service::Services;
use crate::service::status::StatusBoard;
pub use cors::CorsOrigins;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub openapi: Arc<utoipa::openapi::OpenApi>,
    pub status: StatusBoard,
}

/// Run-time parts the HTTP layer shares with the daemon: the CORS origins a
/// SIGHUP replaces, and the status board `/readyz` reports.
#[derive(Clone, Default)]
pub struct Runtime {
    pub cors: CorsOrigins,
    pub status: StatusBoard,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "rayan", description = "Control plane for Asterisk and Kamailio"),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "extensions", description = "Phones: endpoint, auth and aor"),
        (name = "trunks", description = "Connections to SIP providers"),
        (name = "transports", description = "PJSIP transports: sockets, NAT and TLS"),
        (name = "security", description = "Failed authentications and blocked addresses"),
        (name = "routes", description = "Inbound (DID to extension) and outbound (pattern to trunk) routes"),
        (name = "templates", description = "Extension and provider templates"),
        (name = "tokens", description = "API tokens and roles"),
        (name = "asterisk", description = "What Asterisk has loaded"),
        (name = "kamailio", description = "Nodes, Kamailio dispatcher sets and trusted addresses"),
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
        .routes(routes!(
            extensions::show,
            extensions::update,
            extensions::remove
        ))
        .routes(routes!(trunks::list, trunks::create))
        .routes(routes!(trunks::show, trunks::update, trunks::remove))
        .routes(routes!(trunks::check))
        .routes(routes!(security::list_blocked, security::block))
        .routes(routes!(security::unblock))
        .routes(routes!(security::sources))
        .routes(routes!(transports::list, transports::create))
        .routes(routes!(
            transports::show,
            transports::update,
            transports::remove
        ))
        .routes(routes!(routes::list_outbound, routes::create_outbound))
        .routes(routes!(
            routes::show_outbound,
            routes::update_outbound,
            routes::remove_outbound
        ))
        .routes(routes!(routes::list_inbound, routes::create_inbound))
        .routes(routes!(
            routes::show_inbound,
            routes::update_inbound,
            routes::remove_inbound
        ))
        .routes(routes!(
            templates::list_providers,
            templates::create_provider
        ))
        .routes(routes!(
            templates::show_provider,
            templates::remove_provider
        ))
        .routes(routes!(templates::list_extensions))
        .routes(routes!(templates::show_extension))
        .routes(routes!(extensions::verify))
        .routes(routes!(extensions::export))
        .routes(routes!(import::import))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(extensions::bulk))
                .layer(DefaultBodyLimit::max(extensions::BULK_BODY_BYTES)),
        )
        .routes(routes!(asterisk::status))
        .routes(routes!(asterisk::endpoints))
        .routes(routes!(asterisk::restart))
        .routes(routes!(asterisk::list_applies, asterisk::force_apply))
        .routes(routes!(asterisk::show_apply))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::revoke))
        .routes(routes!(audit::list))
        .routes(routes!(events::stream))
        .routes(routes!(calls::list, calls::create))
        .routes(routes!(calls::hang_up))
        .routes(routes!(kamailio::list_nodes))
        .routes(routes!(kamailio::status))
        .routes(routes!(
            kamailio::list_dispatchers,
            kamailio::create_dispatcher
        ))
        .routes(routes!(
            kamailio::show_dispatcher,
            kamailio::update_dispatcher,
            kamailio::remove_dispatcher
        ))
        .routes(routes!(kamailio::list_addresses, kamailio::create_address))
        .routes(routes!(
            kamailio::show_address,
            kamailio::update_address,
            kamailio::remove_address
        ))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
}

/// The OpenAPI document, generated from the handlers' annotations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = api_routes().split_for_parts().1;
    document::complete(&mut doc);
    doc
}

/// Answers a request whose handler panicked with a 500 problem+json instead of
/// a dropped connection, and logs the panic. A panic is a bug all the same.
type PanicAnswer = fn(Box<dyn Any + Send + 'static>) -> Response;

fn panic_guard() -> CatchPanicLayer<PanicAnswer> {
    CatchPanicLayer::custom(answer_panic as PanicAnswer)
}

/// The panic itself was logged by the daemon's panic hook (`logging`), once.
fn answer_panic(_panic: Box<dyn Any + Send + 'static>) -> Response {
    error::ApiError::Internal.into_response()
}

/// The whole HTTP application, sharing `runtime` with the daemon; request bodies
/// above `max_body_bytes` get a 413.
pub fn router(services: Services, runtime: Runtime, max_body_bytes: usize) -> Router {
    let (routes, mut doc) = api_routes().split_for_parts();
    document::complete(&mut doc);
    let state = AppState {
        services,
        openapi: Arc::new(doc),
        status: runtime.status,
    };
    routes
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(health::openapi_json),
        )
        .layer(panic_guard())
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(axum::middleware::from_fn(prefer::honour))
        // Inside the CORS layer, so preflights answered by it are not counted.
        .layer(axum::middleware::from_fn(crate::metrics::track_http))
        .layer(runtime.cors.layer())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_answers_500_problem_json() {
        async fn panics() -> &'static str {
            let offset: u64 = 1 << 63;
            let bound = i64::try_from(offset).expect("binds");
            panic!("unreachable with {bound}")
        }
        let app = Router::new()
            .route("/boom", axum::routing::get(panics))
            .layer(panic_guard());
        let response = app
            .clone()
            .oneshot(Request::get("/boom").body(Body::empty()).expect("request"))
            .await
            .expect("an answer, not a dropped connection");
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            error::PROBLEM_JSON
        );
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .expect("body");
        let problem: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(problem["status"], 500);
        assert_eq!(problem["type"], "urn:rayan:problem:internal");
        // The router keeps serving after a panic.
        let again = app
            .oneshot(Request::get("/boom").body(Body::empty()).expect("request"))
            .await
            .expect("answer");
        assert_eq!(again.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
