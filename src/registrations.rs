//! Who is registered, kept in memory: a `PJSIPShowContacts` snapshot after every
//! AMI (re)connect (ContactStatus fires only on change), kept current from the
//! `contact_status` events the event pump normalises (it calls
//! [`Registrations::apply_status`]). Listings read it without asking Asterisk.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde::Serialize;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use utoipa::ToSchema;

use crate::ami::{AmiClient, Message};
use crate::events::normalize;
use crate::events::{ContactState, ContactStatus};

fn contact_of(status: ContactStatus) -> Contact {
    Contact {
        uri: status.uri.unwrap_or_default(),
        status: status.status,
        rtt_ms: status.rtt_ms,
        user_agent: status.user_agent.filter(|s| !s.is_empty()),
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
            let (Some(endpoint), Some(uri)) = (c.get("Endpoint"), c.get("Uri")) else {
                continue;
            };
            // A listed contact reads like a ContactStatus event of its own.
            let as_event = Message::new()
                .with("Event", "ContactStatus")
                .with("URI", uri)
                .with("ContactStatus", c.get("Status").unwrap_or("Unknown"))
                .with("EndpointName", endpoint)
                .with("RoundtripUsec", c.get("RoundtripUsec").unwrap_or(""))
                .with("UserAgent", c.get("UserAgent").unwrap_or(""));
            if let Some(contact) = normalize::contact_status(&as_event).map(contact_of) {
                map.entry(endpoint.to_owned()).or_default().push(contact);
            }
        }
        if let Ok(mut inner) = self.inner.write() {
            *inner = map;
        }
    }

    /// Applies one normalised `contact_status` event.
    pub fn apply_status(&self, status: &ContactStatus) {
        let status = status.clone();
        let Some(endpoint) = status.endpoint.clone() else {
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

    /// Events were lost between Asterisk and the map: take a fresh snapshot.
    pub fn resync(&self) {
        self.resync.notify_one();
    }

    /// Takes a snapshot after every connect, and after lost events; the event pump
    /// keeps the map current in between.
    pub fn track(&self, ami: AmiClient, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut state = ami.event_state();
            let mut actions = ami.state();
            let mut snapshot_due = true;
            loop {
                if snapshot_due && state.borrow().is_connected() && actions.borrow().is_connected()
                {
                    match ami.pjsip_show_contacts().await {
                        Ok(contacts) => {
                            me.replace_with_snapshot(&contacts);
                            snapshot_due = false;
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "contact snapshot failed; retrying at the next connect")
                        }
                    }
                }
                tokio::select! {
                    () = me.resync.notified() => snapshot_due = true,
                    changed = state.changed() => {
                        if changed.is_err() { break }
                        if state.borrow_and_update().is_connected() { snapshot_due = true }
                    }
                    changed = actions.changed() => {
                        if changed.is_err() { break }
                        if actions.borrow_and_update().is_connected() { snapshot_due = true }
                    }
                    _ = shutdown.wait_for(|stop| *stop) => break,
                }
            }
        })
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
