//! Request extractors: bearer-token authentication with a role check, and JSON
//! bodies and queries whose errors come back as problem+json naming the field.

use std::marker::PhantomData;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;
use crate::model::Role;
use crate::service::tokens::Caller;

/// The least role a route needs.
pub trait RequiredRole: Send + Sync + 'static {
    const ROLE: Role;
}
pub struct Viewer;
pub struct Operator;
pub struct Admin;
impl RequiredRole for Viewer {
    const ROLE: Role = Role::Viewer;
}
impl RequiredRole for Operator {
    const ROLE: Role = Role::Operator;
}
impl RequiredRole for Admin {
    const ROLE: Role = Role::Admin;
}

/// An authenticated caller whose role allows at least `R`.
pub struct Authed<R: RequiredRole> {
    pub caller: Caller,
    _role: PhantomData<R>,
}

impl<R: RequiredRole> std::ops::Deref for Authed<R> {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.caller
    }
}

fn header_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// `?token=` for clients that cannot set headers (browser WebSockets).
pub fn query_token(parts: &Parts) -> Option<String> {
    let query = parts.uri.query()?;
    url_pairs(query).find(|(k, _)| k == "token").map(|(_, v)| v)
}

fn url_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned()))
}

/// Authenticates a request from its `Authorization: Bearer` header, or from
/// `?token=` when `allow_query` is set, and checks the role.
pub async fn authenticate(parts: &Parts, state: &AppState, required: Role, allow_query: bool) -> Result<Caller, ApiError> {
    let token = match header_token(parts) {
        Some(t) => t.to_owned(),
        None if allow_query => query_token(parts).ok_or(ApiError::Unauthorized("a bearer token is required"))?,
        None => return Err(ApiError::Unauthorized("a bearer token is required")),
    };
    let caller = state
        .services
        .authenticate(&token)
        .await?
        .ok_or(ApiError::Unauthorized("the token is unknown or revoked"))?;
    if !caller.role.allows(required) {
        return Err(ApiError::Forbidden(required));
    }
    Ok(caller)
}

impl<R: RequiredRole> FromRequestParts<AppState> for Authed<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let caller = authenticate(parts, state, R::ROLE, false).await?;
        Ok(Authed { caller, _role: PhantomData })
    }
}

/// A JSON body. Malformed JSON is 400; a wrong, missing or unknown field is 422
/// naming it; a body over the limit is 413; another media type is 415.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| {
                let v = v.trim();
                v.eq_ignore_ascii_case("application/json") || v.to_ascii_lowercase().ends_with("+json")
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::MalformedJson(rejection.body_text())
            }
        })?;
        parse_json(&bytes).map(Json)
    }
}

/// Deserialises JSON, turning serde's error into a problem that names the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(value) => {
            de.end().map_err(|e| ApiError::MalformedJson(e.to_string()))?;
            Ok(value)
        }
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            if inner.is_syntax() || inner.is_eof() || inner.is_io() {
                return Err(ApiError::MalformedJson(inner.to_string()));
            }
            let message = strip_position(&inner.to_string());
            Err(ApiError::field(field_name(&path, &message), message))
        }
    }
}

/// The field an error is about: serde's path, or for unknown and missing fields
/// (reported on the enclosing object) the name quoted in the message.
fn field_name(path: &str, message: &str) -> String {
    let quoted = message.split('`').nth(1).filter(|_| {
        message.starts_with("unknown field") || message.starts_with("missing field")
    });
    match (path, quoted) {
        (".", Some(name)) => name.to_owned(),
        (path, Some(name)) if path == name || path.ends_with(&format!(".{name}")) => path.to_owned(),
        (_, Some(name)) => format!("{path}.{name}"),
        (".", None) => "body".to_owned(),
        (path, None) => path.to_owned(),
    }
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// A query string; a bad parameter is 422 naming it.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded_deserializer(query);
        match de {
            Ok(value) => Ok(Query(value)),
            Err((field, message)) => Err(ApiError::field(field, message)),
        }
    }
}

fn serde_urlencoded_deserializer<T: DeserializeOwned>(query: &str) -> Result<T, (String, String)> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize::<_, T>(de).map_err(|err| {
        let path = err.path().to_string();
        let message = err.into_inner().to_string();
        (field_name(&path, &message), message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_is_named() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct T {
            a: u32,
        }
        match parse_json::<T>(br#"{"a": 1, "bogus": 2}"#) {
            Err(ApiError::Validation(errors)) => assert_eq!(errors.0[0].field, "bogus"),
            other => panic!("unexpected {other:?}"),
        }
        match parse_json::<T>(br#"{"a": "x"}"#) {
            Err(ApiError::Validation(errors)) => assert_eq!(errors.0[0].field, "a"),
            other => panic!("unexpected {other:?}"),
        }
        match parse_json::<T>(br#"{}"#) {
            Err(ApiError::Validation(errors)) => assert_eq!(errors.0[0].field, "a"),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(parse_json::<T>(b"{"), Err(ApiError::MalformedJson(_))));
    }
}
