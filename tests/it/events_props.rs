//! Property tests: the normalisers and the call tracker take any header list
//! without panicking, and the hub never loses an event silently.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use rayan::ami::Message;
use rayan::events::{
    CallOutput, CallState, CallTracker, CallTrackerConfig, Delivery, EventHub, EventKind, Filter,
    Frame, RecordSource, normalize,
};

const NAMES: &[&str] = &[
    "Event",
    "ContactStatus",
    "AOR",
    "URI",
    "EndpointName",
    "RoundtripUsec",
    "UserAgent",
    "Channel",
    "Uniqueid",
    "Linkedid",
    "CallerIDNum",
    "ConnectedLineNum",
    "Exten",
    "Context",
    "Cause",
    "Cause-txt",
    "Timestamp",
    "ChannelState",
    "DialStatus",
    "DestUniqueid",
    "DestLinkedid",
    "DestChannel",
    "DestCallerIDNum",
    "DialString",
    "BridgeNumChannels",
    "Disposition",
    "Duration",
    "BillableSeconds",
    "UniqueID",
    "AnswerTime",
    "Source",
    "Destination",
];

const VALUES: &[&str] = &[
    "ContactStatus",
    "Hangup",
    "Newchannel",
    "Newstate",
    "DialBegin",
    "DialState",
    "DialEnd",
    "BridgeEnter",
    "Cdr",
    "NewCallerid",
    "NonQualified",
    "Reachable",
    "Removed",
    "N/A",
    "",
    " ",
    "<unknown>",
    "0",
    "5",
    "6",
    "16",
    "17",
    "-1",
    "18446744073709551616",
    "1795279363.14",
    "1795279363.15",
    "PJSIP/1001-00000006",
    "PJSIP/-",
    "Local/9000@x-1;1",
    "ANSWER",
    "BUSY",
    "ANSWERED",
    "NO ANSWER",
    "RINGING",
    "1795279363.999999999",
    "9999999999999.5",
    "é€😀",
];

fn header() -> impl Strategy<Value = (String, String)> {
    let name =
        prop_oneof![3 => proptest::sample::select(NAMES).prop_map(str::to_owned), 1 => ".{0,12}"];
    let value =
        prop_oneof![3 => proptest::sample::select(VALUES).prop_map(str::to_owned), 1 => ".{0,40}"];
    (name, value)
}

fn message() -> impl Strategy<Value = Message> {
    proptest::collection::vec(header(), 0..14).prop_map(Message::from_headers)
}

/// A channel event of a small world of calls, so that correlation really happens.
fn call_message() -> impl Strategy<Value = Message> {
    let event = proptest::sample::select(
        &[
            "Newchannel",
            "Newstate",
            "DialBegin",
            "DialState",
            "DialEnd",
            "BridgeEnter",
            "Hangup",
            "Cdr",
            "NewCallerid",
        ][..],
    );
    let id = proptest::sample::select(&["1.1", "1.2", "2.1", "2.2", "3.1"][..]);
    let linked = proptest::sample::select(&["1.1", "2.1", "3.1", "9.9"][..]);
    let state = proptest::sample::select(&["4", "5", "6", "x"][..]);
    let status = proptest::sample::select(
        &[
            "ANSWER",
            "BUSY",
            "NOANSWER",
            "RINGING",
            "ANSWERED",
            "NO ANSWER",
        ][..],
    );
    (
        event,
        id,
        linked,
        state,
        status,
        proptest::option::of(header()),
    )
        .prop_map(|(event, id, linked, state, status, extra)| {
            let mut msg = Message::new()
                .with("Event", event)
                .with(
                    "Channel",
                    format!("PJSIP/10{}-0000000{}", &id[..1], &id[2..]),
                )
                .with("ChannelState", state)
                .with("CallerIDNum", "1001")
                .with("Exten", "1002")
                .with("Uniqueid", id)
                .with("Linkedid", linked)
                .with("DestUniqueid", id)
                .with("DialStatus", status)
                .with("Disposition", status)
                .with("UniqueID", id)
                .with("BridgeNumChannels", "2")
                .with("Cause", "16");
            if let Some((name, value)) = extra {
                msg.push(name, value);
            }
            msg
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn normalisers_take_any_headers(msg in message()) {
        let hub = EventHub::new("pbx1", 4, 4);
        if let Some(contact) = normalize::contact_status(&msg) {
            prop_assert!(msg.event().is_some_and(|e| e.trim().eq_ignore_ascii_case("ContactStatus")));
            prop_assert!(contact.aor.is_some() || contact.uri.is_some());
            prop_assert!(contact.rtt_ms.is_none_or(|ms| ms.is_finite() && ms >= 0.0));
            let event = hub.publish_payload(&contact);
            let frame = Frame::parse(event.json());
            prop_assert!(matches!(frame, Ok(Frame::Event(ref f)) if f.data == event.data), "{:?}", frame);
        }
        if let Some(hangup) = normalize::hangup(&msg) {
            prop_assert!(!hangup.channel.is_empty());
            let event = hub.publish_payload(&hangup);
            prop_assert!(Frame::parse(event.json()).is_ok());
        }
        if let Some(raw) = normalize::raw(&msg) {
            prop_assert_eq!(raw.headers.clone(), msg.clone().into_headers());
            let event = hub.publish_payload(&raw);
            prop_assert!(Frame::parse(event.json()).is_ok());
        }
    }

    #[test]
    fn tracker_takes_any_headers(msgs in proptest::collection::vec(message(), 0..40)) {
        let mut tracker = CallTracker::new(CallTrackerConfig::default());
        let start: DateTime<Utc> = DateTime::UNIX_EPOCH;
        for (i, msg) in msgs.iter().enumerate() {
            tracker.handle(msg, start + Duration::seconds(i as i64));
        }
        tracker.tick(start + Duration::days(2));
        prop_assert_eq!(tracker.active_calls(), 0);
        prop_assert_eq!(tracker.awaiting_records(), 0);
    }

    #[test]
    fn each_call_ends_once_with_one_record(msgs in proptest::collection::vec(call_message(), 0..60), cdr in any::<bool>()) {
        let records = if cdr { RecordSource::Cdr } else { RecordSource::Channels };
        let config = CallTrackerConfig { records, max_calls: 2, ..CallTrackerConfig::default() };
        let mut tracker = CallTracker::new(config);
        let start: DateTime<Utc> = DateTime::UNIX_EPOCH;
        let mut ended: HashMap<String, u32> = HashMap::new();
        let mut recorded: HashMap<String, u32> = HashMap::new();
        let mut outputs = Vec::new();
        for (i, msg) in msgs.iter().enumerate() {
            outputs.extend(tracker.handle(msg, start + Duration::milliseconds(i as i64 * 300)));
            prop_assert!(tracker.active_calls() <= 2);
        }
        outputs.extend(tracker.tick(start + Duration::days(1)));
        for output in outputs {
            match output {
                CallOutput::Update(u) if u.state == CallState::Ended => *ended.entry(u.linkedid).or_default() += 1,
                CallOutput::Update(u) => prop_assert!(u.disposition.is_none()),
                CallOutput::Record(r) => {
                    prop_assert!(r.end >= r.start);
                    prop_assert!(r.billsec <= r.duration_s || r.source == rayan::events::RecordOrigin::Cdr);
                    *recorded.entry(r.uniqueid).or_default() += 1;
                }
            }
        }
        prop_assert!(ended.values().all(|n| *n == 1), "{:?}", ended);
        prop_assert!(recorded.values().all(|n| *n == 1), "{:?}", recorded);
        for linkedid in ended.keys() {
            prop_assert!(recorded.contains_key(linkedid), "ended call {} has no record", linkedid);
        }
    }

    #[test]
    fn nothing_is_lost_silently(
        ops in proptest::collection::vec((0u8..4, 0u8..3), 1..300),
        capacity in 1usize..8,
        ring in 0usize..20,
    ) {
        let hub = EventHub::new("pbx1", ring, capacity);
        let filter = Filter::all().types([EventKind::ContactStatus, EventKind::Asterisk]).endpoints(["e0"]);
        let mut sub = hub.subscribe(filter.clone(), None);
        let mut wanted = 0u64;
        let mut received = Vec::new();
        let mut dropped = 0u64;
        let mut read = |sub: &mut rayan::events::Subscription, n: usize| {
            for _ in 0..n {
                match sub.try_next() {
                    Some(Delivery::Event(e)) => received.push(e.seq),
                    Some(Delivery::Lagged { dropped: n }) => dropped += n,
                    Some(Delivery::Gap { .. }) => panic!("no gap without since"),
                    None => break,
                }
            }
        };
        for (op, arg) in ops {
            match op {
                0 | 1 => {
                    let kind = [EventKind::ContactStatus, EventKind::Hangup, EventKind::Asterisk][usize::from(arg)];
                    let event = hub.publish(kind, serde_json::json!({"endpoint": format!("e{}", op)}));
                    if filter.matches(&event) {
                        wanted += 1;
                    }
                }
                _ => read(&mut sub, usize::from(arg) * 2),
            }
        }
        read(&mut sub, usize::MAX);
        prop_assert!(received.windows(2).all(|w| w[0] < w[1]));
        prop_assert_eq!(received.len() as u64 + dropped, wanted);
    }
}
