//! Request extractors: bearer-token authentication with a role check, JSON
//! bodies, queries, list pages and path parameters whose errors come back as
//! problem+json naming the field or parameter.

use std::marker::PhantomData;

use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::header;
use axum::http::request::Parts;
use bytes::Bytes;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::IntoParams;
use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};

use super::AppState;
use super::error::ApiError;
use crate::model::{FieldErrors, Role};
use crate::service::Paging;
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
pub async fn authenticate(
    parts: &Parts,
    state: &AppState,
    required: Role,
    allow_query: bool,
) -> Result<Caller, ApiError> {
    let token = match header_token(parts) {
        Some(t) => t.to_owned(),
        None if allow_query => {
            query_token(parts).ok_or(ApiError::Unauthorized("a bearer token is required"))?
        }
        None => return Err(ApiError::Unauthorized("a bearer token is required")),
    };
    let caller = state
        .services
        .tokens()
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

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = authenticate(parts, state, R::ROLE, false).await?;
        Ok(Authed {
            caller,
            _role: PhantomData,
        })
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
                v.eq_ignore_ascii_case("application/json")
                    || v.to_ascii_lowercase().ends_with("+json")
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
            de.end()
                .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
            refuse_nul_in_json(bytes)?;
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

/// What no text in a request may hold: PostgreSQL refuses it in text, and no
/// name, number or option of Asterisk or Kamailio has it.
const NUL_MESSAGE: &str = "must not contain the NUL character (U+0000)";

/// A JSON string can only hold NUL escaped: look closer when the escape is there.
fn refuse_nul_in_json(bytes: &[u8]) -> Result<(), ApiError> {
    if bytes.windows(6).any(|w| w == br"\u0000")
        && let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes)
        && let Some(field) = nul_field(&value, String::new())
    {
        return Err(ApiError::field(field, NUL_MESSAGE));
    }
    Ok(())
}

/// The path of the first string (or key) holding NUL, `body` for the whole body.
fn nul_field(value: &serde_json::Value, path: String) -> Option<String> {
    let here = || {
        if path.is_empty() {
            "body".to_owned()
        } else {
            path.clone()
        }
    };
    match value {
        serde_json::Value::String(text) => text.contains('\0').then(here),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_field(item, format!("{}[{i}]", here()))),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            let child = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if key.contains('\0') {
                Some(child.replace('\0', "\\0"))
            } else {
                nul_field(item, child)
            }
        }),
        _ => None,
    }
}

/// The field an error is about: serde's path, or for unknown and missing fields
/// (reported on the enclosing object) the name quoted in the message.
fn field_name(path: &str, message: &str) -> String {
    let quoted = message
        .split('`')
        .nth(1)
        .filter(|_| message.starts_with("unknown field") || message.starts_with("missing field"));
    match (path, quoted) {
        (".", Some(name)) => name.to_owned(),
        (path, Some(name)) if path == name || path.ends_with(&format!(".{name}")) => {
            path.to_owned()
        }
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
    let pairs = form_urlencoded::parse(query.as_bytes());
    if let Some((key, _)) = pairs
        .into_iter()
        .find(|(k, v)| k.contains('\0') || v.contains('\0'))
    {
        return Err((key.replace('\0', "\\0"), NUL_MESSAGE.to_owned()));
    }
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize::<_, T>(de).map_err(|err| {
        let path = err.path().to_string();
        let message = err.into_inner().to_string();
        (field_name(&path, &message), message)
    })
}

/// The query of a list: `limit` and `offset` within the bounds of a page
/// ([`Paging`]), and every other parameter deserialised into the list's
/// filters `F` (a struct with `deny_unknown_fields`). A bad or unknown parameter
/// is 422 naming it; a limit above [`Paging::MAX_LIMIT`] is applied as that
/// maximum, which the page's `limit` then reports.
pub struct Paged<F = NoFilter> {
    pub paging: Paging,
    pub filter: F,
}

/// The filters of a list that has none: any parameter but `limit` and `offset` is unknown.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoFilter {}

impl IntoParams for NoFilter {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        Vec::new()
    }
}

impl<F: DeserializeOwned> Paged<F> {
    /// Reads a query string (without the `?`).
    pub fn parse(query: &str) -> Result<Self, ApiError> {
        let mut errors = FieldErrors::new();
        let (mut limit, mut offset) = (None, None);
        let mut rest = form_urlencoded::Serializer::new(String::new());
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*key {
                "limit" => once(&mut limit, "limit", parse_limit(&value), &mut errors),
                "offset" => once(&mut offset, "offset", parse_offset(&value), &mut errors),
                _ => {
                    rest.append_pair(&key, &value);
                }
            }
        }
        let filter = match serde_urlencoded_deserializer::<F>(&rest.finish()) {
            Ok(filter) => filter,
            Err((field, message)) => {
                errors.push(field, message);
                return Err(ApiError::Validation(errors));
            }
        };
        errors.finish().map_err(ApiError::Validation)?;
        Ok(Paged {
            paging: Paging::new(limit, offset),
            filter,
        })
    }
}

/// Keeps the first value of a parameter; a second one is an error.
fn once(slot: &mut Option<u64>, name: &str, value: Result<u64, String>, errors: &mut FieldErrors) {
    match value {
        Ok(_) if slot.is_some() => errors.push(name, "must be given at most once"),
        Ok(value) => *slot = Some(value),
        Err(message) => errors.push(name, message),
    }
}

fn is_number(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit())
}

/// Any whole number: one above the maximum is applied as the maximum.
fn parse_limit(value: &str) -> Result<u64, String> {
    if !is_number(value) {
        return Err(format!(
            "must be a whole number from 0 (only the total) to {}",
            Paging::MAX_LIMIT
        ));
    }
    Ok(value
        .parse::<u64>()
        .unwrap_or(u64::MAX)
        .min(Paging::MAX_LIMIT))
}

/// A whole number the database can bind.
fn parse_offset(value: &str) -> Result<u64, String> {
    match value.parse::<u64>() {
        Ok(offset) if is_number(value) && offset <= Paging::MAX_OFFSET => Ok(offset),
        _ => Err(format!(
            "must be a whole number from 0 to {}",
            Paging::MAX_OFFSET
        )),
    }
}

impl<F: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Paged<F> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Paged::parse(parts.uri.query().unwrap_or(""))
    }
}

/// Documents `limit` and `offset` with their bounds, then the filters.
impl<F: IntoParams> IntoParams for Paged<F> {
    fn into_params(parameter_in_provider: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let limit = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(0))
            .default(Some(Paging::DEFAULT_LIMIT.into()));
        let offset = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(0))
            .maximum(Some(Paging::MAX_OFFSET))
            .default(Some(0.into()));
        let mut params = vec![
            ParameterBuilder::new()
                .name("limit")
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some(format!(
                    "How many items at most (default {}). Above {max} the page holds at most {max} and its \
                     `limit` says so; 0 answers only `total`.",
                    Paging::DEFAULT_LIMIT,
                    max = Paging::MAX_LIMIT
                )))
                .schema(Some(limit))
                .build(),
            ParameterBuilder::new()
                .name("offset")
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some("How many items to skip"))
                .schema(Some(offset))
                .build(),
        ];
        params.extend(F::into_params(parameter_in_provider));
        params
    }
}

/// Path parameters. One that does not parse (an id beyond a 64-bit integer,
/// text that is not UTF-8) is 400 naming the parameter.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Ok(params) = RawPathParams::from_request_parts(parts, state).await
            && let Some((name, _)) = params.iter().find(|(_, value)| value.contains('\0'))
        {
            let (name, message) = (name.to_owned(), NUL_MESSAGE.to_owned());
            return Err(ApiError::InvalidPath { name, message });
        }
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => {
                let first = RawPathParams::from_request_parts(parts, state)
                    .await
                    .ok()
                    .and_then(|params| params.iter().next().map(|(key, _)| key.to_owned()));
                Err(path_error(rejection, first))
            }
        }
    }
}

fn path_error(rejection: PathRejection, first: Option<String>) -> ApiError {
    let PathRejection::FailedToDeserializePathParams(error) = rejection else {
        tracing::error!(error = %rejection.body_text(), "a route's path parameters are missing");
        return ApiError::Internal;
    };
    let fallback = || first.clone().unwrap_or_else(|| "path".to_owned());
    let (name, message) = match error.into_kind() {
        ErrorKind::ParseErrorAtKey {
            key, expected_type, ..
        } => (key, expected(expected_type)),
        ErrorKind::ParseError { expected_type, .. } => (fallback(), expected(expected_type)),
        ErrorKind::InvalidUtf8InPathParam { key } => (key, "must be UTF-8 text".to_owned()),
        other => (fallback(), other.to_string()),
    };
    ApiError::InvalidPath { name, message }
}

fn expected(type_name: &str) -> String {
    match type_name {
        "i64" => format!("must be a whole number from {} to {}", i64::MIN, i64::MAX),
        other => format!("must be a valid {other}"),
    }
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
        assert!(matches!(
            parse_json::<T>(b"{"),
            Err(ApiError::MalformedJson(_))
        ));
    }

    #[test]
    fn nul_in_any_text_is_named() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct T {
            a: String,
            list: Vec<String>,
            map: std::collections::BTreeMap<String, String>,
        }
        let field = |body: &str| match parse_json::<T>(body.as_bytes()) {
            Err(ApiError::Validation(errors)) => errors.0[0].field.clone(),
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(field(r#"{"a": "x\u0000", "list": [], "map": {}}"#), "a");
        assert_eq!(
            field(r#"{"a": "", "list": ["", "\u0000"], "map": {}}"#),
            "list[1]"
        );
        assert_eq!(
            field(r#"{"a": "", "list": [], "map": {"k": "\u0000"}}"#),
            "map.k"
        );
        assert_eq!(
            field(r#"{"a": "", "list": [], "map": {"\u0000": ""}}"#),
            "map.\\0"
        );
        let escaped = br#"{"a": "\\u0000", "list": [], "map": {}}"#;
        assert!(
            parse_json::<T>(escaped).is_ok(),
            "an escaped backslash is no NUL"
        );
        match Paged::<NoFilter>::parse("x%00=1") {
            Err(ApiError::Validation(errors)) => assert_eq!(errors.0[0].field, "x\\0"),
            other => panic!("unexpected {:?}", other.err()),
        }
    }

    fn names(result: Result<Paged<NoFilter>, ApiError>) -> Vec<String> {
        match result {
            Err(ApiError::Validation(errors)) => errors.0.into_iter().map(|e| e.field).collect(),
            Err(other) => panic!("unexpected {other:?}"),
            Ok(paged) => panic!("accepted {:?}", paged.paging),
        }
    }

    #[test]
    fn a_page_keeps_to_its_bounds() {
        let paged = Paged::<NoFilter>::parse("").expect("valid");
        assert_eq!(
            paged.paging,
            Paging {
                limit: Paging::DEFAULT_LIMIT,
                offset: 0
            }
        );
        let paged = Paged::<NoFilter>::parse("limit=0&offset=9223372036854775807").expect("valid");
        assert_eq!(
            paged.paging,
            Paging {
                limit: 0,
                offset: Paging::MAX_OFFSET
            }
        );
        for huge in [
            "1001",
            "100000000",
            "18446744073709551616",
            "99999999999999999999999999",
        ] {
            let paged = Paged::<NoFilter>::parse(&format!("limit={huge}")).expect("valid");
            assert_eq!(paged.paging.limit, Paging::MAX_LIMIT, "{huge}");
        }
        for bad in [
            "9223372036854775808",
            "18446744073709551616",
            "-1",
            "+1",
            "",
            "1e3",
            "x",
        ] {
            assert_eq!(
                names(Paged::parse(&format!("offset={bad}"))),
                ["offset"],
                "{bad}"
            );
        }
        for bad in ["-1", "", "1.5", "%00"] {
            assert_eq!(
                names(Paged::parse(&format!("limit={bad}"))),
                ["limit"],
                "{bad}"
            );
        }
        assert_eq!(names(Paged::parse("limit=1&limit=2")), ["limit"]);
    }

    #[test]
    fn a_page_refuses_unknown_parameters_by_name() {
        assert_eq!(names(Paged::parse("limit=5&bogus=1")), ["bogus"]);
        assert_eq!(
            names(Paged::parse("offset=-1&bogus=1")),
            ["offset", "bogus"]
        );

        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        struct Filter {
            enabled: Option<bool>,
        }
        let paged = Paged::<Filter>::parse("enabled=true&limit=3").expect("valid");
        assert_eq!((paged.filter.enabled, paged.paging.limit), (Some(true), 3));
        match Paged::<Filter>::parse("enabled=maybe") {
            Err(ApiError::Validation(errors)) => assert_eq!(errors.0[0].field, "enabled"),
            other => panic!("unexpected {:?}", other.err()),
        }
    }
}
