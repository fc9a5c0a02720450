//! A finished call as the history keeps it: who called whom, when, and how it
//! ended.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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
    pub fn rank(self) -> u8 {
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
