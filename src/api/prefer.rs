//! The `Prefer` request header (RFC 7240) on writes: `respond-async` answers as
//! soon as the change is committed (202, apply `pending`), `wait=<seconds>`
//! shortens the wait for the apply, `wait-for=all` also waits for every other
//! live node. The wait never exceeds `apply.wait_ms`.

use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use crate::service::applies::{self, WAIT_PREFERENCE};

const PREFER: HeaderName = HeaderName::from_static("prefer");
const PREFERENCE_APPLIED: HeaderName = HeaderName::from_static("preference-applied");

/// What a client asked for in `Prefer`, as far as rayan honours it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Preferences {
    pub wait: Option<WaitPreference>,
    /// `wait-for=all`.
    pub all_nodes: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitPreference {
    RespondAsync,
    Wait(u64),
}

impl WaitPreference {
    fn limit(self) -> Duration {
        match self {
            WaitPreference::RespondAsync => Duration::ZERO,
            WaitPreference::Wait(seconds) => Duration::from_secs(seconds),
        }
    }

    fn applied(self) -> String {
        match self {
            WaitPreference::RespondAsync => "respond-async".into(),
            WaitPreference::Wait(seconds) => format!("wait={seconds}"),
        }
    }
}

/// Reads the preferences rayan honours from the values of `Prefer` headers.
/// Unknown or malformed preferences are ignored, as RFC 7240 asks;
/// `respond-async` wins over `wait`.
pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Preferences {
    let mut preferences = Preferences::default();
    let values: Vec<&str> = values.into_iter().collect();
    for preference in values.iter().flat_map(|v| v.split(',')) {
        let token = preference.split(';').next().unwrap_or_default().trim();
        if let Some((name, value)) = token.split_once('=')
            && name.trim().eq_ignore_ascii_case("wait-for")
            && value.trim().trim_matches('"').eq_ignore_ascii_case("all")
        {
            preferences.all_nodes = true;
        }
    }
    preferences.wait = parse_wait(values);
    preferences
}

fn parse_wait<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<WaitPreference> {
    let mut wait = None;
    for preference in values.into_iter().flat_map(|v| v.split(',')) {
        let token = preference.split(';').next().unwrap_or_default().trim();
        let (name, value) = match token.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim().trim_matches('"'))),
            None => (token, None),
        };
        if name.eq_ignore_ascii_case("respond-async") {
            return Some(WaitPreference::RespondAsync);
        }
        if name.eq_ignore_ascii_case("wait")
            && wait.is_none()
            && let Some(seconds) = value.and_then(|v| v.parse::<u64>().ok())
        {
            wait = Some(WaitPreference::Wait(seconds));
        }
    }
    wait
}

/// Runs the handler with the client's wait preference and says it was applied.
pub async fn honour(request: Request, next: Next) -> Response {
    let values = request
        .headers()
        .get_all(PREFER)
        .iter()
        .filter_map(|v| v.to_str().ok());
    let preferences = parse(values);
    if preferences == Preferences::default() {
        return next.run(request).await;
    }
    let wait = applies::WaitPreference {
        limit: preferences.wait.map(WaitPreference::limit),
        all_nodes: preferences.all_nodes,
    };
    let mut response = WAIT_PREFERENCE.scope(wait, next.run(request)).await;
    let mut applied: Vec<String> = preferences
        .wait
        .map(WaitPreference::applied)
        .into_iter()
        .collect();
    if preferences.all_nodes {
        applied.push("wait-for=all".into());
    }
    if let Ok(value) = HeaderValue::from_str(&applied.join(", ")) {
        response.headers_mut().insert(PREFERENCE_APPLIED, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn reads_the_preferences_of_rfc_7240() {
        let wait = |values: &[&str]| parse(values.iter().copied()).wait;
        assert_eq!(wait(&["respond-async"]), Some(WaitPreference::RespondAsync));
        assert_eq!(wait(&["wait=5"]), Some(WaitPreference::Wait(5)));
        assert_eq!(
            wait(&["return=minimal, wait=3"]),
            Some(WaitPreference::Wait(3))
        );
        assert_eq!(
            wait(&["wait=3", "Respond-Async; x=1"]),
            Some(WaitPreference::RespondAsync)
        );
        assert_eq!(wait(&["wait=\"7\""]), Some(WaitPreference::Wait(7)));
        assert_eq!(wait(&["wait=soon", "handling=lenient"]), None);
        assert_eq!(wait(&["wait=-1"]), None);
        assert_eq!(parse(std::iter::empty()), Preferences::default());
        assert_eq!(
            parse(["wait=2, wait-for=all"]),
            Preferences {
                wait: Some(WaitPreference::Wait(2)),
                all_nodes: true
            }
        );
        assert!(parse(["Wait-For=\"ALL\""]).all_nodes);
        assert!(!parse(["wait-for=some"]).all_nodes);
    }

    proptest! {
        #[test]
        fn any_header_value_parses_without_panic(values in proptest::collection::vec(".{0,64}", 0..4)) {
            let parsed = parse(values.iter().map(String::as_str)).wait;
            let async_asked = values.iter().flat_map(|v| v.split(',')).any(|p| {
                let token = p.split(';').next().unwrap_or_default().trim();
                token.split('=').next().unwrap_or_default().trim().eq_ignore_ascii_case("respond-async")
            });
            prop_assert_eq!(parsed == Some(WaitPreference::RespondAsync), async_asked);
        }
    }
}
