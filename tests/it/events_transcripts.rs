//! Real Asterisk 22 sessions (the f-transcripts) through the pump and the hub:
//! the exact JSON a subscriber receives, and the call records.

use std::sync::{Arc, Mutex};

use crate::events_support::{ManualClock, timed_events};
use chrono::{DateTime, Utc};
use rayan::events::{
    CallRecord, CallTrackerConfig, ContactState, ContactStatus, Delivery, Disposition, EventHub,
    EventKind, Filter, Pump, RecordOrigin, Subscription,
};

struct Run {
    hub: EventHub,
    records: Arc<Mutex<Vec<CallRecord>>>,
    contacts: Arc<Mutex<Vec<ContactStatus>>>,
}

/// Subscribes with each filter, then pumps the transcript's events through, each
/// published at the time it arrived.
fn run(transcript: &str, filters: Vec<Filter>) -> (Run, Vec<Subscription>) {
    let clock = ManualClock::new();
    let hub = EventHub::with_clock("pbx1", 1000, 10_000, clock.clock());
    let subscriptions = filters
        .into_iter()
        .map(|f| hub.subscribe(f, None))
        .collect();
    let records = Arc::new(Mutex::new(Vec::new()));
    let contacts = Arc::new(Mutex::new(Vec::new()));
    let (r, c) = (Arc::clone(&records), Arc::clone(&contacts));
    let mut pump = Pump::new(hub.clone(), CallTrackerConfig::default())
        .on_call_record(move |record| r.lock().expect("lock").push(record))
        .on_contact_status(move |status| c.lock().expect("lock").push(status.clone()));
    for (time, msg) in timed_events(transcript) {
        clock.set(time);
        pump.handle(&msg, time);
    }
    (
        Run {
            hub,
            records,
            contacts,
        },
        subscriptions,
    )
}

fn frames(subscription: &mut Subscription) -> Vec<String> {
    std::iter::from_fn(|| subscription.try_next())
        .map(|d| d.to_json().into_owned())
        .collect()
}

fn time(text: &str) -> DateTime<Utc> {
    text.parse().expect("RFC 3339 time")
}

#[test]
fn f1_registration_as_subscribers_see_it() {
    let (run, mut subs) = run(
        "f1-register-qualify-unregister-1001.txt",
        vec![Filter::all()],
    );
    assert_eq!(
        frames(&mut subs[0]),
        [
            r#"{"seq":4,"time":"2026-11-21T16:42:22.626Z","node":"pbx1","type":"contact_status","data":{"endpoint":"1001","aor":"1001","uri":"sip:1001@127.0.0.1:5081","status":"nonqualified","rtt_ms":null}}"#,
            r#"{"seq":5,"time":"2026-11-21T16:42:22.626Z","node":"pbx1","type":"contact_status","data":{"endpoint":"1001","aor":"1001","uri":"sip:1001@127.0.0.1:5081","status":"reachable","rtt_ms":0.293}}"#,
            r#"{"seq":8,"time":"2026-11-21T16:42:34.631Z","node":"pbx1","type":"contact_status","data":{"endpoint":"1001","aor":"1001","uri":"sip:1001@127.0.0.1:5081","status":"removed","rtt_ms":null}}"#,
        ]
    );
    let contacts = run.contacts.lock().expect("lock");
    let states: Vec<ContactState> = contacts.iter().map(|c| c.status).collect();
    assert_eq!(
        states,
        [
            ContactState::NonQualified,
            ContactState::Reachable,
            ContactState::Removed
        ]
    );
    assert!(run.records.lock().expect("lock").is_empty());
}

#[test]
fn f2_call_as_subscribers_see_it() {
    let (run, mut subs) = run("f2-call-1001-to-1002.txt", vec![Filter::all()]);
    assert_eq!(
        frames(&mut subs[0]),
        [
            r#"{"seq":4,"time":"2026-11-21T16:42:41.953Z","node":"pbx1","type":"contact_status","data":{"endpoint":"1002","aor":"1002","uri":"sip:1002@127.0.0.1:5082","status":"reachable","rtt_ms":0.749}}"#,
            r#"{"seq":7,"time":"2026-11-21T16:42:43.063Z","node":"pbx1","type":"call","data":{"state":"ringing","linkedid":"1795279363.14","from":"1001","to":"1002","endpoints":["1001","1002"]}}"#,
            r#"{"seq":8,"time":"2026-11-21T16:42:43.063Z","node":"pbx1","type":"call","data":{"state":"answered","linkedid":"1795279363.14","from":"1001","to":"1002","endpoints":["1001","1002"]}}"#,
            r#"{"seq":9,"time":"2026-11-21T16:42:47.075Z","node":"pbx1","type":"hangup","data":{"channel":"PJSIP/1002-00000007","uniqueid":"1795279363.15","linkedid":"1795279363.14","endpoint":"1002","caller":"1002","connected":"1001","exten":null,"context":"from-internal","cause":16,"cause_text":"Normal Clearing"}}"#,
            r#"{"seq":10,"time":"2026-11-21T16:42:47.075Z","node":"pbx1","type":"hangup","data":{"channel":"PJSIP/1001-00000006","uniqueid":"1795279363.14","linkedid":"1795279363.14","endpoint":"1001","caller":"1001","connected":"1002","exten":"1002","context":"from-internal","cause":16,"cause_text":"Normal Clearing"}}"#,
            r#"{"seq":11,"time":"2026-11-21T16:42:47.075Z","node":"pbx1","type":"call","data":{"state":"ended","linkedid":"1795279363.14","from":"1001","to":"1002","endpoints":["1001","1002"],"disposition":"ANSWERED","cause":16,"cause_text":"Normal Clearing","duration_s":4,"billsec":4}}"#,
        ]
    );
    // The call starts and is answered in the block received at +5.320194 s and ends
    // in the one at +9.331596 s; Asterisk itself counted ANSWEREDTIME=4 (4008 ms).
    assert_eq!(
        *run.records.lock().expect("lock"),
        [CallRecord {
            uniqueid: "1795279363.14".into(),
            linkedid: "1795279363.14".into(),
            from: Some("1001".into()),
            to: Some("1002".into()),
            start: time("2026-11-21T16:42:43.063667Z"),
            answer: Some(time("2026-11-21T16:42:43.063667Z")),
            end: time("2026-11-21T16:42:47.075069Z"),
            duration_s: 4,
            billsec: 4,
            disposition: Disposition::Answered,
            cause: Some(16),
            cause_text: Some("Normal Clearing".into()),
            source: RecordOrigin::Channels,
        }]
    );
    // Five more are the security events of the session (admins only).
    assert_eq!(run.hub.last_seq(), 11);
}

#[test]
fn f2_endpoint_filters_pick_calls_by_their_parties() {
    let filters = vec![
        Filter::all().endpoints(["1001"]),
        Filter::all()
            .endpoints(["1002"])
            .types([EventKind::ContactStatus]),
        Filter::all().endpoints(["1003"]),
        Filter::all()
            .types([EventKind::Hangup, EventKind::Call])
            .endpoints(["1002"]),
    ];
    let (_run, mut subs) = run("f2-call-1001-to-1002.txt", filters);
    let seqs = |s: &mut Subscription| -> Vec<u64> {
        std::iter::from_fn(|| s.try_next())
            .map(|d| match d {
                Delivery::Event(e) => e.seq,
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    };
    assert_eq!(
        seqs(&mut subs[0]),
        [7, 8, 9, 10, 11],
        "1001's call, but not 1002's registration"
    );
    assert_eq!(seqs(&mut subs[1]), [4]);
    assert_eq!(seqs(&mut subs[2]), Vec::<u64>::new());
    assert_eq!(seqs(&mut subs[3]), [7, 8, 9, 10, 11]);
}

#[test]
fn f2_raw_events_for_admins_are_verbatim() {
    let (_run, mut subs) = run(
        "f2-call-1001-to-1002.txt",
        vec![Filter::all().types([EventKind::Raw]).with_privileged(true)],
    );
    let raw: Vec<serde_json::Value> = std::iter::from_fn(|| subs[0].try_next())
        .map(|d| match d {
            Delivery::Event(e) => e.data.clone(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    let expected: Vec<_> = timed_events("f2-call-1001-to-1002.txt")
        .into_iter()
        .map(|(_, m)| m)
        .filter(|m| !matches!(m.event(), Some("ContactStatus" | "Hangup")))
        .filter(|m| rayan::events::normalize::security(m).is_none())
        .collect();
    assert_eq!(raw.len(), expected.len());
    assert_eq!(raw[0]["event"], "FullyBooted");
    assert_eq!(
        raw[0]["headers"][0],
        serde_json::json!(["Event", "FullyBooted"])
    );
    for (json, msg) in raw.iter().zip(&expected) {
        let headers: Vec<(String, String)> =
            serde_json::from_value(json["headers"].clone()).expect("pairs");
        assert_eq!(headers, msg.clone().into_headers());
    }
}

#[test]
fn f3_originate_to_local_channel_is_answered_without_ringing() {
    let (run, mut subs) = run(
        "f3-originate-local-wait.txt",
        vec![Filter::all().types([EventKind::Call])],
    );
    let states: Vec<String> = frames(&mut subs[0])
        .iter()
        .map(|f| {
            serde_json::from_str::<serde_json::Value>(f).expect("json")["data"]["state"].to_string()
        })
        .collect();
    assert_eq!(states, [r#""answered""#, r#""ended""#]);
    let records = run.records.lock().expect("lock");
    let record = &records[0];
    assert_eq!(
        (record.from.as_deref(), record.to.as_deref()),
        (Some("5555"), Some("9000"))
    );
    assert_eq!(
        (record.disposition, record.duration_s, record.billsec),
        (Disposition::Answered, 2, 2)
    );
    assert_eq!(
        (record.cause, record.cause_text.as_deref()),
        (Some(0), Some("Unknown"))
    );
    assert_eq!(records.len(), 1);
}

#[test]
fn f4_originate_to_an_endpoint_hung_up_over_ami() {
    let (run, mut subs) = run(
        "f4-originate-pjsip-1002-ami-hangup.txt",
        vec![Filter::all()],
    );
    let frames = frames(&mut subs[0]);
    assert_eq!(frames.len(), 4, "{frames:#?}");
    assert!(frames[0].contains(r#""data":{"state":"ringing","linkedid":"1795279389.18","from":"5555","to":"1002","endpoints":["1002"]}"#));
    assert!(frames[1].contains(r#""state":"answered""#));
    assert!(frames[2].contains(r#""type":"hangup","data":{"channel":"PJSIP/1002-00000008","uniqueid":"1795279389.18","linkedid":"1795279389.18","endpoint":"1002","caller":"5555","connected":"5555","exten":"s""#));
    assert!(frames[3].contains(r#""disposition":"ANSWERED","cause":16,"cause_text":"Normal Clearing","duration_s":1,"billsec":1}"#));
    let records = run.records.lock().expect("lock");
    assert_eq!(
        (records[0].from.as_deref(), records[0].to.as_deref()),
        (Some("5555"), Some("1002"))
    );
}

#[test]
fn f6_contact_lifecycle() {
    let (run, mut subs) = run(
        "f6-contact-reachable-unreachable-expired.txt",
        vec![Filter::all()],
    );
    let data: Vec<serde_json::Value> = frames(&mut subs[0])
        .iter()
        .map(|f| serde_json::from_str::<serde_json::Value>(f).expect("json")["data"].clone())
        .collect();
    let summary: Vec<(String, serde_json::Value)> = data
        .iter()
        .map(|d| {
            (
                d["status"].as_str().unwrap_or("").to_owned(),
                d["rtt_ms"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("nonqualified".to_owned(), serde_json::Value::Null),
            ("reachable".to_owned(), serde_json::json!(0.795)),
            ("unreachable".to_owned(), serde_json::Value::Null),
            ("removed".to_owned(), serde_json::Value::Null),
        ]
    );
    assert_eq!(run.contacts.lock().expect("lock").len(), 4);
}

/// j2 through the pump and the security monitor: each failed request counts
/// once (wrong password 1; unknown account 2; endpoint deny 2; contact deny 2;
/// the registrar's too-many-contacts refusal of an authenticated phone 0).
#[test]
fn j2_failed_requests_are_counted_once_each() {
    let hub = EventHub::new("pbx1", 1000, 10_000);
    let mut security = hub.subscribe(
        Filter::all()
            .types([EventKind::Security])
            .with_privileged(true),
        None,
    );
    let monitor =
        rayan::live::SecurityMonitor::new(rayan::config::SecuritySettings::default(), &[]);
    let (watch, _blocks) = rayan::live::SecurityWatch::new(monitor.clone());
    let mut pump = Pump::new(hub.clone(), CallTrackerConfig::default())
        .on_security(move |event| watch.observe(event));
    for (time, msg) in timed_events("j2-security-events-register.txt") {
        pump.handle(&msg, time);
    }
    let events: Vec<serde_json::Value> = std::iter::from_fn(|| security.try_next())
        .map(|d| match d {
            Delivery::Event(e) => e.data.clone(),
            other => panic!("unexpected {other:?}"),
        })
        .filter(|e| e["service"] == "PJSIP")
        .collect();
    let failures: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e["failure"] == true)
        .map(|e| {
            (
                e["event"].as_str().unwrap_or_default(),
                e["account"].as_str().unwrap_or("<unknown>"),
            )
        })
        .collect();
    assert_eq!(
        failures,
        [
            ("challenge_response_failed", "2001"),
            ("invalid_account_id", "2999"),
            ("invalid_account_id", "2999"),
            ("failed_acl", "2003"),
            ("failed_acl", "2003"),
            ("failed_acl", "2004"),
            ("failed_acl", "2004"),
        ]
    );
    assert!(
        events
            .iter()
            .all(|e| e["address"] == "127.0.0.1" && e["transport"] == "udp")
    );
    let sources = monitor.top_sources(10);
    assert_eq!(sources.len(), 1);
    assert_eq!((sources[0].failures, sources[0].recent_failures), (7, 7));
}

/// j3 through the pump and the presence map: the callee registers, rings, is in
/// use, is idle again and unregisters; the unregistered caller goes in use and
/// back to unavailable.
#[test]
fn j3_presence_follows_the_call() {
    let hub = EventHub::new("pbx1", 1000, 10_000);
    let mut presence = hub.subscribe(Filter::all().types([EventKind::Presence]), None);
    let map = rayan::live::PresenceMap::default();
    let sink = map.clone();
    let mut pump = Pump::new(hub.clone(), CallTrackerConfig::default())
        .on_hint_state(move |hint| sink.apply(hint, Utc::now()));
    for (time, msg) in timed_events("j3-hints-extensionstatus-call.txt") {
        pump.handle(&msg, time);
    }
    let all: Vec<serde_json::Value> = std::iter::from_fn(|| presence.try_next())
        .filter_map(|d| match d {
            Delivery::Event(e) => Some(e.data.clone()),
            _ => None,
        })
        .collect();
    let of = |endpoint: &str| -> Vec<&str> {
        all.iter()
            .filter(|e| e["endpoint"] == endpoint)
            .map(|e| e["state"].as_str().unwrap_or_default())
            .collect()
    };
    // ... and unregisters at the end (REGISTER with Expires 0).
    assert_eq!(
        of("2001"),
        [
            "unavailable",
            "idle",
            "ringing",
            "in_use",
            "idle",
            "unavailable"
        ]
    );
    assert_eq!(of("2002"), ["unavailable", "in_use", "unavailable"]);
    assert_eq!(
        map.get("from-internal", "2001").map(|p| p.state),
        Some(rayan::events::PresenceState::Unavailable)
    );
}
