//! The pump: AMI events in; normalised events into the hub, finished calls and
//! contact changes out to whoever stores them.
//!
//! For each AMI event it publishes, in this order: the `contact_status` or
//! `hangup` event it maps to (or, while an admin listens, the `raw` event for one
//! without a normalised type), then the `call` events it caused. Responses (no
//! `Event:` header) are ignored. The sinks run on the pump's task: they must hand
//! their work off (e.g. `try_send` into a channel) rather than wait.

use std::borrow::Borrow;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};

use crate::ami::Message;

use super::call_record::CallRecord;
use super::calls::{CallOutput, CallTracker, CallTrackerConfig};
use super::event::{
    ContactStatus, EventPayload, HintState, Presence, RegistryChange, SecurityEvent, TrunkStatus,
};
use super::hub::EventHub;
use super::normalize;

type RecordSink = Box<dyn FnMut(CallRecord) + Send>;
type ContactSink = Box<dyn FnMut(&ContactStatus) + Send>;
type RegistrySink = Box<dyn FnMut(&RegistryChange) -> Option<TrunkStatus> + Send>;
type BootedSink = Box<dyn FnMut() + Send>;
type HintSink = Box<dyn FnMut(&HintState) -> Option<Presence> + Send>;
type SecuritySink = Box<dyn FnMut(&mut SecurityEvent) + Send>;

/// Turns a stream of AMI messages into hub events. It keeps its call state across
/// [`Pump::run`] calls, so it can be run again on the stream of a new connection.
pub struct Pump {
    hub: EventHub,
    calls: CallTracker,
    record_sink: Option<RecordSink>,
    contact_sink: Option<ContactSink>,
    registry_sink: Option<RegistrySink>,
    booted_sink: Option<BootedSink>,
    hint_sink: Option<HintSink>,
    security_sink: Option<SecuritySink>,
    tick_every: Duration,
}

impl Pump {
    pub fn new(hub: EventHub, calls: CallTrackerConfig) -> Self {
        Self {
            hub,
            calls: CallTracker::new(calls),
            record_sink: None,
            contact_sink: None,
            registry_sink: None,
            booted_sink: None,
            hint_sink: None,
            security_sink: None,
            tick_every: Duration::from_millis(500),
        }
    }

    /// Where finished calls go (the call history writer).
    pub fn on_call_record(mut self, sink: impl FnMut(CallRecord) + Send + 'static) -> Self {
        self.record_sink = Some(Box::new(sink));
        self
    }

    /// Where contact changes go (the registration-state cache).
    pub fn on_contact_status(mut self, sink: impl FnMut(&ContactStatus) + Send + 'static) -> Self {
        self.contact_sink = Some(Box::new(sink));
        self
    }

    /// Where registration changes go (the trunk registration cache); what it
    /// answers is published as `trunk_status`.
    pub fn on_registry(
        mut self,
        sink: impl FnMut(&RegistryChange) -> Option<TrunkStatus> + Send + 'static,
    ) -> Self {
        self.registry_sink = Some(Box::new(sink));
        self
    }

    /// Who hears of `FullyBooted` (sent at every login, and once more by an
    /// Asterisk that accepted the login before it was fully booted, k2).
    pub fn on_fully_booted(mut self, sink: impl FnMut() + Send + 'static) -> Self {
        self.booted_sink = Some(Box::new(sink));
        self
    }

    /// Where hint changes go (the presence map); what it answers is published
    /// as `presence`.
    pub fn on_hint_state(
        mut self,
        sink: impl FnMut(&HintState) -> Option<Presence> + Send + 'static,
    ) -> Self {
        self.hint_sink = Some(Box::new(sink));
        self
    }

    /// Who counts security events before they are published (it may fill in
    /// `recent_failures`).
    pub fn on_security(mut self, sink: impl FnMut(&mut SecurityEvent) + Send + 'static) -> Self {
        self.security_sink = Some(Box::new(sink));
        self
    }

    /// How often [`Pump::run`] lets time pass for the call tracker (default 500 ms).
    pub fn tick_every(mut self, every: Duration) -> Self {
        self.tick_every = every.max(Duration::from_millis(1));
        self
    }

    /// Publishes everything one AMI message means, received at `received`.
    pub fn handle(&mut self, msg: &Message, received: DateTime<Utc>) {
        if msg.event().is_none() {
            return;
        }
        let read_at = msg.received_at();
        if let Some(contact) = normalize::contact_status(msg) {
            self.publish(&contact, read_at);
            if let Some(sink) = &mut self.contact_sink {
                sink(&contact);
            }
        } else if let Some(hangup) = normalize::hangup(msg) {
            self.publish(&hangup, read_at);
        } else if let Some(change) = normalize::registry(msg) {
            if let Some(status) = self.registry_sink.as_mut().and_then(|sink| sink(&change)) {
                self.publish(&status, read_at);
            }
        } else if let Some(hint) = normalize::hint_state(msg) {
            if let Some(presence) = self.hint_sink.as_mut().and_then(|sink| sink(&hint)) {
                self.publish(&presence, read_at);
            }
        } else if let Some(mut security) = normalize::security(msg) {
            if let Some(sink) = &mut self.security_sink {
                sink(&mut security);
            }
            self.publish(&security, read_at);
        } else if msg.event() == Some("FullyBooted") {
            if let Some(sink) = &mut self.booted_sink {
                sink();
            }
            if self.hub.raw_wanted() {
                if let Some(raw) = normalize::raw(msg) {
                    self.publish(&raw, read_at);
                }
            }
        } else if self.hub.raw_wanted() {
            if let Some(raw) = normalize::raw(msg) {
                self.publish(&raw, read_at);
            }
        }
        let outputs = self.calls.handle(msg, received);
        self.deliver(outputs, read_at);
    }

    /// Lets time pass for the call tracker (records waiting for a `Cdr`, stale calls).
    pub fn tick(&mut self, now: DateTime<Utc>) {
        let outputs = self.calls.tick(now);
        self.deliver(outputs, None);
    }

    /// Pumps `messages` until the stream ends, ticking meanwhile. A tokio mpsc
    /// receiver becomes a stream with
    /// `futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))`.
    pub async fn run<S, M>(&mut self, messages: S)
    where
        S: Stream<Item = M>,
        M: Borrow<Message>,
    {
        let mut messages = std::pin::pin!(messages);
        let mut ticker = tokio::time::interval(self.tick_every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                next = messages.next() => match next {
                    Some(msg) => self.handle(msg.borrow(), Utc::now()),
                    None => break,
                },
                _ = ticker.tick() => self.tick(Utc::now()),
            }
        }
    }

    /// Publishes one event about what was read from Asterisk at `read_at`, and counts it.
    fn publish<P: EventPayload>(&self, payload: &P, read_at: Option<Instant>) {
        self.hub.publish_payload_received(payload, read_at);
        crate::metrics::record_event_in(P::KIND.as_str());
    }

    /// Publishes call updates caused by what was read from Asterisk at `read_at`.
    fn deliver(&mut self, outputs: Vec<CallOutput>, read_at: Option<Instant>) {
        for output in outputs {
            match output {
                CallOutput::Update(update) => {
                    self.publish(&update, read_at);
                }
                CallOutput::Record(record) => {
                    if let Some(sink) = &mut self.record_sink {
                        sink(record);
                    }
                }
            }
        }
    }
}
