//! The frames a subscriber reads, parsed back: what a client (the CLI, a test)
//! receives from [`super::Delivery::to_json`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::event::EventKind;

/// One frame: an event, or a control message about the stream itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Frame {
    Event(EventFrame),
    Control(Control),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventFrame {
    pub seq: u64,
    pub time: DateTime<Utc>,
    pub node: String,
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub data: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Control {
    Lagged { dropped: u64 },
    Gap { from: u64, to: u64 },
}

impl Frame {
    pub fn parse(text: &str) -> serde_json::Result<Self> {
        serde_json::from_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Delivery, EventHub};
    use serde_json::json;

    #[test]
    fn every_delivery_parses_back() {
        let hub = EventHub::new("pbx1", 10, 10);
        let event = hub.publish(EventKind::Asterisk, json!({"state": "connected"}));
        let parsed = Frame::parse(&Delivery::Event(event).to_json()).expect("event frame");
        let Frame::Event(frame) = parsed else {
            panic!("not an event: {parsed:?}")
        };
        assert_eq!(
            (frame.seq, frame.node.as_str(), frame.kind),
            (1, "pbx1", EventKind::Asterisk)
        );
        assert_eq!(frame.data, json!({"state": "connected"}));
        assert_eq!(
            Frame::parse(&Delivery::Lagged { dropped: 5 }.to_json()).expect("lagged frame"),
            Frame::Control(Control::Lagged { dropped: 5 })
        );
        assert_eq!(
            Frame::parse(&Delivery::Gap { from: 2, to: 4 }.to_json()).expect("gap frame"),
            Frame::Control(Control::Gap { from: 2, to: 4 })
        );
        assert!(Frame::parse(r#"{"type":"unknown"}"#).is_err());
    }
}
