//! The event hub: normalised events, sequence numbers, replay ring, subscriber queues.
//!
//! AMI messages go through a [`Pump`], which normalises them ([`normalize`]),
//! correlates calls ([`CallTracker`]) and publishes into the [`EventHub`]; the rest
//! of the daemon publishes `apply`, `asterisk` and `drift` events into the same hub.
//! Subscribers (the WebSocket endpoint) [`EventHub::subscribe`] with a [`Filter`]
//! and an optional resume point, and read [`Delivery`]s.

pub mod call_record;
pub mod calls;
pub mod event;
pub mod filter;
pub mod frame;
pub mod hub;
pub mod normalize;
pub mod pump;

pub use call_record::{CallRecord, CallState, CallUpdate, Disposition, RecordOrigin};
pub use calls::{CallOutput, CallTracker, CallTrackerConfig, RecordSource};
pub use event::{
    ApplyEvent, AsteriskStatus, ContactState, ContactStatus, DriftEvent, Event, EventKind,
    EventPayload, Hangup, HintState, Presence, PresenceState, RawAmi, RegistryChange,
    SecurityEvent, SecurityKind, TrunkRegistrationState, TrunkStatus,
};
pub use filter::Filter;
pub use frame::{Control, EventFrame, Frame};
pub use hub::{Clock, Delivery, EventHub, Subscription};
pub use pump::Pump;

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EventsError {
    #[error(
        "unknown event type '{0}': expected contact_status, hangup, call, apply, asterisk, drift, raw, trunk_status, presence or security"
    )]
    UnknownType(String),
}
