//! Who is registered, kept in memory: a `PJSIPShowContacts` snapshot after every
//! AMI (re)connect (ContactStatus fires only on change), kept current from the
//! `contact_status` events the event pump normalises (it calls
//! [`Registrations::apply_status`]). Trunks' outbound registrations the same way:
//! a `PJSIPShowRegistrationsOutbound` snapshot, then `Registry` events
//! ([`TrunkRegistrations`]). Listings read both without asking Asterisk.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{Notify, watch};

use super::in_step::keep_in_step;
use tokio::task::JoinHandle;
use utoipa::ToSchema;

use crate::ami::{AmiClient, Message};
use crate::events::normalize;
use crate::events::{
    ContactState, ContactStatus, RegistryChange, TrunkRegistrationState, TrunkStatus,
};

fn contact_of(status: ContactStatus) -> Contact {
    Contact {
        uri: status.uri.unwrap_or_default(),
        status: status.status,
        rtt_ms: status.rtt_ms,
        user_agent: status.user_agent.filter(|s| !s.is_empty()),
    }
}

/// Contacts without an endpoint are kept under their AOR, prefixed so that
/// no endpoint name can collide (endpoint names have no `:`).
const AOR_KEY: &str = "aor:";

fn contact_key(endpoint: Option<&str>, aor: Option<&str>) -> Option<String> {
    match (endpoint, aor) {
        (Some(endpoint), _) => Some(endpoint.to_owned()),
        (None, Some(aor)) => Some(format!("{AOR_KEY}{aor}")),
        (None, None) => None,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Contact {
    pub uri: String,
    /// Lower case as Asterisk names it: reachable, unreachable, nonqualified, ...
    #[schema(value_type = String)]
    pub status: ContactState,
    /// Qualify round trip; `null` unless the contact is reachable.
    pub rtt_ms: Option<f64>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RegistrationState {
    Registered,
    Unreachable,
    Unregistered,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Registration {
    pub state: RegistrationState,
    pub contacts: Vec<Contact>,
}

/// Endpoint name → its contacts.
#[derive(Clone, Default)]
pub struct Registrations {
    inner: Arc<RwLock<HashMap<String, Vec<Contact>>>>,
    /// Woken when events were lost and only a fresh snapshot can be trusted.
    resync: Arc<Notify>,
}

impl Registrations {
    pub fn get(&self, endpoint: &str) -> Registration {
        let contacts = self
            .inner
            .read()
            .ok()
            .and_then(|m| m.get(endpoint).cloned())
            .unwrap_or_default();
        let state = if contacts.is_empty() {
            RegistrationState::Unregistered
        } else if contacts
            .iter()
            .all(|c| c.status == ContactState::Unreachable)
        {
            RegistrationState::Unreachable
        } else {
            RegistrationState::Registered
        };
        Registration { state, contacts }
    }

    /// Replaces everything with a `PJSIPShowContacts` answer.
    pub fn replace_with_snapshot(&self, contacts: &[Message]) {
        let mut map: HashMap<String, Vec<Contact>> = HashMap::new();
        for c in contacts {
            let Some(uri) = c.get("Uri") else {
                continue;
            };
            let Some(endpoint) = contact_key(
                c.get("Endpoint").filter(|e| !e.is_empty()),
                c.get("Aor").filter(|a| !a.is_empty()),
            ) else {
                continue;
            };
            // A listed contact reads like a ContactStatus event of its own.
            let as_event = Message::new()
                .with("Event", "ContactStatus")
                .with("URI", uri)
                .with("ContactStatus", c.get("Status").unwrap_or("Unknown"))
                .with("EndpointName", c.get("Endpoint").unwrap_or(""))
                .with("RoundtripUsec", c.get("RoundtripUsec").unwrap_or(""))
                .with("UserAgent", c.get("UserAgent").unwrap_or(""));
            if let Some(contact) = normalize::contact_status(&as_event).map(contact_of) {
                map.entry(endpoint).or_default().push(contact);
            }
        }
        if let Ok(mut inner) = self.inner.write() {
            *inner = map;
        }
    }

    /// Applies one normalised `contact_status` event.
    pub fn apply_status(&self, status: &ContactStatus) {
        let status = status.clone();
        let Some(endpoint) = contact_key(status.endpoint.as_deref(), status.aor.as_deref()) else {
            return;
        };
        let removed = status.status == ContactState::Removed;
        let contact = contact_of(status);
        let Ok(mut inner) = self.inner.write() else {
            return;
        };
        let contacts = inner.entry(endpoint.clone()).or_default();
        contacts.retain(|c| c.uri != contact.uri || !removed);
        match contacts.iter_mut().find(|c| c.uri == contact.uri) {
            Some(known) if !removed => {
                known.status = contact.status;
                known.rtt_ms = contact.rtt_ms;
                if contact.user_agent.is_some() {
                    known.user_agent = contact.user_agent;
                }
            }
            Some(_) => {}
            None if !removed => contacts.push(contact),
            None => {}
        }
        if contacts.is_empty() {
            inner.remove(&endpoint);
        }
    }

    /// The contacts of an AOR that no endpoint registered: a trunk's static
    /// contact, whose qualify state Asterisk reports without an endpoint.
    pub fn aor_contacts(&self, aor: &str) -> Vec<Contact> {
        self.inner
            .read()
            .ok()
            .and_then(|m| m.get(&format!("{AOR_KEY}{aor}")).cloned())
            .unwrap_or_default()
    }

    /// Events were lost between Asterisk and the map: take a fresh snapshot.
    pub fn resync(&self) {
        self.resync.notify_one();
    }

    /// Takes a snapshot after every connect, and after lost events; the event pump
    /// keeps the map current in between.
    pub fn track(&self, ami: AmiClient, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        let me = self.clone();
        keep_in_step(ami, self.resync.clone(), shutdown, "contact", move |ami| {
            let me = me.clone();
            async move {
                me.replace_with_snapshot(&ami.pjsip_show_contacts().await?);
                Ok(())
            }
        })
    }
}

/// A trunk's outbound registration as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TrunkRegistration {
    pub state: TrunkRegistrationState,
    /// Since when it is in that state, as far as this daemon saw.
    pub since: Option<DateTime<Utc>>,
    /// The registration object in Asterisk, e.g. `telnyx_main-reg`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration: Option<String>,
    /// What the state means for this trunk, in words.
    pub detail: String,
}

impl TrunkRegistration {
    fn none() -> Self {
        TrunkRegistration {
            state: TrunkRegistrationState::None,
            since: None,
            registration: None,
            detail: "Asterisk has no outbound registration for this trunk (it authenticates by IP, or Asterisk has not loaded it)".to_owned(),
        }
    }

    fn of(entry: &TrunkEntry) -> Self {
        TrunkRegistration {
            state: entry.state,
            since: Some(entry.since),
            registration: Some(entry.registration.clone()),
            detail: entry.detail(),
        }
    }
}

#[derive(Debug, Clone)]
struct TrunkEntry {
    registration: String,
    state: TrunkRegistrationState,
    since: DateTime<Utc>,
    /// When Asterisk last said anything about it (an event or a snapshot).
    heard: DateTime<Utc>,
    /// `ServerUri` of the registration.
    server: String,
    /// `RetryInterval` in seconds, as the snapshot says.
    retry_secs: Option<u32>,
}

impl TrunkEntry {
    fn detail(&self) -> String {
        let retry = self
            .retry_secs
            .map(|s| format!("; Asterisk tries again every {s} s"))
            .unwrap_or_default();
        match self.state {
            TrunkRegistrationState::Registered => format!("registered with {}", self.server),
            TrunkRegistrationState::Rejected => format!(
                "{} refused the registration or did not answer{retry}",
                self.server
            ),
            TrunkRegistrationState::Failed => format!(
                "Asterisk gave up registering with {} (too many failures, or a refusal it treats as permanent); `trunk check` tries again",
                self.server
            ),
            TrunkRegistrationState::Unregistered => {
                format!("not registered with {} yet{retry}", self.server)
            }
            TrunkRegistrationState::None => TrunkRegistration::none().detail,
        }
    }
}

#[derive(Default)]
struct TrunkMap {
    /// Trunk (the registration's `endpoint`, or its own name) → where it stands.
    by_trunk: HashMap<String, TrunkEntry>,
    /// (client URI, server URI), as `Registry` events name a registration → trunk.
    by_uris: HashMap<(String, String), String>,
}

/// Trunk name → its outbound registration, from a `PJSIPShowRegistrationsOutbound`
/// snapshot after every connect, kept current by `Registry` events.
#[derive(Clone, Default)]
pub struct TrunkRegistrations {
    inner: Arc<RwLock<TrunkMap>>,
    resync: Arc<Notify>,
}

impl TrunkRegistrations {
    /// `state: none` for a trunk Asterisk has no registration for.
    pub fn get(&self, trunk: &str) -> TrunkRegistration {
        self.inner
            .read()
            .ok()
            .and_then(|m| m.by_trunk.get(trunk).map(TrunkRegistration::of))
            .unwrap_or_else(TrunkRegistration::none)
    }

    /// The trunk's registration if Asterisk said something of it at `after` or later.
    pub fn heard_since(&self, trunk: &str, after: DateTime<Utc>) -> Option<TrunkRegistration> {
        let inner = self.inner.read().ok()?;
        let entry = inner.by_trunk.get(trunk).filter(|e| e.heard >= after)?;
        Some(TrunkRegistration::of(entry))
    }

    /// Replaces everything with `OutboundRegistrationDetail` events. A state
    /// that did not change keeps its `since`.
    pub fn replace_with_snapshot(&self, details: &[Message], now: DateTime<Utc>) {
        let Ok(mut inner) = self.inner.write() else {
            return;
        };
        let mut map = TrunkMap::default();
        for detail in details {
            let Some(name) = detail
                .get("ObjectName")
                .map(str::trim)
                .filter(|n| !n.is_empty())
            else {
                continue;
            };
            let trunk = detail
                .get("Endpoint")
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .unwrap_or(name)
                .to_owned();
            let state = TrunkRegistrationState::from_asterisk(detail.get("Status").unwrap_or(""));
            let since = match inner.by_trunk.get(&trunk) {
                Some(known) if known.state == state => known.since,
                _ => now,
            };
            if let (Some(client), Some(server)) = (detail.get("ClientUri"), detail.get("ServerUri"))
            {
                map.by_uris.insert(
                    (client.trim().to_owned(), server.trim().to_owned()),
                    trunk.clone(),
                );
            }
            map.by_trunk.insert(
                trunk,
                TrunkEntry {
                    registration: name.to_owned(),
                    state,
                    since,
                    heard: now,
                    server: detail
                        .get("ServerUri")
                        .map_or_else(|| "the registrar".to_owned(), |s| s.trim().to_owned()),
                    retry_secs: detail
                        .get("RetryInterval")
                        .and_then(|r| r.trim().parse().ok()),
                },
            );
        }
        *inner = map;
    }

    /// Applies one `Registry` event; the trunk's new status when it is known
    /// (`None`: a registration the snapshot did not have, so a new snapshot is due).
    pub fn apply_change(&self, change: &RegistryChange, now: DateTime<Utc>) -> Option<TrunkStatus> {
        let Ok(mut inner) = self.inner.write() else {
            return None;
        };
        let key = (change.client_uri.clone(), change.server_uri.clone());
        let Some(trunk) = inner.by_uris.get(&key).cloned() else {
            drop(inner);
            self.resync.notify_one();
            return None;
        };
        let entry = inner.by_trunk.get_mut(&trunk)?;
        let state = TrunkRegistrationState::from_asterisk(&change.status);
        entry.heard = now;
        if entry.state != state {
            entry.state = state;
            entry.since = now;
        }
        Some(TrunkStatus {
            trunk,
            registration: entry.registration.clone(),
            state,
            since: entry.since,
        })
    }

    /// Takes a snapshot after every connect and whenever a `Registry` event names
    /// a registration it does not know (one an apply just added).
    pub fn track(&self, ami: AmiClient, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        let me = self.clone();
        keep_in_step(
            ami,
            self.resync.clone(),
            shutdown,
            "registration",
            move |ami| {
                let me = me.clone();
                async move {
                    let details = ami.pjsip_show_registrations_outbound().await?;
                    me.replace_with_snapshot(&details, Utc::now());
                    Ok(())
                }
            },
        )
    }

    /// Asks for a fresh snapshot (after an apply that may have added or removed
    /// registrations).
    pub fn resync(&self) {
        self.resync.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `ContactStatus` AMI event as the event pump hands it on.
    fn contact_status(status: &str, rtt: &str) -> ContactStatus {
        let event = Message::new()
            .with("Event", "ContactStatus")
            .with("URI", "sip:1001@127.0.0.1:5081")
            .with("ContactStatus", status)
            .with("AOR", "1001")
            .with("EndpointName", "1001")
            .with("RoundtripUsec", rtt);
        normalize::contact_status(&event).expect("a ContactStatus event")
    }

    #[test]
    fn follows_a_registration_as_asterisk_22_reports_it() {
        let regs = Registrations::default();
        assert_eq!(regs.get("1001").state, RegistrationState::Unregistered);
        regs.apply_status(&contact_status("NonQualified", "0"));
        assert_eq!(regs.get("1001").state, RegistrationState::Registered);
        regs.apply_status(&contact_status("Reachable", "293"));
        let r = regs.get("1001");
        assert_eq!(r.contacts[0].status, ContactState::Reachable);
        assert_eq!(r.contacts[0].rtt_ms, Some(0.293));
        regs.apply_status(&contact_status("Unreachable", "0"));
        assert_eq!(regs.get("1001").state, RegistrationState::Unreachable);
        regs.apply_status(&contact_status("Removed", "0"));
        assert_eq!(regs.get("1001").state, RegistrationState::Unregistered);
    }

    /// `OutboundRegistrationDetail` and `Registry` as Asterisk 22 sends them (e2, j1).
    fn detail(name: &str, endpoint: &str, status: &str) -> Message {
        Message::new()
            .with("Event", "OutboundRegistrationDetail")
            .with("ObjectType", "registration")
            .with("ObjectName", name)
            .with("ClientUri", "sip:lab@127.0.0.1:5999")
            .with("ServerUri", "sip:127.0.0.1:5999")
            .with("Endpoint", endpoint)
            .with("Status", status)
    }

    fn registry(status: &str) -> RegistryChange {
        let event = Message::new()
            .with("Event", "Registry")
            .with("Privilege", "system,all")
            .with("ChannelType", "PJSIP")
            .with("Username", "sip:lab@127.0.0.1:5999")
            .with("Domain", "sip:127.0.0.1:5999")
            .with("Status", status);
        normalize::registry(&event).expect("a Registry event")
    }

    #[test]
    fn trunk_registrations_follow_snapshot_and_registry_events() {
        let trunks = TrunkRegistrations::default();
        let t0 = Utc::now();
        assert_eq!(trunks.get("lab").state, TrunkRegistrationState::None);
        trunks.replace_with_snapshot(&[detail("lab-reg", "lab", "Rejected")], t0);
        let seen = trunks.get("lab");
        assert_eq!(
            (seen.state, seen.since),
            (TrunkRegistrationState::Rejected, Some(t0))
        );
        let t1 = t0 + chrono::Duration::seconds(5);
        let status = trunks
            .apply_change(&registry("Registered"), t1)
            .expect("known");
        assert_eq!(
            (status.trunk.as_str(), status.state),
            ("lab", TrunkRegistrationState::Registered)
        );
        assert_eq!(trunks.get("lab").since, Some(t1));
        // A new snapshot with the same state keeps when it began.
        trunks.replace_with_snapshot(
            &[detail("lab-reg", "lab", "Registered")],
            t1 + chrono::Duration::seconds(9),
        );
        assert_eq!(trunks.get("lab").since, Some(t1));
        // A hand-written registration without an endpoint goes by its own name.
        trunks.replace_with_snapshot(&[detail("reg-lab", "", "Unregistered")], t1);
        assert_eq!(
            trunks.get("reg-lab").state,
            TrunkRegistrationState::Unregistered
        );
        assert_eq!(
            trunks.get("reg-lab").detail,
            "not registered with sip:127.0.0.1:5999 yet"
        );
        assert!(
            trunks
                .get("nothing")
                .detail
                .contains("no outbound registration")
        );
    }

    #[test]
    fn an_unknown_registration_asks_for_a_snapshot() {
        let trunks = TrunkRegistrations::default();
        assert!(
            trunks
                .apply_change(&registry("Registered"), Utc::now())
                .is_none()
        );
        let notified = trunks.resync.notified();
        tokio::pin!(notified);
        // The permit stored by notify_one makes the next wait return at once.
        assert!(
            notified.as_mut().enable() || futures_util::FutureExt::now_or_never(notified).is_some()
        );
    }

    #[test]
    fn a_static_contact_is_kept_under_its_aor() {
        let regs = Registrations::default();
        let event = Message::new()
            .with("Event", "ContactStatus")
            .with("URI", "sip:203.0.113.5:5060")
            .with("ContactStatus", "Reachable")
            .with("AOR", "telnyx-aor")
            .with("EndpointName", "")
            .with("RoundtripUsec", "12000");
        regs.apply_status(&normalize::contact_status(&event).expect("a contact"));
        let contacts = regs.aor_contacts("telnyx-aor");
        assert_eq!(contacts.len(), 1);
        assert_eq!(contacts[0].rtt_ms, Some(12.0));
        assert!(
            regs.get("telnyx-aor").contacts.is_empty(),
            "not an endpoint"
        );
    }

    #[test]
    fn snapshot_replaces_everything() {
        let regs = Registrations::default();
        regs.apply_status(&contact_status("Reachable", "100"));
        let listed = Message::new()
            .with("Event", "ContactList")
            .with("Endpoint", "1002")
            .with("Uri", "sip:1002@127.0.0.1:5082")
            .with("UserAgent", "SIPp-lab")
            .with("Status", "Unreachable")
            .with("RoundtripUsec", "N/A");
        regs.replace_with_snapshot(&[listed]);
        assert_eq!(regs.get("1001").state, RegistrationState::Unregistered);
        let r = regs.get("1002");
        assert_eq!(r.state, RegistrationState::Unreachable);
        assert_eq!(r.contacts[0].user_agent.as_deref(), Some("SIPp-lab"));
        assert_eq!(r.contacts[0].rtt_ms, None);
    }
}
