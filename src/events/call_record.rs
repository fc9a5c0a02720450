//! What call correlation produces: `call` event data while a call runs, and one
//! [`CallRecord`] for the history once it has ended.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::event::{EventKind, EventPayload};
pub use crate::model::call::{CallRecord, CallState, Disposition, RecordOrigin};

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
