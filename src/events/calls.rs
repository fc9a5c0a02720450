//! Call correlation: AMI channel events in, `call` events and call records out.
//!
//! A call is every channel sharing one `Linkedid`. It starts with the `Newchannel`
//! of its first channel (the one whose `Uniqueid` is the linkedid); channels of
//! calls that began before we were connected are ignored, because their start is
//! unknown and a record with a wrong duration is worse than none. The call
//!
//! - *rings* when one of its channels enters state Ringing (`Newstate` with
//!   `ChannelState: 5`) or a `DialState` reports `RINGING`;
//! - is *answered* when its first channel goes Up, a `DialEnd` reports `ANSWER`,
//!   or a `BridgeEnter` puts two of its channels together (Asterisk's CDR engine
//!   also answers a record when party A goes Up);
//! - *ends* when every channel it had has sent `Hangup`.
//!
//! Each of these emits one `call` event at once.
//!
//! ## Where the record comes from
//!
//! Asterisk's `Cdr` manager event (module `cdr_manager`, off by default; the lab
//! Asterisk of the transcripts does not send it) is the billing truth: its
//! `Disposition`, `Duration` and `BillableSeconds` are used whenever it arrives.
//! Its times are the Asterisk host's local time without a zone, so `start`,
//! `answer` and `end` always come from the channel events (or the AMI `Timestamp`
//! header when `timestampevents=yes`), in UTC. Which way a record is built is set
//! by [`RecordSource`], on purpose:
//!
//! - `Channels`: derived from the channel events; `Cdr` events are ignored.
//! - `Cdr`: when a call ends its record waits up to `cdr_wait` for its `Cdr`
//!   events (several for a forked dial: the best one wins, an answered one first),
//!   and falls back to the derived record, with a warning, if none came.
//! - `Auto` (default): `Channels` until the first `Cdr` event is seen, `Cdr` from
//!   then on. Calls recorded before that keep their derived record; a late `Cdr`
//!   for one of them is ignored, so no call is recorded twice.
//!
//! Derived records follow the CDR engine's rules: answered → `ANSWERED`; else the
//! last `DialEnd` status; else the hangup cause (17 busy, 3/20/34 failed, others
//! no answer); else `FAILED`. A `Cdr` for a call we never saw becomes a record of
//! its own, timed backwards from its arrival by its durations.
//!
//! Memory is bounded: at most `max_calls` calls are tracked (the oldest is dropped
//! beyond that), a call older than `max_call_age` without its final `Hangup`
//! (e.g. lost during an AMI reconnect) is dropped without a record, a call keeps
//! at most `max_channels_per_call` channels, and only the last `recent_calls`
//! finished calls are remembered to recognise late `Cdr` events.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::ami::Message;

use super::call_record::{
    CallRecord, CallState, CallUpdate, Disposition, RecordOrigin, whole_seconds,
};
use super::normalize::{cause, channel_endpoint, party, text};

/// How call records are built; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecordSource {
    #[default]
    Auto,
    Channels,
    Cdr,
}

#[derive(Debug, Clone)]
pub struct CallTrackerConfig {
    pub records: RecordSource,
    /// How long an ended call waits for its `Cdr` events when records come from them.
    pub cdr_wait: Duration,
    pub max_calls: usize,
    pub max_call_age: Duration,
    pub max_channels_per_call: usize,
    pub recent_calls: usize,
}

impl Default for CallTrackerConfig {
    fn default() -> Self {
        Self {
            records: RecordSource::Auto,
            cdr_wait: Duration::from_secs(2),
            max_calls: 10_000,
            max_call_age: Duration::from_secs(12 * 3600),
            max_channels_per_call: 64,
            recent_calls: 4096,
        }
    }
}

/// What the tracker tells its caller.
#[derive(Debug, Clone, PartialEq)]
pub enum CallOutput {
    /// Publish as a `call` event.
    Update(CallUpdate),
    /// Store in the call history.
    Record(CallRecord),
}

/// The correlation state machine. Feed it every AMI event with [`CallTracker::handle`]
/// and call [`CallTracker::tick`] now and then so waiting records and stale calls expire.
pub struct CallTracker {
    config: CallTrackerConfig,
    cdr_seen: bool,
    calls: HashMap<String, Call>,
    by_age: BTreeMap<u64, String>,
    next_order: u64,
    /// Channel uniqueid → call key, for every tracked or waiting call.
    channel_calls: HashMap<String, String>,
    awaiting: HashMap<String, Ended>,
    deadlines: VecDeque<(DateTime<Utc>, String)>,
    recent: RecentSet,
}

struct Call {
    order: u64,
    linkedid: String,
    start: DateTime<Utc>,
    /// `channels[0]` is the call's first channel.
    channels: Vec<Channel>,
    dialled: Option<String>,
    first_dial_target: Option<String>,
    rang: bool,
    answer: Option<DateTime<Utc>>,
    dial_status: Option<String>,
    cdrs: Vec<Cdr>,
}

struct Channel {
    uniqueid: String,
    endpoint: Option<String>,
    caller: Option<String>,
    hung_up: bool,
    cause: Option<u32>,
    cause_text: Option<String>,
}

/// An ended call waiting for its `Cdr` events.
struct Ended {
    derived: CallRecord,
    channels: Vec<String>,
    cdrs: Vec<Cdr>,
}

struct Cdr {
    uniqueid: String,
    disposition: Disposition,
    duration_s: u64,
    billsec: u64,
    answered: bool,
    source: Option<String>,
    destination: Option<String>,
    linkedid: Option<String>,
}

const MAX_CDRS_PER_CALL: usize = 16;

impl CallTracker {
    pub fn new(config: CallTrackerConfig) -> Self {
        let recent = RecentSet::new(config.recent_calls);
        Self {
            config,
            cdr_seen: false,
            calls: HashMap::new(),
            by_age: BTreeMap::new(),
            next_order: 0,
            channel_calls: HashMap::new(),
            awaiting: HashMap::new(),
            deadlines: VecDeque::new(),
            recent,
        }
    }

    /// Calls currently tracked (not counting ended ones waiting for a `Cdr`).
    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    /// Ended calls whose record waits for `Cdr` events.
    pub fn awaiting_records(&self) -> usize {
        self.awaiting.len()
    }

    /// Feeds one AMI message received at `received`. Messages that are not call
    /// events are ignored; nothing here trusts a header to be present or well formed.
    pub fn handle(&mut self, msg: &Message, received: DateTime<Utc>) -> Vec<CallOutput> {
        let mut out = Vec::new();
        let Some(name) = msg.event().map(|e| e.trim().to_ascii_lowercase()) else {
            return out;
        };
        let now = event_time(msg, received);
        self.expire(now, &mut out);
        match name.as_str() {
            "newchannel" => self.on_newchannel(msg, now, &mut out),
            "newstate" | "newcallerid" => self.on_channel_update(msg, now, &mut out),
            "dialbegin" => self.on_dial_begin(msg),
            "dialstate" => self.on_dial_state(msg, &mut out),
            "dialend" => self.on_dial_end(msg, now, &mut out),
            "bridgeenter" => self.on_bridge_enter(msg, now, &mut out),
            "hangup" => self.on_hangup(msg, now, &mut out),
            "cdr" => self.on_cdr(msg, now, &mut out),
            _ => {}
        }
        out
    }

    /// Lets time pass: records whose `Cdr` wait is over are emitted, calls older
    /// than `max_call_age` are dropped.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Vec<CallOutput> {
        let mut out = Vec::new();
        self.expire(now, &mut out);
        out
    }

    fn expire(&mut self, now: DateTime<Utc>, out: &mut Vec<CallOutput>) {
        while let Some((deadline, key)) = self.deadlines.front() {
            if *deadline > now {
                break;
            }
            let key = key.clone();
            self.deadlines.pop_front();
            self.emit_waiting(&key, out);
        }
        let max_age =
            chrono::Duration::from_std(self.config.max_call_age).unwrap_or(chrono::Duration::MAX);
        while let Some((_, key)) = self.by_age.first_key_value() {
            let stale = self
                .calls
                .get(key)
                .is_none_or(|call| now - call.start > max_age);
            if !stale {
                break;
            }
            let key = key.clone();
            tracing::warn!(linkedid = %key, "call never ended within max_call_age; dropped without a record");
            self.drop_call(&key);
        }
    }

    fn on_newchannel(&mut self, msg: &Message, now: DateTime<Utc>, out: &mut Vec<CallOutput>) {
        let (Some(uniqueid), Some(linkedid)) = (text(msg, "Uniqueid"), text(msg, "Linkedid"))
        else {
            return;
        };
        if !self.calls.contains_key(&linkedid) {
            if uniqueid != linkedid
                || self.channel_calls.contains_key(&uniqueid)
                || self.recent.contains(&uniqueid)
            {
                return;
            }
            self.start_call(linkedid, text(msg, "Exten").filter(|e| e != "s"), now);
        }
        self.on_channel_update(msg, now, out);
    }

    fn start_call(&mut self, linkedid: String, dialled: Option<String>, now: DateTime<Utc>) {
        let order = self.next_order;
        self.next_order += 1;
        let call = Call {
            order,
            linkedid: linkedid.clone(),
            start: now,
            channels: Vec::new(),
            dialled,
            first_dial_target: None,
            rang: false,
            answer: None,
            dial_status: None,
            cdrs: Vec::new(),
        };
        self.calls.insert(linkedid.clone(), call);
        self.by_age.insert(order, linkedid);
        while self.calls.len() > self.config.max_calls.max(1) {
            let Some((_, oldest)) = self.by_age.first_key_value() else {
                break;
            };
            let oldest = oldest.clone();
            tracing::warn!(linkedid = %oldest, max_calls = self.config.max_calls, "too many calls tracked; dropped the oldest without a record");
            self.drop_call(&oldest);
        }
    }

    fn on_channel_update(&mut self, msg: &Message, now: DateTime<Utc>, out: &mut Vec<CallOutput>) {
        let Some(linkedid) = text(msg, "Linkedid") else {
            return;
        };
        let Some(index) = self.touch_channel(&linkedid, msg) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&linkedid) else {
            return;
        };
        match msg.get("ChannelState").map(str::trim) {
            Some("5") => call.ringing(out),
            Some("6") if index == 0 => call.answered(now, out),
            _ => {}
        }
    }

    fn on_dial_begin(&mut self, msg: &Message) {
        let Some(linkedid) = text(msg, "Linkedid").or_else(|| text(msg, "DestLinkedid")) else {
            return;
        };
        if !self.calls.contains_key(&linkedid) {
            return;
        }
        self.touch_channel(&linkedid, msg);
        if let Some(dest) = text(msg, "DestUniqueid") {
            let dest_channel = text(msg, "DestChannel");
            self.add_channel(
                &linkedid,
                dest,
                dest_channel.as_deref(),
                party(msg, "DestCallerIDNum"),
            );
        }
        let Some(call) = self.calls.get_mut(&linkedid) else {
            return;
        };
        if call.first_dial_target.is_none() {
            call.first_dial_target = text(msg, "DestChannel")
                .as_deref()
                .and_then(channel_endpoint)
                .map(str::to_owned)
                .or_else(|| text(msg, "DialString"));
        }
    }

    fn on_dial_state(&mut self, msg: &Message, out: &mut Vec<CallOutput>) {
        let Some(linkedid) = text(msg, "Linkedid").or_else(|| text(msg, "DestLinkedid")) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&linkedid) else {
            return;
        };
        if msg
            .get("DialStatus")
            .is_some_and(|s| s.trim().eq_ignore_ascii_case("RINGING"))
        {
            call.ringing(out);
        }
    }

    fn on_dial_end(&mut self, msg: &Message, now: DateTime<Utc>, out: &mut Vec<CallOutput>) {
        let Some(linkedid) = text(msg, "Linkedid").or_else(|| text(msg, "DestLinkedid")) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&linkedid) else {
            return;
        };
        let Some(status) = text(msg, "DialStatus") else {
            return;
        };
        if status.eq_ignore_ascii_case("ANSWER") {
            call.answered(now, out);
        }
        call.dial_status = Some(status);
    }

    fn on_bridge_enter(&mut self, msg: &Message, now: DateTime<Utc>, out: &mut Vec<CallOutput>) {
        let Some(linkedid) = text(msg, "Linkedid") else {
            return;
        };
        if self.touch_channel(&linkedid, msg).is_none() {
            return;
        }
        let together = msg
            .get("BridgeNumChannels")
            .and_then(|n| n.trim().parse::<u32>().ok())
            .is_some_and(|n| n >= 2);
        if let Some(call) = self.calls.get_mut(&linkedid).filter(|_| together) {
            call.answered(now, out);
        }
    }

    fn on_hangup(&mut self, msg: &Message, now: DateTime<Utc>, out: &mut Vec<CallOutput>) {
        let Some(linkedid) = text(msg, "Linkedid") else {
            return;
        };
        let Some(index) = self.touch_channel(&linkedid, msg) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&linkedid) else {
            return;
        };
        let channel = &mut call.channels[index];
        channel.hung_up = true;
        channel.cause = cause(msg);
        channel.cause_text = text(msg, "Cause-txt");
        if call.channels.iter().all(|c| c.hung_up) {
            self.finish(&linkedid, now, out);
        }
    }

    fn on_cdr(&mut self, msg: &Message, now: DateTime<Utc>, out: &mut Vec<CallOutput>) {
        if self.config.records == RecordSource::Channels {
            return;
        }
        if !self.cdr_seen {
            tracing::info!("Cdr manager events seen: call records now come from them");
            self.cdr_seen = true;
        }
        let Some(cdr) = Cdr::parse(msg) else {
            tracing::warn!("Cdr event without a UniqueID or a known Disposition; ignored");
            return;
        };
        if let Some(key) = self.channel_calls.get(&cdr.uniqueid) {
            let cdrs = match (self.calls.get_mut(key), self.awaiting.get_mut(key)) {
                (Some(call), _) => &mut call.cdrs,
                (None, Some(ended)) => &mut ended.cdrs,
                (None, None) => return,
            };
            if cdrs.len() < MAX_CDRS_PER_CALL {
                cdrs.push(cdr);
            }
            return;
        }
        if self.recent.contains(&cdr.uniqueid) {
            tracing::debug!(uniqueid = %cdr.uniqueid, "Cdr for a call already recorded; ignored");
            return;
        }
        self.recent.insert(cdr.uniqueid.clone());
        out.push(CallOutput::Record(cdr.into_record(now)));
    }

    /// Updates (or adds) the channel a message is about; its index in its call.
    fn touch_channel(&mut self, linkedid: &str, msg: &Message) -> Option<usize> {
        let uniqueid = text(msg, "Uniqueid")?;
        let name = text(msg, "Channel");
        self.add_channel(
            linkedid,
            uniqueid,
            name.as_deref(),
            party(msg, "CallerIDNum"),
        )
    }

    fn add_channel(
        &mut self,
        linkedid: &str,
        uniqueid: String,
        name: Option<&str>,
        caller: Option<String>,
    ) -> Option<usize> {
        let call = self.calls.get_mut(linkedid)?;
        if let Some(index) = call.channels.iter().position(|c| c.uniqueid == uniqueid) {
            let channel = &mut call.channels[index];
            if caller.is_some() {
                channel.caller = caller;
            }
            return Some(index);
        }
        if call.channels.len() >= self.config.max_channels_per_call.max(1) {
            return None;
        }
        self.channel_calls
            .insert(uniqueid.clone(), linkedid.to_owned());
        call.channels.push(Channel {
            uniqueid,
            endpoint: name.and_then(channel_endpoint).map(str::to_owned),
            caller,
            hung_up: false,
            cause: None,
            cause_text: None,
        });
        Some(call.channels.len() - 1)
    }

    fn finish(&mut self, key: &str, now: DateTime<Utc>, out: &mut Vec<CallOutput>) {
        let Some(call) = self.calls.remove(key) else {
            return;
        };
        self.by_age.remove(&call.order);
        let derived = call.derived_record(now);
        out.push(CallOutput::Update(
            call.update(CallState::Ended, Some(&derived)),
        ));
        let channels: Vec<String> = call.channels.into_iter().map(|c| c.uniqueid).collect();
        let waits = match self.config.records {
            RecordSource::Channels => false,
            RecordSource::Cdr => true,
            RecordSource::Auto => self.cdr_seen,
        };
        let ended = Ended {
            derived,
            channels,
            cdrs: call.cdrs,
        };
        if !waits {
            self.emit(ended, out);
            return;
        }
        let wait =
            chrono::Duration::from_std(self.config.cdr_wait).unwrap_or(chrono::Duration::MAX);
        let deadline = now
            .checked_add_signed(wait)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        self.deadlines.push_back((deadline, key.to_owned()));
        self.awaiting.insert(key.to_owned(), ended);
        while self.awaiting.len() > self.config.max_calls.max(1) {
            let Some((_, oldest)) = self.deadlines.pop_front() else {
                break;
            };
            self.emit_waiting(&oldest, out);
        }
    }

    fn emit_waiting(&mut self, key: &str, out: &mut Vec<CallOutput>) {
        if let Some(ended) = self.awaiting.remove(key) {
            if ended.cdrs.is_empty() {
                tracing::warn!(linkedid = %key, "no Cdr event for an ended call in time; record derived from channel events");
            }
            self.emit(ended, out);
        }
    }

    fn emit(&mut self, ended: Ended, out: &mut Vec<CallOutput>) {
        for uniqueid in ended.channels {
            self.channel_calls.remove(&uniqueid);
            self.recent.insert(uniqueid);
        }
        let best = ended.cdrs.into_iter().max_by_key(|c| {
            (
                c.uniqueid == ended.derived.uniqueid,
                c.disposition.rank(),
                c.billsec,
                c.duration_s,
            )
        });
        let record = match best {
            None => ended.derived,
            Some(cdr) => CallRecord {
                duration_s: cdr.duration_s,
                billsec: cdr.billsec,
                disposition: cdr.disposition,
                source: RecordOrigin::Cdr,
                ..ended.derived
            },
        };
        out.push(CallOutput::Record(record));
    }

    fn drop_call(&mut self, key: &str) {
        if let Some(call) = self.calls.remove(key) {
            self.by_age.remove(&call.order);
            for channel in call.channels {
                self.channel_calls.remove(&channel.uniqueid);
            }
        } else if let Some((order, _)) = self
            .by_age
            .iter()
            .find(|(_, k)| *k == key)
            .map(|(o, k)| (*o, k.clone()))
        {
            self.by_age.remove(&order);
        }
    }
}

impl Call {
    fn ringing(&mut self, out: &mut Vec<CallOutput>) {
        if !self.rang && self.answer.is_none() {
            self.rang = true;
            out.push(CallOutput::Update(self.update(CallState::Ringing, None)));
        }
    }

    fn answered(&mut self, now: DateTime<Utc>, out: &mut Vec<CallOutput>) {
        if self.answer.is_none() {
            self.answer = Some(now);
            out.push(CallOutput::Update(self.update(CallState::Answered, None)));
        }
    }

    fn from(&self) -> Option<String> {
        let first = self.channels.first()?;
        first.caller.clone().or_else(|| first.endpoint.clone())
    }

    fn to(&self) -> Option<String> {
        self.dialled
            .clone()
            .or_else(|| self.first_dial_target.clone())
    }

    fn endpoints(&self) -> Vec<String> {
        let mut endpoints: Vec<String> = Vec::new();
        for endpoint in self.channels.iter().filter_map(|c| c.endpoint.as_ref()) {
            if !endpoints.contains(endpoint) {
                endpoints.push(endpoint.clone());
            }
        }
        endpoints
    }

    fn update(&self, state: CallState, outcome: Option<&CallRecord>) -> CallUpdate {
        CallUpdate {
            state,
            linkedid: self.linkedid.clone(),
            from: self.from(),
            to: self.to(),
            endpoints: self.endpoints(),
            disposition: outcome.map(|r| r.disposition),
            cause: outcome.and_then(|r| r.cause),
            cause_text: outcome.and_then(|r| r.cause_text.clone()),
            duration_s: outcome.map(|r| r.duration_s),
            billsec: outcome.map(|r| r.billsec),
        }
    }

    /// The cause of the call: its first channel's, unless that is 0 and another
    /// channel gave a real one.
    fn cause(&self) -> (Option<u32>, Option<String>) {
        let first = self.channels.first();
        let real = |c: &&Channel| c.cause.is_some_and(|n| n != 0);
        let chosen = first
            .filter(real)
            .or_else(|| self.channels.iter().find(real))
            .or(first);
        chosen.map_or((None, None), |c| (c.cause, c.cause_text.clone()))
    }

    fn disposition(&self) -> Disposition {
        if self.answer.is_some() {
            return Disposition::Answered;
        }
        if let Some(status) = &self.dial_status {
            return Disposition::from_dial_status(status);
        }
        match self.cause().0 {
            Some(cause) if cause != 0 => {
                Disposition::from_cause(cause).unwrap_or(Disposition::NoAnswer)
            }
            _ => Disposition::Failed,
        }
    }

    fn derived_record(&self, end: DateTime<Utc>) -> CallRecord {
        let (cause, cause_text) = self.cause();
        CallRecord {
            uniqueid: self.linkedid.clone(),
            linkedid: self.linkedid.clone(),
            from: self.from(),
            to: self.to(),
            start: self.start,
            answer: self.answer,
            end,
            duration_s: whole_seconds(self.start, end),
            billsec: self.answer.map_or(0, |answer| whole_seconds(answer, end)),
            disposition: self.disposition(),
            cause,
            cause_text,
            source: RecordOrigin::Channels,
        }
    }
}

impl Cdr {
    fn parse(msg: &Message) -> Option<Self> {
        let seconds = |name: &str| {
            msg.get(name)
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        Some(Self {
            uniqueid: text(msg, "UniqueID")?,
            disposition: Disposition::from_cdr(msg.get("Disposition")?)?,
            duration_s: seconds("Duration"),
            billsec: seconds("BillableSeconds"),
            answered: text(msg, "AnswerTime").is_some(),
            source: party(msg, "Source"),
            destination: party(msg, "Destination"),
            linkedid: text(msg, "LinkedID"),
        })
    }

    /// A record for a call we did not follow, timed backwards from `received`.
    fn into_record(self, received: DateTime<Utc>) -> CallRecord {
        let back = |secs: u64| {
            chrono::Duration::try_seconds(i64::try_from(secs).unwrap_or(i64::MAX))
                .and_then(|d| received.checked_sub_signed(d))
                .unwrap_or(received)
        };
        CallRecord {
            linkedid: self.linkedid.unwrap_or_else(|| self.uniqueid.clone()),
            uniqueid: self.uniqueid,
            from: self.source,
            to: self.destination,
            start: back(self.duration_s),
            answer: (self.answered || self.billsec > 0).then(|| back(self.billsec)),
            end: received,
            duration_s: self.duration_s,
            billsec: self.billsec,
            disposition: self.disposition,
            cause: None,
            cause_text: None,
            source: RecordOrigin::Cdr,
        }
    }
}

/// The time of an AMI event: its `Timestamp` header (`timestampevents=yes`,
/// seconds.microseconds since the epoch) when present, else when it was received.
pub(crate) fn event_time(msg: &Message, received: DateTime<Utc>) -> DateTime<Utc> {
    msg.get("Timestamp")
        .and_then(parse_timestamp)
        .unwrap_or(received)
}

fn parse_timestamp(value: &str) -> Option<DateTime<Utc>> {
    let (secs, fraction) = value.trim().split_once('.').unwrap_or((value.trim(), ""));
    if fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let nanos: u32 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<9}").parse().ok()?
    };
    DateTime::from_timestamp(secs, nanos)
}

/// The last N uniqueids of finished calls, oldest forgotten first.
struct RecentSet {
    capacity: usize,
    order: VecDeque<String>,
    members: HashSet<String>,
}

impl RecentSet {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            order: VecDeque::new(),
            members: HashSet::new(),
        }
    }

    fn contains(&self, uniqueid: &str) -> bool {
        self.members.contains(uniqueid)
    }

    fn insert(&mut self, uniqueid: String) {
        if self.capacity == 0 || !self.members.insert(uniqueid.clone()) {
            return;
        }
        self.order.push_back(uniqueid);
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.members.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: f64) -> DateTime<Utc> {
        let base: DateTime<Utc> = "2026-11-21T16:00:00Z".parse().expect("time");
        base + chrono::Duration::milliseconds((secs * 1000.0) as i64)
    }

    fn chan(
        event: &str,
        name: &str,
        uniqueid: &str,
        linkedid: &str,
        state: u8,
        caller: &str,
        exten: &str,
    ) -> Message {
        Message::new()
            .with("Event", event)
            .with("Channel", name)
            .with("ChannelState", state.to_string())
            .with("CallerIDNum", caller)
            .with("Exten", exten)
            .with("Uniqueid", uniqueid)
            .with("Linkedid", linkedid)
    }

    fn hangup(name: &str, uniqueid: &str, linkedid: &str, cause: u32) -> Message {
        chan("Hangup", name, uniqueid, linkedid, 6, "<unknown>", "")
            .with("Cause", cause.to_string())
    }

    fn records(out: &[CallOutput]) -> Vec<&CallRecord> {
        out.iter()
            .filter_map(|o| {
                if let CallOutput::Record(r) = o {
                    Some(r)
                } else {
                    None
                }
            })
            .collect()
    }

    fn states(out: &[CallOutput]) -> Vec<CallState> {
        out.iter()
            .filter_map(|o| {
                if let CallOutput::Update(u) = o {
                    Some(u.state)
                } else {
                    None
                }
            })
            .collect()
    }

    /// 1001 dials 1002, which answers `busy` or not at all.
    fn unanswered(
        tracker: &mut CallTracker,
        dial_status: Option<&str>,
        cause: u32,
    ) -> Vec<CallOutput> {
        let mut out = Vec::new();
        out.extend(tracker.handle(
            &chan(
                "Newchannel",
                "PJSIP/1001-00000001",
                "1.1",
                "1.1",
                4,
                "1001",
                "1002",
            ),
            at(0.0),
        ));
        out.extend(tracker.handle(
            &chan(
                "Newchannel",
                "PJSIP/1002-00000002",
                "1.2",
                "1.1",
                0,
                "<unknown>",
                "s",
            ),
            at(0.1),
        ));
        out.extend(tracker.handle(
            &chan(
                "Newstate",
                "PJSIP/1002-00000002",
                "1.2",
                "1.1",
                5,
                "1002",
                "1002",
            ),
            at(0.2),
        ));
        if let Some(status) = dial_status {
            let end = chan(
                "DialEnd",
                "PJSIP/1001-00000001",
                "1.1",
                "1.1",
                4,
                "1001",
                "1002",
            )
            .with("DialStatus", status);
            out.extend(tracker.handle(&end, at(3.0)));
        }
        out.extend(tracker.handle(&hangup("PJSIP/1002-00000002", "1.2", "1.1", cause), at(3.1)));
        out.extend(tracker.handle(&hangup("PJSIP/1001-00000001", "1.1", "1.1", cause), at(3.2)));
        out
    }

    #[test]
    fn busy_and_no_answer_follow_dial_status_then_cause() {
        for (status, cause, expected) in [
            (Some("BUSY"), 17, Disposition::Busy),
            (Some("NOANSWER"), 16, Disposition::NoAnswer),
            (Some("CHANUNAVAIL"), 20, Disposition::Failed),
            (None, 17, Disposition::Busy),
            (None, 16, Disposition::NoAnswer),
            (None, 21, Disposition::NoAnswer),
            (None, 0, Disposition::Failed),
        ] {
            let mut tracker = CallTracker::new(CallTrackerConfig::default());
            let out = unanswered(&mut tracker, status, cause);
            assert_eq!(
                states(&out),
                [CallState::Ringing, CallState::Ended],
                "{status:?} {cause}"
            );
            let record = records(&out)[0];
            assert_eq!(record.disposition, expected, "{status:?} {cause}");
            assert_eq!(
                (record.answer, record.billsec, record.duration_s),
                (None, 0, 3)
            );
            assert_eq!(
                (record.from.as_deref(), record.to.as_deref()),
                (Some("1001"), Some("1002"))
            );
            assert_eq!(tracker.active_calls(), 0);
        }
    }

    #[test]
    fn a_channel_created_up_is_answered_at_once() {
        let mut tracker = CallTracker::new(CallTrackerConfig::default());
        let out = tracker.handle(
            &chan(
                "Newchannel",
                "PJSIP/1001-00000001",
                "1.1",
                "1.1",
                6,
                "1001",
                "*97",
            ),
            at(0.0),
        );
        assert_eq!(states(&out), [CallState::Answered]);
        let out = tracker.handle(&hangup("PJSIP/1001-00000001", "1.1", "1.1", 16), at(2.5));
        let record = records(&out)[0];
        assert_eq!(
            (record.disposition, record.billsec, record.to.as_deref()),
            (Disposition::Answered, 2, Some("*97"))
        );
    }

    #[test]
    fn calls_begun_before_we_listened_are_ignored() {
        let mut tracker = CallTracker::new(CallTrackerConfig::default());
        let out = tracker.handle(
            &chan(
                "Newchannel",
                "PJSIP/1002-00000002",
                "1.2",
                "1.1",
                0,
                "",
                "s",
            ),
            at(0.0),
        );
        assert!(out.is_empty());
        assert!(
            tracker
                .handle(&hangup("PJSIP/1002-00000002", "1.2", "1.1", 16), at(1.0))
                .is_empty()
        );
        assert_eq!(tracker.active_calls(), 0);
    }

    #[test]
    fn oldest_call_is_dropped_beyond_the_limit() {
        let config = CallTrackerConfig {
            max_calls: 2,
            ..CallTrackerConfig::default()
        };
        let mut tracker = CallTracker::new(config);
        for i in 0..5 {
            let id = format!("{i}.0");
            tracker.handle(
                &chan(
                    "Newchannel",
                    "PJSIP/1001-00000001",
                    &id,
                    &id,
                    4,
                    "1001",
                    "1002",
                ),
                at(f64::from(i)),
            );
        }
        assert_eq!(tracker.active_calls(), 2);
        assert!(
            tracker
                .handle(&hangup("PJSIP/1001-00000001", "0.0", "0.0", 16), at(9.0))
                .is_empty()
        );
        let out = tracker.handle(&hangup("PJSIP/1001-00000001", "4.0", "4.0", 16), at(9.0));
        assert_eq!(records(&out).len(), 1);
        assert_eq!(tracker.channel_calls.len(), 1);
    }

    #[test]
    fn calls_that_never_end_expire() {
        let config = CallTrackerConfig {
            max_call_age: Duration::from_secs(60),
            ..CallTrackerConfig::default()
        };
        let mut tracker = CallTracker::new(config);
        tracker.handle(
            &chan(
                "Newchannel",
                "PJSIP/1001-00000001",
                "1.1",
                "1.1",
                4,
                "1001",
                "1002",
            ),
            at(0.0),
        );
        assert!(tracker.tick(at(59.0)).is_empty());
        assert_eq!(tracker.active_calls(), 1);
        assert!(tracker.tick(at(61.0)).is_empty());
        assert_eq!(tracker.active_calls(), 0);
        assert!(tracker.channel_calls.is_empty());
    }

    fn cdr(uniqueid: &str, disposition: &str, duration: u64, billsec: u64) -> Message {
        Message::new()
            .with("Event", "Cdr")
            .with("Source", "1001")
            .with("Destination", "1002")
            .with(
                "AnswerTime",
                if billsec > 0 {
                    "2026-11-21 17:00:01"
                } else {
                    ""
                },
            )
            .with("Duration", duration.to_string())
            .with("BillableSeconds", billsec.to_string())
            .with("Disposition", disposition)
            .with("UniqueID", uniqueid)
    }

    #[test]
    fn cdr_mode_waits_for_the_cdr_and_prefers_it() {
        let config = CallTrackerConfig {
            records: RecordSource::Cdr,
            ..CallTrackerConfig::default()
        };
        let mut tracker = CallTracker::new(config);
        let out = unanswered(&mut tracker, Some("NOANSWER"), 16);
        assert_eq!(states(&out), [CallState::Ringing, CallState::Ended]);
        assert!(records(&out).is_empty());
        assert!(
            tracker
                .handle(&cdr("1.1", "BUSY", 3, 0), at(3.3))
                .is_empty()
        );
        assert!(
            tracker
                .handle(&cdr("1.1", "NO ANSWER", 3, 0), at(3.4))
                .is_empty()
        );
        assert!(tracker.tick(at(5.0)).is_empty());
        let out = tracker.tick(at(5.3));
        let record = records(&out)[0];
        assert_eq!(
            (record.disposition, record.source),
            (Disposition::Busy, RecordOrigin::Cdr)
        );
        assert_eq!(record.start, at(0.0));
        assert_eq!(record.cause, Some(16));
        assert!(
            tracker
                .handle(&cdr("1.1", "ANSWERED", 3, 1), at(6.0))
                .is_empty(),
            "late Cdr ignored"
        );
        assert_eq!(tracker.awaiting_records(), 0);
    }

    #[test]
    fn cdr_mode_falls_back_to_channels() {
        let config = CallTrackerConfig {
            records: RecordSource::Cdr,
            ..CallTrackerConfig::default()
        };
        let mut tracker = CallTracker::new(config);
        unanswered(&mut tracker, Some("BUSY"), 17);
        let out = tracker.tick(at(10.0));
        let record = records(&out)[0];
        assert_eq!(
            (record.disposition, record.source),
            (Disposition::Busy, RecordOrigin::Channels)
        );
    }

    #[test]
    fn auto_switches_to_cdr_once_one_is_seen() {
        let mut tracker = CallTracker::new(CallTrackerConfig::default());
        let out = unanswered(&mut tracker, Some("BUSY"), 17);
        assert_eq!(records(&out)[0].source, RecordOrigin::Channels);
        let late = tracker.handle(&cdr("1.1", "BUSY", 3, 0), at(3.5));
        assert!(late.is_empty(), "the call was recorded already");
        let out = tracker.handle(
            &chan(
                "Newchannel",
                "PJSIP/1001-00000003",
                "2.1",
                "2.1",
                4,
                "1001",
                "1003",
            ),
            at(10.0),
        );
        assert!(out.is_empty());
        let out = tracker.handle(&hangup("PJSIP/1001-00000003", "2.1", "2.1", 16), at(11.0));
        assert!(records(&out).is_empty());
        tracker.handle(&cdr("2.1", "NO ANSWER", 1, 0), at(11.1));
        let out = tracker.tick(at(20.0));
        assert_eq!(records(&out)[0].source, RecordOrigin::Cdr);
    }

    #[test]
    fn cdr_for_an_unknown_call_is_timed_backwards() {
        let mut tracker = CallTracker::new(CallTrackerConfig::default());
        let out = tracker.handle(&cdr("9.9", "ANSWERED", 10, 4), at(100.0));
        let record = records(&out)[0];
        assert_eq!(
            (record.start, record.answer, record.end),
            (at(90.0), Some(at(96.0)), at(100.0))
        );
        assert_eq!(
            (record.uniqueid.as_str(), record.linkedid.as_str()),
            ("9.9", "9.9")
        );
        assert!(
            tracker
                .handle(&cdr("9.9", "ANSWERED", 10, 4), at(100.0))
                .is_empty()
        );
    }

    #[test]
    fn channels_mode_ignores_cdr() {
        let config = CallTrackerConfig {
            records: RecordSource::Channels,
            ..CallTrackerConfig::default()
        };
        let mut tracker = CallTracker::new(config);
        assert!(
            tracker
                .handle(&cdr("9.9", "ANSWERED", 10, 4), at(100.0))
                .is_empty()
        );
    }

    #[test]
    fn timestamp_header_wins_over_receipt() {
        let msg = Message::new().with("Timestamp", "1795279363.063412");
        assert_eq!(
            event_time(&msg, at(0.0)).to_rfc3339(),
            "2026-11-21T16:42:43.063412+00:00"
        );
        for bad in ["", "x", "1.2.3", "1.1234567890", "99999999999999999999"] {
            let msg = Message::new().with("Timestamp", bad);
            assert_eq!(event_time(&msg, at(0.0)), at(0.0), "{bad}");
        }
    }

    #[test]
    fn recent_set_forgets_oldest() {
        let mut recent = RecentSet::new(2);
        for id in ["a", "b", "c"] {
            recent.insert(id.to_owned());
        }
        assert!(!recent.contains("a"));
        assert!(recent.contains("b") && recent.contains("c"));
    }
}
