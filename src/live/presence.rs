//! Phones' presence (BLF): each hint's state, from an `ExtensionStateList`
//! snapshot after every AMI (re)connect, kept current by the `ExtensionStatus`
//! events the pump hands to [`PresenceMap::apply`] (transcripts j3, o1).
//!
//! Asterisk sends `ExtensionStatus` only on change, and a dialplan reload sends
//! one per hint with an empty `Hint:` (j3), so the map remembers each hint's
//! device to name the endpoint.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use utoipa::ToSchema;

use super::in_step::keep_in_step;
use crate::ami::{AmiClient, AmiError, Message};
use crate::events::{HintState, Presence, PresenceState, normalize};

/// An extension's presence as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct HintPresence {
    pub state: PresenceState,
    /// Since when it is in that state, as far as this daemon saw.
    pub since: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct Entry {
    endpoint: Box<str>,
    state: PresenceState,
    since: DateTime<Utc>,
}

/// The AMI class `ExtensionStateList` needs (or `call`), named when Asterisk
/// refuses it.
pub const PRESENCE_CLASS: &str = "reporting";

#[derive(Default)]
struct Hints {
    /// (context, extension) → where its hint stands.
    by_hint: HashMap<(Box<str>, Box<str>), Entry>,
    /// Why presence cannot be known (a class the AMI user lacks), if so.
    unavailable: Option<String>,
}

/// (context, extension) → hint state.
#[derive(Clone, Default)]
pub struct PresenceMap {
    inner: Arc<RwLock<Hints>>,
    resync: Arc<Notify>,
}

/// The endpoint a hint watches: the first `PJSIP/<name>` of `PJSIP/2001&Custom:x`.
fn hint_endpoint(hint: &str) -> Option<&str> {
    hint.split('&').find_map(|device| {
        let (tech, name) = device.trim().split_once('/')?;
        (tech.eq_ignore_ascii_case("PJSIP") && !name.is_empty()).then_some(name)
    })
}

impl PresenceMap {
    /// The hint of `extension` in `context`; `None` when Asterisk has none.
    pub fn get(&self, context: &str, extension: &str) -> Option<HintPresence> {
        let inner = self.inner.read().ok()?;
        let key: (Box<str>, Box<str>) = (context.into(), extension.into());
        inner.by_hint.get(&key).map(|e| HintPresence {
            state: e.state,
            since: e.since,
        })
    }

    /// How many hints are tracked.
    pub fn len(&self) -> usize {
        self.inner.read().map_or(0, |i| i.by_hint.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Why presence is not known, when the AMI user may not ask for it.
    pub fn unavailable(&self) -> Option<String> {
        self.inner.read().ok().and_then(|i| i.unavailable.clone())
    }

    /// Replaces everything with an `ExtensionStateList` answer. A hint whose state
    /// did not change keeps its `since`.
    pub fn replace_with_snapshot(&self, items: &[Message], now: DateTime<Utc>) {
        let Ok(mut inner) = self.inner.write() else {
            return;
        };
        let mut fresh = HashMap::with_capacity(items.len());
        for hint in items.iter().filter_map(normalize::hint_state) {
            if hint.state == PresenceState::Removed {
                continue;
            }
            let key: (Box<str>, Box<str>) =
                (hint.context.as_str().into(), hint.exten.as_str().into());
            let endpoint = hint
                .hint
                .as_deref()
                .and_then(hint_endpoint)
                .unwrap_or(&hint.exten);
            let since = match inner.by_hint.get(&key) {
                Some(known) if known.state == hint.state => known.since,
                _ => now,
            };
            fresh.insert(
                key,
                Entry {
                    endpoint: endpoint.into(),
                    state: hint.state,
                    since,
                },
            );
        }
        inner.by_hint = fresh;
        inner.unavailable = None;
    }

    /// Applies one `ExtensionStatus` event; the `presence` event to publish when
    /// the state changed (or the hint is new or gone).
    pub fn apply(&self, hint: &HintState, now: DateTime<Utc>) -> Option<Presence> {
        let Ok(mut inner) = self.inner.write() else {
            return None;
        };
        let key: (Box<str>, Box<str>) = (hint.context.as_str().into(), hint.exten.as_str().into());
        let named = hint.hint.as_deref().and_then(hint_endpoint);
        if hint.state == PresenceState::Removed {
            let gone = inner.by_hint.remove(&key)?;
            return Some(Presence {
                endpoint: gone.endpoint.into(),
                extension: hint.exten.clone(),
                context: hint.context.clone(),
                state: PresenceState::Removed,
                since: now,
            });
        }
        let entry = inner.by_hint.entry(key).or_insert_with(|| Entry {
            endpoint: named.unwrap_or(&hint.exten).into(),
            state: PresenceState::Removed,
            since: now,
        });
        if let Some(named) = named.filter(|n| **n != *entry.endpoint) {
            entry.endpoint = named.into();
        }
        if entry.state == hint.state {
            return None;
        }
        entry.state = hint.state;
        entry.since = now;
        Some(Presence {
            endpoint: entry.endpoint.to_string(),
            extension: hint.exten.clone(),
            context: hint.context.clone(),
            state: entry.state,
            since: now,
        })
    }

    /// Events were lost, or hints were added or removed by an apply: take a
    /// fresh snapshot.
    pub fn resync(&self) {
        self.resync.notify_one();
    }

    fn set_unavailable(&self, why: String) {
        if let Ok(mut inner) = self.inner.write() {
            inner.by_hint.clear();
            inner.unavailable = Some(why);
        }
    }

    /// Takes a snapshot after every connect and after lost events.
    pub fn track(&self, ami: AmiClient, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        let me = self.clone();
        keep_in_step(ami, self.resync.clone(), shutdown, "presence", move |ami| {
            let me = me.clone();
            async move {
                match ami.extension_state_list().await {
                    Ok(items) => me.replace_with_snapshot(&items, Utc::now()),
                    Err(AmiError::ActionFailed { message, .. })
                        if message.eq_ignore_ascii_case("Permission denied") =>
                    {
                        let why = format!(
                            "presence is unavailable: the AMI user needs the `{PRESENCE_CLASS}` (or `call`) write class"
                        );
                        tracing::warn!("{why}");
                        me.set_unavailable(why);
                    }
                    Err(e) => return Err(e),
                }
                Ok(())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(exten: &str, hint: &str, status: &str) -> Message {
        Message::new()
            .with("Event", "ExtensionStatus")
            .with("Privilege", "call,all")
            .with("Exten", exten)
            .with("Context", "from-internal")
            .with("Hint", hint)
            .with("Status", status)
    }

    fn hint(exten: &str, hint: &str, code: &str) -> HintState {
        normalize::hint_state(&status(exten, hint, code)).expect("a hint state")
    }

    #[test]
    fn follows_a_call_as_j3_shows_it() {
        let map = PresenceMap::default();
        let t0 = Utc::now();
        map.replace_with_snapshot(
            &[
                status("2001", "PJSIP/2001", "4"),
                status("2002", "PJSIP/2002", "4"),
            ],
            t0,
        );
        assert_eq!(
            map.get("from-internal", "2001").map(|p| p.state),
            Some(PresenceState::Unavailable)
        );
        let t1 = t0 + chrono::Duration::seconds(1);
        let changed = map
            .apply(&hint("2001", "PJSIP/2001", "0"), t1)
            .expect("changed");
        assert_eq!(
            (changed.endpoint.as_str(), changed.state),
            ("2001", PresenceState::Idle)
        );
        assert!(
            map.apply(&hint("2001", "PJSIP/2001", "0"), t1).is_none(),
            "no change"
        );
        map.apply(&hint("2001", "PJSIP/2001", "8"), t1);
        // A reload's event has no hint, but the endpoint is still known.
        let after_reload = map.apply(&hint("2001", "", "1"), t1).expect("changed");
        assert_eq!(
            (after_reload.endpoint.as_str(), after_reload.state),
            ("2001", PresenceState::InUse)
        );
        let gone = map.apply(&hint("2002", "", "-1"), t1).expect("removed");
        assert_eq!(gone.state, PresenceState::Removed);
        assert!(map.get("from-internal", "2002").is_none());
        // A snapshot keeps `since` of what did not change.
        let t2 = t1 + chrono::Duration::seconds(5);
        map.replace_with_snapshot(&[status("2001", "PJSIP/2001", "1")], t2);
        assert_eq!(map.get("from-internal", "2001").map(|p| p.since), Some(t1));
        assert_eq!(map.len(), 1);
    }

    #[test]
    fn the_endpoint_is_the_first_pjsip_device() {
        assert_eq!(hint_endpoint("PJSIP/2001"), Some("2001"));
        assert_eq!(hint_endpoint("Custom:DND&PJSIP/alice"), Some("alice"));
        assert_eq!(hint_endpoint("SIP/x"), None);
        assert_eq!(hint_endpoint("PJSIP/"), None);
    }
}
