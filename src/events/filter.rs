//! What a subscriber wants to receive.

use std::collections::HashSet;

use super::event::{Event, EventKind};

/// Endpoint names a subscriber asked for; looked up once per event and subscriber, so
/// with a fast hasher (still seeded per process).
pub type EndpointSet = HashSet<String, foldhash::fast::RandomState>;

/// A set of event types, one bit per [`EventKind`]: the hub asks every subscriber's
/// filter about every event, and a bit test is all that takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindSet(u16);

impl KindSet {
    fn bit(kind: EventKind) -> u16 {
        1 << kind.index()
    }

    pub fn contains(self, kind: EventKind) -> bool {
        self.0 & Self::bit(kind) != 0
    }

    pub fn insert(&mut self, kind: EventKind) {
        self.0 |= Self::bit(kind);
    }

    /// The types in the set, in [`EventKind::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = EventKind> {
        EventKind::ALL
            .into_iter()
            .filter(move |kind| self.contains(*kind))
    }
}

impl FromIterator<EventKind> for KindSet {
    fn from_iter<I: IntoIterator<Item = EventKind>>(kinds: I) -> Self {
        let mut set = KindSet::default();
        for kind in kinds {
            set.insert(kind);
        }
        set
    }
}

/// A subscriber's choice of events. The default receives every type except the
/// admin-only ones (`raw`, `security`).
///
/// - `types`: only these types (`None`: all).
/// - `endpoints`: only events about these endpoints (`None`: all). `contact_status`,
///   `hangup` and `call` pass only when they name a wanted endpoint (a hangup or call
///   by its channel's endpoint, caller or connected party). Node-wide events
///   (`asterisk`, and `apply`/`drift` that name no endpoint) still pass.
/// - `privileged`: receive the admin-only types (`raw`, `security`) named in
///   `types`. Only the API decides who may set it (admins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub types: Option<KindSet>,
    pub endpoints: Option<EndpointSet>,
    pub privileged: bool,
}

impl Filter {
    /// Every type, every endpoint, no admin-only events.
    pub fn all() -> Self {
        Self::default()
    }

    pub fn types(mut self, types: impl IntoIterator<Item = EventKind>) -> Self {
        self.types = Some(types.into_iter().collect());
        self
    }

    pub fn endpoints<S: Into<String>>(mut self, endpoints: impl IntoIterator<Item = S>) -> Self {
        self.endpoints = Some(endpoints.into_iter().map(Into::into).collect());
        self
    }

    pub fn with_privileged(mut self, privileged: bool) -> Self {
        self.privileged = privileged;
        self
    }

    pub fn matches(&self, event: &Event) -> bool {
        self.wants_kind(event.kind) && self.wants_endpoints(event)
    }

    /// Whether events of this type can pass at all.
    pub fn wants_kind(&self, kind: EventKind) -> bool {
        if kind.is_admin_only() {
            return self.privileged && self.types.is_none_or(|t| t.contains(kind));
        }
        self.types.is_none_or(|t| t.contains(kind))
    }

    fn wants_endpoints(&self, event: &Event) -> bool {
        let Some(wanted) = &self.endpoints else {
            return true;
        };
        if event.kind == EventKind::Raw {
            return true;
        }
        let mut named = event.endpoints().peekable();
        if named.peek().is_none() {
            return !event.kind.is_endpoint_scoped();
        }
        named.any(|e| wanted.contains(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::event::{Draft, NodeName};
    use chrono::Utc;
    use serde_json::json;

    fn event(kind: EventKind, data: serde_json::Value) -> Event {
        Event::from_draft(
            1,
            Utc::now(),
            &NodeName::new("n"),
            Draft::new(kind, data),
            std::time::Instant::now(),
        )
    }

    #[test]
    fn kind_sets_hold_what_was_put_in_and_list_it_in_type_order() {
        for mask in 0u16..(1 << EventKind::ALL.len()) {
            let kinds: Vec<EventKind> = EventKind::ALL
                .into_iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, kind)| kind)
                .collect();
            let set: KindSet = kinds.iter().rev().copied().collect();
            for kind in EventKind::ALL {
                assert_eq!(
                    set.contains(kind),
                    kinds.contains(&kind),
                    "{kind:?} in {mask:b}"
                );
            }
            let mut sorted = kinds.clone();
            sorted.sort();
            assert_eq!(set.iter().collect::<Vec<_>>(), sorted);
        }
    }
    #[test]
    fn default_takes_all_but_raw() {
        let f = Filter::all();
        assert!(f.matches(&event(EventKind::Hangup, json!({"caller": "1001"}))));
        assert!(f.matches(&event(EventKind::Asterisk, json!({"state": "connected"}))));
        assert!(!f.matches(&event(EventKind::Raw, json!({"event": "VarSet"}))));
        assert!(
            f.clone()
                .with_privileged(true)
                .matches(&event(EventKind::Raw, json!({"event": "VarSet"})))
        );
    }

    #[test]
    fn types_restrict_raw_too() {
        let f = Filter::all()
            .types([EventKind::Hangup])
            .with_privileged(true);
        assert!(!f.matches(&event(EventKind::Raw, json!({}))));
        assert!(!f.matches(&event(EventKind::Call, json!({"from": "1001"}))));
        assert!(f.matches(&event(EventKind::Hangup, json!({"caller": "1001"}))));
    }

    #[test]
    fn endpoints_scope_registrations_and_calls_but_not_node_events() {
        let f = Filter::all().endpoints(["1001"]);
        assert!(f.matches(&event(
            EventKind::ContactStatus,
            json!({"endpoint": "1001"})
        )));
        assert!(!f.matches(&event(
            EventKind::ContactStatus,
            json!({"endpoint": "1002"})
        )));
        assert!(!f.matches(&event(
            EventKind::Hangup,
            json!({"channel": "Local/9000@x-1;1"})
        )));
        assert!(f.matches(&event(
            EventKind::Hangup,
            json!({"endpoint": "1002", "connected": "1001"})
        )));
        assert!(f.matches(&event(
            EventKind::Call,
            json!({"from": "5555", "to": "1002", "endpoints": ["1001"]})
        )));
        assert!(f.matches(&event(
            EventKind::Asterisk,
            json!({"state": "disconnected"})
        )));
        assert!(f.matches(&event(EventKind::Apply, json!({"status": "verified"}))));
        assert!(!f.matches(&event(EventKind::Apply, json!({"endpoint": "1003"}))));
    }
}
