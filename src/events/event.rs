//! The normalised event every subscriber receives, and the typed payloads of the
//! event types this module produces itself.
//!
//! On the wire an event is
//! `{"seq":812,"time":"2026-11-21T16:34:19.740Z","node":"pbx1","type":"contact_status","data":{…}}`:
//! `seq` increases strictly per node, `time` is RFC 3339 in UTC with milliseconds.

use crate::model::LinkState;
use crate::model::apply::{ObjectOutcome, Outcome};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::EventsError;

/// The `type` of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A contact of an endpoint changed state (AMI `ContactStatus`).
    ContactStatus,
    /// A channel hung up (AMI `Hangup`).
    Hangup,
    /// A call, correlated by linkedid, rang, was answered or ended.
    Call,
    /// An apply went pending, verified or failed.
    Apply,
    /// The AMI connection to Asterisk came up or went down.
    Asterisk,
    /// A managed block differs from what the database renders.
    Drift,
    /// An AMI event without a normalised type, verbatim (admins only).
    Raw,
    /// A trunk's outbound registration changed state (AMI `Registry`).
    TrunkStatus,
    /// A phone's hint changed state: idle, ringing, in use… (AMI `ExtensionStatus`).
    Presence,
    /// Asterisk reported a failed (or successful) authentication or a refused
    /// request (AMI security class; admins only).
    Security,
}

impl EventKind {
    pub const ALL: [EventKind; 10] = [
        EventKind::ContactStatus,
        EventKind::Hangup,
        EventKind::Call,
        EventKind::Apply,
        EventKind::Asterisk,
        EventKind::Drift,
        EventKind::Raw,
        EventKind::TrunkStatus,
        EventKind::Presence,
        EventKind::Security,
    ];

    /// The kind's position in [`EventKind::ALL`], which lists kinds in declaration order.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::ContactStatus => "contact_status",
            EventKind::Hangup => "hangup",
            EventKind::Call => "call",
            EventKind::Apply => "apply",
            EventKind::Asterisk => "asterisk",
            EventKind::Drift => "drift",
            EventKind::Raw => "raw",
            EventKind::TrunkStatus => "trunk_status",
            EventKind::Presence => "presence",
            EventKind::Security => "security",
        }
    }

    /// Only admins may receive these, and only when they ask for them by name.
    pub fn is_admin_only(self) -> bool {
        matches!(self, EventKind::Raw | EventKind::Security)
    }

    /// Events of these types always concern endpoints: an endpoint filter lets one
    /// through only when it names a wanted endpoint. Other types concern the node
    /// and pass an endpoint filter unless they name only unwanted endpoints.
    pub fn is_endpoint_scoped(self) -> bool {
        matches!(
            self,
            EventKind::ContactStatus | EventKind::Hangup | EventKind::Call | EventKind::Presence
        )
    }

    /// The data fields that name endpoints, for filtering.
    pub(crate) fn endpoint_fields(self) -> &'static [&'static str] {
        match self {
            EventKind::ContactStatus | EventKind::Presence => &["endpoint"],
            EventKind::Hangup => &["endpoint", "caller", "connected"],
            EventKind::Call => &["from", "to"],
            EventKind::Raw | EventKind::TrunkStatus | EventKind::Security => &[],
            EventKind::Apply | EventKind::Asterisk | EventKind::Drift => &["endpoint"],
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventKind {
    type Err = EventsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| EventsError::UnknownType(s.escape_debug().to_string()))
    }
}

/// One published event. Built only by the hub, which assigns `seq` and `time` and
/// serialises it once; every subscriber then shares the same `Arc<Event>` and text.
#[derive(Debug)]
pub struct Event {
    pub seq: u64,
    pub time: DateTime<Utc>,
    pub node: Arc<str>,
    pub kind: EventKind,
    pub data: Value,
    /// Endpoints the event concerns, taken from `data` once at publish time.
    pub(crate) endpoints: Box<[Box<str>]>,
    json: Box<str>,
    /// When the daemon read what this event reports from Asterisk (or published it,
    /// for events of its own): where delivery latency is measured from.
    received: Instant,
}

impl Event {
    pub(crate) fn from_draft(
        seq: u64,
        time: DateTime<Utc>,
        node: &NodeName,
        draft: Draft,
        received: Instant,
    ) -> Self {
        let json = format!(
            r#"{{"seq":{seq},"time":"{}","node":{},"type":"{}","data":{}}}"#,
            format_time(&time),
            node.json,
            draft.kind.as_str(),
            draft.data_json,
        )
        .into_boxed_str();
        Self {
            seq,
            time,
            node: node.name.clone(),
            kind: draft.kind,
            data: draft.data,
            endpoints: draft.endpoints,
            json,
            received,
        }
    }

    /// When the daemon read what this event reports from Asterisk, or published it.
    pub fn received(&self) -> Instant {
        self.received
    }

    /// The event as one line of JSON, serialised once at publish time.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// The endpoints this event concerns (for endpoint filters).
    pub fn endpoints(&self) -> impl Iterator<Item = &str> {
        self.endpoints.iter().map(|e| &**e)
    }
}

/// RFC 3339, UTC, milliseconds, `Z`: `2026-11-21T16:34:19.740Z`.
pub fn format_time(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The node name, with its JSON form computed once.
#[derive(Debug, Clone)]
pub(crate) struct NodeName {
    pub(crate) name: Arc<str>,
    json: Box<str>,
}

impl NodeName {
    pub(crate) fn new(name: &str) -> Self {
        Self {
            name: Arc::from(name),
            json: Value::from(name).to_string().into_boxed_str(),
        }
    }
}

/// Everything about an event that does not need the hub's lock: its data
/// serialised and its endpoints extracted, before a sequence number is assigned.
pub(crate) struct Draft {
    kind: EventKind,
    data: Value,
    data_json: String,
    endpoints: Box<[Box<str>]>,
}

impl Draft {
    pub(crate) fn new(kind: EventKind, data: Value) -> Self {
        let data_json = data.to_string();
        Self::with_json(kind, data, data_json)
    }

    /// A typed payload keeps its fields in declaration order on the wire
    /// (a `Value` object would sort them).
    pub(crate) fn from_payload<P: EventPayload>(payload: &P) -> serde_json::Result<Self> {
        let data_json = serde_json::to_string(payload)?;
        let data = serde_json::to_value(payload)?;
        Ok(Self::with_json(P::KIND, data, data_json))
    }

    fn with_json(kind: EventKind, data: Value, data_json: String) -> Self {
        let endpoints = endpoints_in(kind, &data);
        Self {
            kind,
            data,
            data_json,
            endpoints,
        }
    }
}

/// The endpoints named by an event's data: the fields its type defines, plus an
/// `endpoints` array when there is one. Empty strings are not endpoints.
fn endpoints_in(kind: EventKind, data: &Value) -> Box<[Box<str>]> {
    let mut found: Vec<Box<str>> = Vec::new();
    let mut add = |value: &Value| {
        if let Some(name) = value.as_str().filter(|n| !n.is_empty()) {
            if !found.iter().any(|f| &**f == name) {
                found.push(name.into());
            }
        }
    };
    for field in kind.endpoint_fields() {
        if let Some(value) = data.get(field) {
            add(value);
        }
    }
    if kind != EventKind::Raw {
        if let Some(list) = data.get("endpoints").and_then(Value::as_array) {
            list.iter().for_each(&mut add);
        }
    }
    found.into_boxed_slice()
}

/// A typed payload that knows its event type; the hub publishes it with
/// [`super::EventHub::publish_payload`].
pub trait EventPayload: Serialize {
    const KIND: EventKind;
}

/// `contact_status` data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactStatus {
    pub endpoint: Option<String>,
    pub aor: Option<String>,
    pub uri: Option<String>,
    pub status: ContactState,
    /// Qualify round trip in milliseconds; `null` when nothing was measured.
    pub rtt_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

impl EventPayload for ContactStatus {
    const KIND: EventKind = EventKind::ContactStatus;
}

/// An AMI `Registry` event: an outbound registration, named by its URIs as
/// Asterisk 22 names it (transcripts e2, j1), changed state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryChange {
    /// `Username`: the registration's client URI.
    pub client_uri: String,
    /// `Domain`: its server URI.
    pub server_uri: String,
    /// `Registered`, `Unregistered`, `Rejected`, ... as Asterisk sends it.
    pub status: String,
}

/// `trunk_status` data: a trunk's outbound registration, as it now stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrunkStatus {
    pub trunk: String,
    pub registration: String,
    pub state: TrunkRegistrationState,
    pub since: DateTime<Utc>,
}

impl EventPayload for TrunkStatus {
    const KIND: EventKind = EventKind::TrunkStatus;
}

/// An AMI `ExtensionStatus` (an event, or an item of `ExtensionStateList`): a
/// hint's state as Asterisk 22 reports it (transcripts j3, o1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HintState {
    pub exten: String,
    pub context: String,
    /// `PJSIP/2001`; empty in the events a dialplan reload sends (j3).
    pub hint: Option<String>,
    pub state: PresenceState,
}

/// `presence` data: a phone's hint as it now stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    /// The PJSIP endpoint the hint watches (the extension's number for rayan's hints).
    pub endpoint: String,
    pub extension: String,
    pub context: String,
    pub state: PresenceState,
    pub since: DateTime<Utc>,
}

impl EventPayload for Presence {
    const KIND: EventKind = EventKind::Presence;
}

/// A hint's state, lower case on the wire. Asterisk's `Status` is a bit set
/// (1 in use, 2 busy, 4 unavailable, 8 ringing, 16 on hold); a phone ringing
/// while on a call reads as ringing, as a BLF lamp shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PresenceState {
    Idle,
    Ringing,
    InUse,
    Busy,
    OnHold,
    Unavailable,
    /// The hint is gone (`Status: -1` or `-2`).
    Removed,
}

impl PresenceState {
    /// From `Status:`; `None` when it is not a number.
    pub fn from_status(status: &str) -> Option<Self> {
        let code: i32 = status.trim().parse().ok()?;
        Some(match code {
            c if c < 0 => Self::Removed,
            0 => Self::Idle,
            c if c & 8 != 0 => Self::Ringing,
            c if c & 16 != 0 => Self::OnHold,
            c if c & 2 != 0 => Self::Busy,
            c if c & 1 != 0 => Self::InUse,
            _ => Self::Unavailable,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Ringing => "ringing",
            Self::InUse => "in_use",
            Self::Busy => "busy",
            Self::OnHold => "on_hold",
            Self::Unavailable => "unavailable",
            Self::Removed => "removed",
        }
    }
}

/// What an AMI security event reports (`Event:` in the `security` class).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityKind {
    /// A wrong password, or an unknown user's answer to the fake challenge (j2).
    ChallengeResponseFailed,
    InvalidAccountId,
    FailedAcl,
    RequestBadFormat,
    InvalidPassword,
    ChallengeSent,
    SuccessfulAuth,
}

impl SecurityKind {
    pub fn from_event(name: &str) -> Option<Self> {
        const KNOWN: [(&str, SecurityKind); 7] = [
            (
                "ChallengeResponseFailed",
                SecurityKind::ChallengeResponseFailed,
            ),
            ("InvalidAccountID", SecurityKind::InvalidAccountId),
            ("FailedACL", SecurityKind::FailedAcl),
            ("RequestBadFormat", SecurityKind::RequestBadFormat),
            ("InvalidPassword", SecurityKind::InvalidPassword),
            ("ChallengeSent", SecurityKind::ChallengeSent),
            ("SuccessfulAuth", SecurityKind::SuccessfulAuth),
        ];
        KNOWN
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.trim()))
            .map(|(_, kind)| *kind)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ChallengeResponseFailed => "challenge_response_failed",
            Self::InvalidAccountId => "invalid_account_id",
            Self::FailedAcl => "failed_acl",
            Self::RequestBadFormat => "request_bad_format",
            Self::InvalidPassword => "invalid_password",
            Self::ChallengeSent => "challenge_sent",
            Self::SuccessfulAuth => "successful_auth",
        }
    }

    /// Whether the event is one failed request. Per j2, a wrong password for a
    /// real account is one `ChallengeResponseFailed` naming it; each request for
    /// an unknown user is one `InvalidAccountID` (its `ChallengeResponseFailed`
    /// then names `<unknown>` and is not counted again), which also catches
    /// scanners that never answer the challenge; each request an endpoint's ACL
    /// refuses is one `FailedACL`. The registrar's `FailedACL`s (too many
    /// contacts…) come from phones that did authenticate: not counted.
    pub fn counts_as_failure(self, account_known: bool, acl_name: Option<&str>) -> bool {
        match self {
            Self::ChallengeResponseFailed => account_known,
            Self::InvalidAccountId | Self::RequestBadFormat | Self::InvalidPassword => true,
            Self::FailedAcl => !acl_name.is_some_and(|n| n.starts_with("registrar_")),
            Self::ChallengeSent | Self::SuccessfulAuth => false,
        }
    }
}

/// `security` data: one AMI security event, with the remote address parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityEvent {
    pub event: SecurityKind,
    /// `PJSIP`, `AMI`…
    pub service: Option<String>,
    /// The account tried; `None` for Asterisk's `<unknown>`.
    pub account: Option<String>,
    /// The source address, from `RemoteAddress: IPV4/UDP/203.0.113.9/5060`.
    pub address: Option<std::net::IpAddr>,
    pub port: Option<u16>,
    pub transport: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl_name: Option<String>,
    /// Whether this counts as a failed attempt against the source.
    pub failure: bool,
    /// Failed attempts counted from this source in the current window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recent_failures: Option<u32>,
}

impl EventPayload for SecurityEvent {
    const KIND: EventKind = EventKind::Security;
}

/// Where a trunk's outbound registration stands, lower case on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TrunkRegistrationState {
    Registered,
    Unregistered,
    /// The registrar refused, or did not answer (a timeout reads the same).
    Rejected,
    /// Asterisk gave up retrying.
    Failed,
    /// Asterisk has no registration for the trunk (IP authentication, or not loaded).
    None,
}

impl TrunkRegistrationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registered => "registered",
            Self::Unregistered => "unregistered",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
            Self::None => "none",
        }
    }

    pub fn from_asterisk(status: &str) -> Self {
        match status.trim().to_ascii_lowercase().as_str() {
            "registered" => Self::Registered,
            "rejected" => Self::Rejected,
            "failed" | "stopped" => Self::Failed,
            _ => Self::Unregistered,
        }
    }
}

/// A contact's state as Asterisk reports it, lower case on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContactState {
    Created,
    Reachable,
    Unreachable,
    NonQualified,
    Removed,
    Updated,
    Unknown,
}

impl ContactState {
    /// Asterisk's spelling (`NonQualified`, `Reachable`…), any case; anything else is `Unknown`.
    pub fn from_asterisk(value: &str) -> Self {
        const KNOWN: [(&str, ContactState); 7] = [
            ("Created", ContactState::Created),
            ("Reachable", ContactState::Reachable),
            ("Unreachable", ContactState::Unreachable),
            ("NonQualified", ContactState::NonQualified),
            ("Removed", ContactState::Removed),
            ("Updated", ContactState::Updated),
            ("Unknown", ContactState::Unknown),
        ];
        KNOWN
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(value.trim()))
            .map_or(ContactState::Unknown, |(_, state)| *state)
    }
}

/// `hangup` data. `caller` is the channel's own CallerIDNum, `connected` the party
/// it was talking to (ConnectedLineNum), `endpoint` the PJSIP endpoint the channel
/// belongs to (none for Local and other technologies).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hangup {
    pub channel: String,
    pub uniqueid: Option<String>,
    pub linkedid: Option<String>,
    pub endpoint: Option<String>,
    pub caller: Option<String>,
    pub connected: Option<String>,
    pub exten: Option<String>,
    pub context: Option<String>,
    pub cause: Option<u32>,
    pub cause_text: Option<String>,
}

impl EventPayload for Hangup {
    const KIND: EventKind = EventKind::Hangup;
}

/// `raw` data: an AMI event as it arrived, headers in order as `[name, value]` pairs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawAmi {
    pub event: String,
    pub headers: Vec<(String, String)>,
}

impl EventPayload for RawAmi {
    const KIND: EventKind = EventKind::Raw;
}

/// `asterisk` data: the AMI connection state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AsteriskStatus {
    /// `connected` or `disconnected` (a link that is connecting is not announced).
    pub state: LinkState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl EventPayload for AsteriskStatus {
    const KIND: EventKind = EventKind::Asterisk;
}

/// `apply` data: what an apply did, object by object.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyEvent {
    pub id: i64,
    pub status: Outcome,
    pub trigger: String,
    pub detail: Option<String>,
    pub restart_required: bool,
    pub objects: Vec<ObjectOutcome>,
}

impl EventPayload for ApplyEvent {
    const KIND: EventKind = EventKind::Apply;
}

/// `drift` data: managed blocks edited by hand (`<file>: <block id>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriftEvent {
    pub blocks: Vec<String>,
}

impl EventPayload for DriftEvent {
    const KIND: EventKind = EventKind::Drift;
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn kind_names_round_trip() {
        for (index, kind) in EventKind::ALL.into_iter().enumerate() {
            assert_eq!(kind.index(), index);
            assert_eq!(kind.as_str().parse::<EventKind>().ok(), Some(kind));
            let json = serde_json::to_string(&kind).expect("serialises");
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        assert!("contact-status".parse::<EventKind>().is_err());
    }

    #[test]
    fn time_has_milliseconds_and_z() {
        let t = Utc
            .with_ymd_and_hms(2026, 11, 21, 16, 34, 19)
            .single()
            .expect("valid time")
            + chrono::Duration::microseconds(740_123);
        assert_eq!(format_time(&t), "2026-11-21T16:34:19.740Z");
    }

    #[test]
    fn contact_state_accepts_asterisk_spelling_only() {
        assert_eq!(
            ContactState::from_asterisk("NonQualified"),
            ContactState::NonQualified
        );
        assert_eq!(
            ContactState::from_asterisk("REACHABLE"),
            ContactState::Reachable
        );
        assert_eq!(ContactState::from_asterisk("Lagged"), ContactState::Unknown);
        let json = serde_json::to_string(&ContactState::NonQualified).expect("serialises");
        assert_eq!(json, "\"nonqualified\"");
    }

    #[test]
    fn json_is_built_once_with_the_node_escaped() {
        let t = Utc
            .with_ymd_and_hms(2026, 11, 21, 16, 34, 19)
            .single()
            .expect("valid time");
        let data = serde_json::json!({"endpoint": "1001", "rtt_ms": 0.379});
        let draft = Draft::new(EventKind::ContactStatus, data);
        let event = Event::from_draft(812, t, &NodeName::new("pbx\"1"), draft, Instant::now());
        assert_eq!(
            event.json(),
            r#"{"seq":812,"time":"2026-11-21T16:34:19.000Z","node":"pbx\"1","type":"contact_status","data":{"endpoint":"1001","rtt_ms":0.379}}"#
        );
        assert_eq!(event.endpoints().collect::<Vec<_>>(), ["1001"]);
    }

    #[test]
    fn typed_payloads_keep_their_field_order() {
        let status = ContactStatus {
            endpoint: Some("1001".into()),
            aor: Some("1001".into()),
            uri: Some("sip:1001@10.0.0.7:5060".into()),
            status: ContactState::Reachable,
            rtt_ms: Some(0.379),
            user_agent: None,
        };
        let draft = Draft::from_payload(&status).expect("serialises");
        assert_eq!(
            draft.data_json,
            r#"{"endpoint":"1001","aor":"1001","uri":"sip:1001@10.0.0.7:5060","status":"reachable","rtt_ms":0.379}"#
        );
        assert_eq!(draft.data["rtt_ms"], 0.379);
        assert_eq!(&*draft.endpoints, [Box::from("1001")]);
    }

    #[test]
    fn endpoints_come_from_the_fields_of_the_type() {
        let hangup = serde_json::json!({"endpoint": "1002", "caller": "1002", "connected": "1001", "exten": "9"});
        assert_eq!(
            &*endpoints_in(EventKind::Hangup, &hangup),
            [Box::from("1002"), Box::from("1001")]
        );
        let call = serde_json::json!({"from": "5555", "to": "1002", "endpoints": ["1002", "", 7]});
        assert_eq!(
            &*endpoints_in(EventKind::Call, &call),
            [Box::from("5555"), Box::from("1002")]
        );
        let raw = serde_json::json!({"endpoint": "1001", "endpoints": ["1001"]});
        assert!(endpoints_in(EventKind::Raw, &raw).is_empty());
    }
}
