//! The one error type of the HTTP layer, answered as `application/problem+json`
//! (RFC 9457) with per-field messages.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::model::{FieldError, FieldErrors, Role};
use crate::service::ServiceError;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem, e.g. `urn:rayan:problem:validation`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// One entry per invalid field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug)]
pub enum ApiError {
    Validation(FieldErrors),
    MalformedJson(String),
    /// A path parameter that does not parse (e.g. an id beyond 64 bits).
    InvalidPath {
        name: String,
        message: String,
    },
    UnsupportedMediaType,
    PayloadTooLarge,
    Unauthorized(&'static str),
    Forbidden(Role),
    NotFound(String),
    Conflict(String),
    InUse {
        what: String,
        by: String,
    },
    Refused(String),
    Unavailable(String),
    Rejected(String),
    NotConfigured(String),
    Internal,
}

impl ApiError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::new();
        errors.push(field, message);
        ApiError::Validation(errors)
    }

    fn parts(
        self,
    ) -> (
        StatusCode,
        &'static str,
        &'static str,
        String,
        Vec<FieldError>,
    ) {
        use ApiError::*;
        match self {
            Validation(errors) => {
                let detail = errors.to_string();
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation",
                    "Invalid input",
                    detail,
                    errors.0,
                )
            }
            MalformedJson(detail) => (
                StatusCode::BAD_REQUEST,
                "malformed-json",
                "Malformed JSON",
                detail,
                vec![],
            ),
            InvalidPath { name, message } => {
                let detail = format!("{name}: {message}");
                let errors = vec![FieldError {
                    field: name,
                    message,
                }];
                (
                    StatusCode::BAD_REQUEST,
                    "invalid-path",
                    "Invalid path parameter",
                    detail,
                    errors,
                )
            }
            UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "send the body as application/json".into(),
                vec![],
            ),
            PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Request body too large",
                "the request body exceeds the configured max_body_bytes".into(),
                vec![],
            ),
            Unauthorized(why) => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Unauthorized",
                why.into(),
                vec![],
            ),
            Forbidden(role) => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "Forbidden",
                format!("this needs the {role} role"),
                vec![],
            ),
            NotFound(what) => (
                StatusCode::NOT_FOUND,
                "not-found",
                "Not found",
                format!("{what} not found"),
                vec![],
            ),
            Conflict(what) => (
                StatusCode::CONFLICT,
                "conflict",
                "Conflict",
                format!("{what} already exists"),
                vec![],
            ),
            InUse { what, by } => (
                StatusCode::CONFLICT,
                "in-use",
                "Still in use",
                format!("{what} is still used by {by}"),
                vec![],
            ),
            Refused(detail) => (StatusCode::CONFLICT, "refused", "Refused", detail, vec![]),
            Unavailable(detail) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
                detail,
                vec![],
            ),
            Rejected(detail) => (
                StatusCode::CONFLICT,
                "rejected",
                "Refused by Asterisk",
                detail,
                vec![],
            ),
            NotConfigured(detail) => (
                StatusCode::NOT_FOUND,
                "not-configured",
                "Not configured",
                detail,
                vec![],
            ),
            Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                "the request failed; nothing was changed (see the rayand log)".into(),
                vec![],
            ),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Validation(errors) => ApiError::Validation(errors),
            ServiceError::NotFound(what) => ApiError::NotFound(what),
            ServiceError::Conflict(what) => ApiError::Conflict(what),
            ServiceError::InUse { what, by } => ApiError::InUse { what, by },
            ServiceError::Refused(detail) => ApiError::Refused(detail),
            ServiceError::Unavailable(detail) => ApiError::Unavailable(detail),
            ServiceError::Rejected(detail) => ApiError::Rejected(detail),
            ServiceError::NotConfigured(detail) => ApiError::NotConfigured(detail),
            ServiceError::Store(err) => {
                tracing::error!(error = %err, "request failed in the store");
                ApiError::Internal
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind, title, detail, errors) = self.parts();
        let problem = Problem {
            kind: format!("urn:rayan:problem:{kind}"),
            title: title.into(),
            status: status.as_u16(),
            detail,
            errors,
        };
        let mut response = (status, axum::Json(problem)).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
