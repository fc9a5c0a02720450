//! What call correlation produces: `call` event data while a call runs, and one
//! [`CallRecord`] for the history once it has ended.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::event::{EventKind, EventPayload};

/// The outcome of a call, spelled as Asterisk's CDRs spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Disposition {
    #[serde(rename = "ANSWERED")]
    Answered,
    #[serde(rename = "NO ANSWER")]
    NoAnswer,
    #[serde(rename = "BUSY")]
    Busy,
    #[serde(rename = "FAILED")]
    Failed,
}

impl Disposition {
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Answered => "ANSWERED",
            Disposition::NoAnswer => "NO ANSWER",
            Disposition::Busy => "BUSY",
            Disposition::Failed => "FAILED",
        }
    }

    /// A `Cdr` event's `Disposition`. `CONGESTION` (only with `congestion=yes` in
    /// cdr.conf) counts as `FAILED`, as Asterisk reports it by default.
    pub fn from_cdr(value: &str) -> Option<Self> {
        match value.trim().to_ascii_uppercase().as_str() {
            "ANSWERED" => Some(Disposition::Answered),
            "NO ANSWER" => Some(Disposition::NoAnswer),
            "BUSY" => Some(Disposition::Busy),
            "FAILED" | "CONGESTION" => Some(Disposition::Failed),
            _ => None,
        }
    }

    /// A `DialEnd` event's `DialStatus`, mapped as Asterisk's CDR engine maps it.
    pub fn from_dial_status(value: &str) -> Self {
        match value.trim().to_ascii_uppercase().as_str() {
            "ANSWER" => Disposition::Answered,
            "BUSY" => Disposition::Busy,
            "CANCEL" | "NOANSWER" => Disposition::NoAnswer,
            _ => Disposition::Failed,
        }
    }

    /// An unanswered call's hangup cause, mapped as Asterisk's CDR engine maps it;
    /// `None` for causes it leaves alone (which then read as `NO ANSWER`).
    pub fn from_cause(cause: u32) -> Option<Self> {
        match cause {
            17 => Some(Disposition::Busy),
            3 | 20 | 34 => Some(Disposition::Failed),
            16 | 19 => Some(Disposition::NoAnswer),
            _ => None,
        }
    }

    /// Which of several CDRs of one call describes it best.
    pub(crate) fn rank(self) -> u8 {
        match self {
            Disposition::Answered => 3,
            Disposition::Busy => 2,
            Disposition::NoAnswer => 1,
            Disposition::Failed => 0,
        }
    }
}

/// Where a record's disposition, duration and billable seconds came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordOrigin {
    /// Asterisk's `Cdr` manager event.
    Cdr,
    /// Derived from the channel events (Newchannel … Hangup).
    Channels,
}

/// One ended call, for the call history.
///
/// `duration_s` runs from `start` to `end`, `billsec` from `answer` to `end`, both
/// in whole seconds, truncated, as Asterisk's CDRs count them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// The first channel of the call (the caller, or the originated channel).
    pub uniqueid: String,
    pub linkedid: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub start: DateTime<Utc>,
    pub answer: Option<DateTime<Utc>>,
    pub end: DateTime<Utc>,
    pub duration_s: u64,
    pub billsec: u64,
    pub disposition: Disposition,
    pub cause: Option<u32>,
    pub cause_text: Option<String>,
    pub source: RecordOrigin,
}

/// Where a call stands, as a `call` event tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallState {
    Ringing,
    Answered,
    Ended,
}

/// `call` data. The outcome fields are present only when `state` is `ended`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallUpdate {
    pub state: CallState,
    pub linkedid: String,
    pub from: Option<String>,
    pub to: Option<String>,
    /// The PJSIP endpoints of the call's channels, in the order they joined.
    pub endpoints: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disposition: Option<Disposition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billsec: Option<u64>,
}

impl EventPayload for CallUpdate {
    const KIND: EventKind = EventKind::Call;
}

/// Whole seconds from `from` to `to`, truncated; 0 if `to` is earlier.
pub(crate) fn whole_seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> u64 {
    u64::try_from((to - from).num_milliseconds() / 1000).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_serialise_like_asterisk() {
        for d in [
            Disposition::Answered,
            Disposition::NoAnswer,
            Disposition::Busy,
            Disposition::Failed,
        ] {
            assert_eq!(
                serde_json::to_string(&d).expect("serialises"),
                format!("\"{}\"", d.as_str())
            );
            assert_eq!(Disposition::from_cdr(d.as_str()), Some(d));
        }
        assert_eq!(
            Disposition::from_cdr("CONGESTION"),
            Some(Disposition::Failed)
        );
        assert_eq!(Disposition::from_cdr("UNKNOWN"), None);
    }

    #[test]
    fn dial_status_and_cause_follow_the_cdr_engine() {
        assert_eq!(
            Disposition::from_dial_status("ANSWER"),
            Disposition::Answered
        );
        assert_eq!(
            Disposition::from_dial_status("NOANSWER"),
            Disposition::NoAnswer
        );
        assert_eq!(
            Disposition::from_dial_status("CANCEL"),
            Disposition::NoAnswer
        );
        assert_eq!(Disposition::from_dial_status("BUSY"), Disposition::Busy);
        assert_eq!(
            Disposition::from_dial_status("CHANUNAVAIL"),
            Disposition::Failed
        );
        assert_eq!(Disposition::from_cause(17), Some(Disposition::Busy));
        assert_eq!(Disposition::from_cause(16), Some(Disposition::NoAnswer));
        assert_eq!(Disposition::from_cause(34), Some(Disposition::Failed));
        assert_eq!(Disposition::from_cause(21), None);
    }

    #[test]
    fn seconds_truncate() {
        let start: DateTime<Utc> = "2026-11-21T16:42:43.063Z".parse().expect("time");
        let end: DateTime<Utc> = "2026-11-21T16:42:47.062Z".parse().expect("time");
        assert_eq!(whole_seconds(start, end), 3);
        assert_eq!(whole_seconds(end, start), 0);
    }
}
