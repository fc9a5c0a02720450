//! The event stream's protocol: what a subscriber may ask for, and the frames the
//! stream sends about itself besides events, `lagged` and `gap`.
//!
//! A subscriber chooses `types` and `endpoints` when it connects and may replace
//! both later with `{"op":"subscribe","types":[…],"endpoints":[…]}`; an absent
//! field means "all" (for `types`: every type but `raw`). `raw` AMI events are only
//! for the admin role: asked for at connect time by anyone else, the connection is
//! refused with 403; asked for in a `subscribe` op, the op is refused with an
//! `error` frame and the filter stays as it was. Every accepted filter is confirmed
//! with a `subscribed` frame, the first frame of every connection.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::task::TaskTracker;

use crate::config::EventSettings;
pub use crate::events::{Delivery, EventHub, EventKind, Filter, Subscription};
use crate::model::{FieldErrors, Role};

/// The live event streams: subscribing, and closing them all at shutdown.
#[derive(Clone)]
pub struct StreamService {
    hub: EventHub,
    /// Open streams (WebSockets), so that shutdown can wait for them to close.
    open: TaskTracker,
    settings: EventSettings,
}

/// How a stream paces itself.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub ping_every: Duration,
    pub idle_after: Duration,
    /// A socket that is keeping up is written at most once per this interval while
    /// events keep coming: what arrives meanwhile goes out in the same write. An
    /// event after a quiet spell goes out at once, and a backlog without pause.
    /// Under a heavy stream this turns one write per event and subscriber into one
    /// per interval, the difference between keeping up and not.
    pub write_delay: Duration,
}

impl StreamService {
    pub(super) fn new(hub: EventHub, settings: EventSettings) -> Self {
        StreamService {
            hub,
            open: TaskTracker::new(),
            settings,
        }
    }

    pub fn timing(&self) -> Timing {
        Timing {
            ping_every: Duration::from_millis(self.settings.ping_interval_ms),
            idle_after: Duration::from_millis(self.settings.idle_timeout_ms),
            write_delay: Duration::from_millis(self.settings.write_delay_ms),
        }
    }

    pub fn subscribe(&self, filter: Filter, since: Option<u64>) -> Subscription {
        self.hub.subscribe(filter, since)
    }

    /// Runs one stream as a tracked task, so that [`StreamService::close`] can wait for it.
    pub fn spawn(&self, stream: impl std::future::Future<Output = ()> + Send + 'static) {
        tokio::spawn(self.open.track_future(stream));
    }

    /// Tells every stream to close (1001) and waits up to `grace` for them;
    /// false if some were still open.
    pub async fn close(&self, grace: Duration) -> bool {
        self.hub.close();
        self.open.close();
        tokio::time::timeout(grace, self.open.wait()).await.is_ok()
    }

    /// The hub itself, for a test that publishes into it.
    pub fn hub(&self) -> &EventHub {
        &self.hub
    }
}

/// Endpoints one filter may name.
pub const MAX_ENDPOINTS: usize = 1000;
const MAX_ENDPOINT_LEN: usize = 80;

/// A message a subscriber sends over the socket.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientOp {
    /// Replace the filter.
    Subscribe {
        #[serde(default)]
        types: Option<Vec<String>>,
        #[serde(default)]
        endpoints: Option<Vec<String>>,
    },
}

/// A frame about the stream itself.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Notice {
    /// The filter now in force (`null`: all).
    Subscribed {
        types: Option<Vec<EventKind>>,
        endpoints: Option<Vec<String>>,
    },
    /// A client message was refused; nothing changed.
    Error { message: String },
}

impl Notice {
    pub fn subscribed(filter: &Filter) -> Self {
        // In `EventKind` order, as sorting would give.
        let types: Option<Vec<EventKind>> = filter.types.map(|t| t.iter().collect());
        let mut endpoints: Option<Vec<String>> = filter
            .endpoints
            .as_ref()
            .map(|e| e.iter().cloned().collect());
        if let Some(endpoints) = &mut endpoints {
            endpoints.sort();
        }
        Notice::Subscribed { types, endpoints }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|_| r#"{"type":"error","message":"unserialisable notice"}"#.into())
    }
}

/// Why a filter was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterError {
    Invalid(FieldErrors),
    /// `raw` or `security` asked for without the admin role.
    AdminOnly,
}

impl FilterError {
    pub fn message(&self) -> String {
        match self {
            FilterError::Invalid(errors) => errors.to_string(),
            FilterError::AdminOnly => "raw and security events need the admin role".into(),
        }
    }
}

/// A comma-separated query value as a list; empty items are skipped.
pub fn split_list(value: Option<&str>) -> Option<Vec<String>> {
    value.map(|v| {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    })
}

/// The filter a caller with `role` gets for `types` and `endpoints` (`None`: all).
/// Errors name `types`/`endpoints`, with the item's index when `indexed` (ops).
pub fn build_filter(
    role: Role,
    types: Option<&[String]>,
    endpoints: Option<&[String]>,
    indexed: bool,
) -> Result<Filter, FilterError> {
    let mut errors = FieldErrors::new();
    let name = |field: &str, i: usize| {
        if indexed {
            format!("{field}[{i}]")
        } else {
            field.to_owned()
        }
    };
    let mut filter = Filter::all();
    if let Some(types) = types {
        let mut kinds = Vec::with_capacity(types.len());
        for (i, t) in types.iter().enumerate() {
            match t.trim().parse::<EventKind>() {
                Ok(kind) => kinds.push(kind),
                Err(e) => errors.push(name("types", i), e.to_string()),
            }
        }
        filter = filter
            .with_privileged(kinds.iter().any(|k| k.is_admin_only()))
            .types(kinds);
    }
    if let Some(endpoints) = endpoints {
        if endpoints.len() > MAX_ENDPOINTS {
            errors.push("endpoints", format!("at most {MAX_ENDPOINTS} endpoints"));
        }
        for (i, e) in endpoints.iter().enumerate() {
            if e.is_empty() || e.chars().count() > MAX_ENDPOINT_LEN {
                errors.push(
                    name("endpoints", i),
                    format!("must be 1 to {MAX_ENDPOINT_LEN} characters"),
                );
            }
        }
        filter = filter.endpoints(endpoints.iter().cloned());
    }
    errors.finish().map_err(FilterError::Invalid)?;
    if filter.privileged && !role.allows(Role::Admin) {
        return Err(FilterError::AdminOnly);
    }
    Ok(filter)
}

/// Reads one client message: the new filter, or the error frame to answer with.
pub fn handle_op(role: Role, text: &str) -> Result<Filter, Notice> {
    let op: ClientOp = serde_json::from_str(text).map_err(|e| Notice::Error {
        message: format!("expected {{\"op\":\"subscribe\",\"types\":[…],\"endpoints\":[…]}}: {e}"),
    })?;
    match op {
        ClientOp::Subscribe { types, endpoints } => {
            build_filter(role, types.as_deref(), endpoints.as_deref(), true).map_err(|e| {
                Notice::Error {
                    message: e.message(),
                }
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn query_lists_split_on_commas() {
        assert_eq!(
            split_list(Some("contact_status, hangup,,")),
            Some(list(&["contact_status", "hangup"]))
        );
        assert_eq!(split_list(None), None);
        assert_eq!(split_list(Some("")), Some(vec![]));
    }

    #[test]
    fn types_and_endpoints_become_a_filter() {
        let f = build_filter(
            Role::Viewer,
            Some(&list(&["hangup", "call"])),
            Some(&list(&["1001"])),
            false,
        )
        .expect("valid");
        assert!(f.wants_kind(EventKind::Hangup) && f.wants_kind(EventKind::Call));
        assert!(!f.wants_kind(EventKind::ContactStatus) && !f.privileged);
        assert_eq!(
            Notice::subscribed(&f).to_json(),
            r#"{"type":"subscribed","types":["hangup","call"],"endpoints":["1001"]}"#
        );
        assert_eq!(
            Notice::subscribed(&Filter::all()).to_json(),
            r#"{"type":"subscribed","types":null,"endpoints":null}"#
        );
    }

    #[test]
    fn unknown_types_and_bad_endpoints_are_named() {
        let Err(FilterError::Invalid(errors)) = build_filter(
            Role::Admin,
            Some(&list(&["hangup", "bogus"])),
            Some(&list(&["", "1001"])),
            true,
        ) else {
            panic!("must be refused")
        };
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["types[1]", "endpoints[0]"]);
        let many: Vec<String> = (0..=MAX_ENDPOINTS).map(|i| i.to_string()).collect();
        assert!(build_filter(Role::Admin, None, Some(&many), false).is_err());
    }

    #[test]
    fn raw_is_for_admins_only() {
        let raw = list(&["raw"]);
        assert_eq!(
            build_filter(Role::Operator, Some(&raw), None, false),
            Err(FilterError::AdminOnly)
        );
        let f = build_filter(Role::Admin, Some(&raw), None, false).expect("admin may");
        assert!(f.privileged && f.wants_kind(EventKind::Raw) && !f.wants_kind(EventKind::Hangup));
        assert!(
            !build_filter(Role::Admin, None, None, false)
                .expect("valid")
                .privileged,
            "raw only when asked for"
        );
    }

    #[test]
    fn ops_replace_the_filter_or_answer_an_error() {
        let f = handle_op(
            Role::Viewer,
            r#"{"op":"subscribe","types":["contact_status"]}"#,
        )
        .expect("valid");
        assert!(f.wants_kind(EventKind::ContactStatus) && !f.wants_kind(EventKind::Hangup));
        assert_eq!(f.endpoints, None);
        for bad in [
            r#"{"op":"unsubscribe"}"#,
            r#"{"op":"subscribe","types":"hangup"}"#,
            r#"{"op":"subscribe","extra":1}"#,
            "not json",
        ] {
            assert!(
                matches!(handle_op(Role::Admin, bad), Err(Notice::Error { .. })),
                "{bad}"
            );
        }
        assert_eq!(
            handle_op(Role::Viewer, r#"{"op":"subscribe","types":["raw"]}"#),
            Err(Notice::Error {
                message: "raw and security events need the admin role".into()
            })
        );
    }
}
