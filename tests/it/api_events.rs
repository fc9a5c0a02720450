//! The event stream (`GET /api/v1/events`) against the real daemon, fed through
//! the Asterisk double's AMI event connection, on PostgreSQL and on SQLite.

use std::time::Duration;

use crate::events_support::timed_events;
use crate::support::asterisk::{AmiEvent, AsteriskDouble, ChannelSnapshot};
use crate::support::daemon::{Asterisk, TestDaemon};
use crate::support::db::Backend;
use crate::support::ws::{Read, Ws};
use chrono::{DateTime, Utc};
use futures_util::{SinkExt, StreamExt};
use rayan::events::EventHub;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

on_both_backends!(
    f1_registration_frames_are_exact,
    f2_call_frames_are_exact_and_the_call_is_stored,
    resume_with_since_replays_what_was_missed,
    a_resume_older_than_the_ring_starts_with_a_gap,
    a_stalled_reader_gets_lagged_and_the_others_get_everything,
    subscribe_ops_replace_the_filter,
    auth_and_roles_are_checked_before_the_upgrade,
    raw_events_reach_admins,
    a_disconnect_during_a_burst_harms_no_one,
    idle_and_misbehaving_clients_are_closed,
    shutdown_closes_every_stream_with_1001,
);

fn asterisk(d: &TestDaemon) -> &AsteriskDouble {
    d.asterisk.as_ref().expect("an Asterisk double")
}

fn hub(d: &TestDaemon) -> &EventHub {
    d.daemon
        .as_ref()
        .expect("a running daemon")
        .services
        .streams()
        .hub()
}

/// `ContactStatus` as Asterisk 22 sends it (f1).
fn contact(d: &TestDaemon, aor: &str, status: &str) {
    asterisk(d).emit(&AmiEvent::contact_status(
        aor,
        &format!("sip:{aor}@127.0.0.1:5081"),
        status,
        0,
    ));
}

/// `Hangup` of a channel of `endpoint` that is part of no tracked call.
fn hangup(d: &TestDaemon, endpoint: &str, n: u32) {
    let channel = ChannelSnapshot {
        channel: format!("PJSIP/{endpoint}-{n:08x}"),
        state: 6,
        caller_num: endpoint.to_owned(),
        caller_name: "<unknown>".to_owned(),
        connected_num: "<unknown>".to_owned(),
        connected_name: "<unknown>".to_owned(),
        context: "from-internal".to_owned(),
        exten: String::new(),
        priority: 1,
        uniqueid: format!("1795279000.{n}"),
        linkedid: format!("1795279000.{n}"),
    };
    asterisk(d).emit(&AmiEvent::hangup(&channel, 16));
}

/// Waits until the hub has published `seq`.
async fn published(d: &TestDaemon, seq: u64) {
    let deadline = tokio::time::Instant::now() + crate::support::ws::PATIENCE;
    while hub(d).last_seq() < seq {
        assert!(
            tokio::time::Instant::now() < deadline,
            "seq {seq} never published (at {})",
            hub(d).last_seq()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A frame with its time checked and replaced by `T` and its seq by `S`; returns the seq.
fn normalise(frame: &str) -> (u64, String) {
    let value: Value = serde_json::from_str(frame).expect("JSON frame");
    let seq = value["seq"].as_u64().expect("seq");
    let time = value["time"].as_str().expect("time");
    let parsed: DateTime<Utc> = time.parse().expect("RFC 3339 time");
    assert_eq!(
        time,
        rayan::events::event::format_time(&parsed),
        "UTC with milliseconds"
    );
    let text = frame
        .replacen(&format!(r#""time":"{time}""#), r#""time":"T""#, 1)
        .replacen(&format!(r#"{{"seq":{seq},"#), r#"{"seq":S,"#, 1);
    (seq, text)
}

/// Reads `expected.len()` frames, checks they follow each other in `seq` and equal
/// `expected` (with `S` and `T` for seq and time); returns the last seq.
async fn assert_frames(ws: &mut Ws, expected: &[&str]) -> u64 {
    let mut last = None;
    for (i, want) in expected.iter().enumerate() {
        let (seq, got) = normalise(&ws.text().await);
        if let Some(previous) = last {
            assert!(seq > previous, "frame {i}: seq {seq} after {previous}");
        }
        last = Some(seq);
        assert_eq!(got, *want, "frame {i}");
    }
    last.expect("at least one frame")
}

/// Plays a transcript's AMI events through the double. With `stamped`, each gets
/// the `Timestamp` header Asterisk adds with `timestampevents=yes`, holding the
/// time it was recorded, shifted to now, so call times are as recorded.
fn replay(d: &TestDaemon, transcript: &str, stamped: bool) -> chrono::Duration {
    let events = timed_events(transcript);
    // Whole microseconds, as the Timestamp header carries them.
    let shift = chrono::Duration::microseconds(
        (Utc::now() - events[0].0)
            .num_microseconds()
            .expect("shift"),
    );
    for (time, msg) in events {
        if msg.action_id().is_some() {
            continue;
        }
        let mut headers = msg.into_headers();
        if stamped {
            let at = time + shift;
            headers.insert(
                2,
                (
                    "Timestamp".into(),
                    format!("{}.{:06}", at.timestamp(), at.timestamp_subsec_micros()),
                ),
            );
        }
        asterisk(d).emit(&AmiEvent { headers });
    }
    shift
}

async fn f1_registration_frames_are_exact(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    let viewer = d.token("viewer").await;
    let (mut ws, hello) = Ws::connect(&d.url, &viewer, "types=contact_status").await;
    assert_eq!(
        hello,
        json!({"type": "subscribed", "types": ["contact_status"], "endpoints": null})
    );
    replay(&d, "f1-register-qualify-unregister-1001.txt", false);
    assert_frames(
        &mut ws,
        &[
            r#"{"seq":S,"time":"T","node":"test1","type":"contact_status","data":{"endpoint":"1001","aor":"1001","uri":"sip:1001@127.0.0.1:5081","status":"nonqualified","rtt_ms":null}}"#,
            r#"{"seq":S,"time":"T","node":"test1","type":"contact_status","data":{"endpoint":"1001","aor":"1001","uri":"sip:1001@127.0.0.1:5081","status":"reachable","rtt_ms":0.293}}"#,
            r#"{"seq":S,"time":"T","node":"test1","type":"contact_status","data":{"endpoint":"1001","aor":"1001","uri":"sip:1001@127.0.0.1:5081","status":"removed","rtt_ms":null}}"#,
        ],
    )
    .await;
    ws.assert_quiet(Duration::from_millis(200)).await;
    d.stop().await;
}

async fn f2_call_frames_are_exact_and_the_call_is_stored(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    let viewer = d.token("viewer").await;
    let (mut ws, _) = Ws::connect(&d.url, &viewer, "types=contact_status,hangup,call").await;
    let (mut only_1002, hello) = Ws::connect(&d.url, &viewer, "types=hangup&endpoints=1002").await;
    assert_eq!(
        hello,
        json!({"type": "subscribed", "types": ["hangup"], "endpoints": ["1002"]})
    );
    let shift = replay(&d, "f2-call-1001-to-1002.txt", true);
    let hangup_1002 = r#"{"seq":S,"time":"T","node":"test1","type":"hangup","data":{"channel":"PJSIP/1002-00000007","uniqueid":"1795279363.15","linkedid":"1795279363.14","endpoint":"1002","caller":"1002","connected":"1001","exten":null,"context":"from-internal","cause":16,"cause_text":"Normal Clearing"}}"#;
    let hangup_1001 = r#"{"seq":S,"time":"T","node":"test1","type":"hangup","data":{"channel":"PJSIP/1001-00000006","uniqueid":"1795279363.14","linkedid":"1795279363.14","endpoint":"1001","caller":"1001","connected":"1002","exten":"1002","context":"from-internal","cause":16,"cause_text":"Normal Clearing"}}"#;
    assert_frames(
        &mut ws,
        &[
            r#"{"seq":S,"time":"T","node":"test1","type":"contact_status","data":{"endpoint":"1002","aor":"1002","uri":"sip:1002@127.0.0.1:5082","status":"reachable","rtt_ms":0.749}}"#,
            r#"{"seq":S,"time":"T","node":"test1","type":"call","data":{"state":"ringing","linkedid":"1795279363.14","from":"1001","to":"1002","endpoints":["1001","1002"]}}"#,
            r#"{"seq":S,"time":"T","node":"test1","type":"call","data":{"state":"answered","linkedid":"1795279363.14","from":"1001","to":"1002","endpoints":["1001","1002"]}}"#,
            hangup_1002,
            hangup_1001,
            r#"{"seq":S,"time":"T","node":"test1","type":"call","data":{"state":"ended","linkedid":"1795279363.14","from":"1001","to":"1002","endpoints":["1001","1002"],"disposition":"ANSWERED","cause":16,"cause_text":"Normal Clearing","duration_s":4,"billsec":4}}"#,
        ],
    )
    .await;
    // Both hangups name 1002 (one as its endpoint, one as the connected party).
    assert_frames(&mut only_1002, &[hangup_1002, hangup_1001]).await;

    // The history: written by the daemon's writer task, read through the API.
    let calls = poll_calls(&d, &viewer, "/api/v1/calls", 1).await;
    let call = &calls["items"][0];
    let recorded = |text: &str| text.parse::<DateTime<Utc>>().expect("time") + shift;
    assert_eq!(call["uniqueid"], "1795279363.14");
    assert_eq!(call["linkedid"], "1795279363.14");
    assert_eq!(
        (call["from"].as_str(), call["to"].as_str()),
        (Some("1001"), Some("1002"))
    );
    assert_eq!(
        (call["duration_s"].as_i64(), call["billsec"].as_i64()),
        (Some(4), Some(4))
    );
    assert_eq!(call["disposition"], "ANSWERED");
    assert_eq!(
        (call["cause"].as_i64(), call["cause_text"].as_str()),
        (Some(16), Some("Normal Clearing"))
    );
    assert_eq!(call["node"], "test1");
    let start: DateTime<Utc> = serde_json::from_value(call["start"].clone()).expect("start");
    let end: DateTime<Utc> = serde_json::from_value(call["end"].clone()).expect("end");
    assert_eq!(
        start,
        recorded("2026-11-21T16:42:43.063667Z"),
        "the block that started the call"
    );
    assert_eq!(
        end,
        recorded("2026-11-21T16:42:47.075069Z"),
        "the block that ended it"
    );
    assert_eq!(call["answer"], call["start"]);

    for (query, total) in [
        ("extension=1002", 1),
        ("extension=1001&disposition=answered", 1),
        ("extension=1003", 0),
        ("disposition=BUSY", 0),
    ] {
        let listed = d
            .call(
                Method::GET,
                &format!("/api/v1/calls?{query}"),
                Some(&viewer),
                None,
            )
            .await;
        assert_eq!(listed.body["total"], total, "{query}: {}", listed.body);
    }
    // A second delivery of the same call (e.g. after an AMI reconnect) is not stored twice.
    replay(&d, "f2-call-1001-to-1002.txt", true);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        d.call(Method::GET, "/api/v1/calls", Some(&viewer), None)
            .await
            .body["total"],
        1
    );
    d.stop().await;
}

/// Lists calls until `total` are there (the writer stores them asynchronously).
async fn poll_calls(d: &TestDaemon, token: &str, path: &str, total: u64) -> Value {
    let deadline = tokio::time::Instant::now() + crate::support::ws::PATIENCE;
    loop {
        let listed = d.call(Method::GET, path, Some(token), None).await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
        if listed.body["total"] == total {
            return listed.body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "calls never reached {total}: {}",
            listed.body
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The frame of [`contact`]: a reachable contact's round trip is measured (0 µs here).
fn contact_frame(aor: &str, status: &str) -> String {
    let rtt = if status == "reachable" { "0.0" } else { "null" };
    format!(
        r#"{{"seq":S,"time":"T","node":"test1","type":"contact_status","data":{{"endpoint":"{aor}","aor":"{aor}","uri":"sip:{aor}@127.0.0.1:5081","status":"{status}","rtt_ms":{rtt}}}}}"#
    )
}

async fn resume_with_since_replays_what_was_missed(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    let viewer = d.token("viewer").await;
    let (mut first, _) = Ws::connect(&d.url, &viewer, "types=contact_status").await;
    contact(&d, "1001", "NonQualified");
    contact(&d, "1001", "Reachable");
    let seen = assert_frames(
        &mut first,
        &[
            &contact_frame("1001", "nonqualified"),
            &contact_frame("1001", "reachable"),
        ],
    )
    .await;
    drop(first);
    contact(&d, "1001", "Unreachable");
    hangup(&d, "1001", 1);
    contact(&d, "1001", "Removed");
    published(&d, seen + 3).await;

    let (mut resumed, _) = Ws::connect(
        &d.url,
        &viewer,
        &format!("types=contact_status&since={seen}"),
    )
    .await;
    let last = assert_frames(
        &mut resumed,
        &[
            &contact_frame("1001", "unreachable"),
            &contact_frame("1001", "removed"),
        ],
    )
    .await;
    assert_eq!(
        last,
        seen + 3,
        "the hangup in between was filtered out, not lost"
    );
    contact(&d, "1002", "NonQualified");
    assert_frames(&mut resumed, &[&contact_frame("1002", "nonqualified")]).await;

    let (mut current, _) = Ws::connect(
        &d.url,
        &viewer,
        &format!("types=contact_status&since={}", seen + 4),
    )
    .await;
    current.assert_quiet(Duration::from_millis(200)).await;
    d.stop().await;
}

async fn a_resume_older_than_the_ring_starts_with_a_gap(backend: Backend) {
    let d = TestDaemon::start_with(backend, Asterisk::Double, |s| s.events.ring_size = 4).await;
    let viewer = d.token("viewer").await;
    let before = hub(&d).last_seq();
    for status in [
        "NonQualified",
        "Reachable",
        "Unreachable",
        "Reachable",
        "Unreachable",
        "Reachable",
    ] {
        contact(&d, "1001", status);
    }
    published(&d, before + 6).await;
    let (mut ws, _) = Ws::connect(&d.url, &viewer, &format!("since={before}")).await;
    assert_eq!(
        ws.json().await,
        json!({"type": "gap", "from": before + 1, "to": before + 2})
    );
    let last = assert_frames(
        &mut ws,
        &[
            &contact_frame("1001", "unreachable"),
            &contact_frame("1001", "reachable"),
            &contact_frame("1001", "unreachable"),
            &contact_frame("1001", "reachable"),
        ],
    )
    .await;
    assert_eq!(last, before + 6);
    ws.assert_quiet(Duration::from_millis(200)).await;
    d.stop().await;
}

async fn a_stalled_reader_gets_lagged_and_the_others_get_everything(backend: Backend) {
    const EVENTS: u64 = 3000;
    let d = TestDaemon::start_with(backend, Asterisk::Double, |s| {
        s.events.subscriber_queue = 64
    })
    .await;
    let viewer = d.token("viewer").await;
    let (mut keeper, _) = Ws::connect(&d.url, &viewer, "types=contact_status").await;
    let mut stalled = Ws::connect_small_buffer(&d.url, &viewer, "types=contact_status", 4096).await;
    let first = hub(&d).last_seq() + 1;
    let reader = tokio::spawn(async move {
        let mut seqs = Vec::new();
        while (seqs.len() as u64) < EVENTS {
            let frame = keeper.json().await;
            assert_eq!(
                frame["type"], "contact_status",
                "the keeper never lags: {frame}"
            );
            seqs.push(frame["seq"].as_u64().expect("seq"));
        }
        seqs
    });
    // In steps a reader that keeps reading can follow (the stalled one cannot).
    for i in 0..EVENTS {
        contact(
            &d,
            &(2000 + i % 50).to_string(),
            if i % 2 == 0 {
                "Reachable"
            } else {
                "Unreachable"
            },
        );
        if i % 16 == 15 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let seqs = reader.await.expect("keeper");
    assert_eq!(
        seqs,
        (first..first + EVENTS).collect::<Vec<_>>(),
        "everything, in order"
    );

    // Now the stalled reader reads: what it missed is counted, never silent.
    let (mut received, mut dropped, mut lagged_frames, mut last) = (0u64, 0u64, 0, 0u64);
    while last < first + EVENTS - 1 {
        let frame = stalled.json().await;
        if frame["type"] == "lagged" {
            lagged_frames += 1;
            dropped += frame["dropped"].as_u64().expect("dropped");
        } else {
            let seq = frame["seq"].as_u64().expect("seq");
            assert!(seq > last, "in order");
            last = seq;
            received += 1;
        }
    }
    assert!(
        lagged_frames >= 1 && dropped > 0,
        "a stalled reader is told it lagged"
    );
    assert_eq!(
        received + dropped,
        EVENTS,
        "every event delivered or counted as dropped"
    );
    d.stop().await;
}

async fn subscribe_ops_replace_the_filter(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    let viewer = d.token("viewer").await;
    let (mut ws, _) = Ws::connect(&d.url, &viewer, "types=contact_status").await;
    hangup(&d, "1001", 1);
    contact(&d, "1001", "Reachable");
    let (_, frame) = normalise(&ws.text().await);
    assert_eq!(frame, contact_frame("1001", "reachable"));

    ws.send(r#"{"op":"subscribe","types":["hangup"],"endpoints":["1002"]}"#)
        .await;
    assert_eq!(
        ws.json().await,
        json!({"type": "subscribed", "types": ["hangup"], "endpoints": ["1002"]})
    );
    contact(&d, "1002", "Reachable");
    hangup(&d, "1001", 2);
    hangup(&d, "1002", 3);
    let frame = ws.json().await;
    assert_eq!(
        (frame["type"].as_str(), frame["data"]["channel"].as_str()),
        (Some("hangup"), Some("PJSIP/1002-00000003"))
    );

    // Refused ops leave the filter as it was.
    for (op, message) in [
        (
            r#"{"op":"subscribe","types":["raw"]}"#,
            "raw and security events need the admin role",
        ),
        (r#"{"op":"subscribe","types":["bogus"]}"#, "types[0]"),
        (r#"{"op":"unsubscribe"}"#, "expected"),
        ("hello", "expected"),
    ] {
        ws.send(op).await;
        let answer = ws.json().await;
        assert_eq!(answer["type"], "error", "{op}: {answer}");
        assert!(
            answer["message"]
                .as_str()
                .is_some_and(|m| m.contains(message)),
            "{op}: {answer}"
        );
    }
    hangup(&d, "1002", 4);
    assert_eq!(ws.json().await["data"]["channel"], "PJSIP/1002-00000004");

    // Without fields: everything again (but raw).
    ws.send(r#"{"op":"subscribe"}"#).await;
    assert_eq!(
        ws.json().await,
        json!({"type": "subscribed", "types": null, "endpoints": null})
    );
    contact(&d, "1003", "Removed");
    assert_eq!(ws.json().await["data"]["endpoint"], "1003");
    d.stop().await;
}

async fn auth_and_roles_are_checked_before_the_upgrade(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    let viewer = d.token("viewer").await;
    let operator = d.token("operator").await;
    for (token, query) in [
        (None, ""),
        (Some("not-a-token"), ""),
        (None, "token=not-a-token"),
    ] {
        let refused = Ws::try_connect(&d.url, token, query)
            .await
            .err()
            .expect("refused");
        assert_eq!(refused.status, 401, "{token:?} {query}");
        assert_eq!(refused.content_type, "application/problem+json");
        assert_eq!(refused.body["status"], 401);
    }
    let made = d
        .admin(
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"role": "viewer"})),
        )
        .await;
    let revoked = made.body["token"].as_str().expect("token").to_owned();
    assert_eq!(
        Ws::try_connect(&d.url, Some(&revoked), "")
            .await
            .map(|_| ())
            .err()
            .map(|r| r.status),
        None
    );
    let gone = d
        .admin(
            Method::DELETE,
            &format!("/api/v1/tokens/{}", made.body["id"]),
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    assert_eq!(
        Ws::try_connect(&d.url, Some(&revoked), "")
            .await
            .err()
            .expect("revoked")
            .status,
        401
    );

    // `?token=` is enough (browsers cannot set headers); the viewer role is enough.
    let mut ws = Ws::try_connect(&d.url, None, &format!("token={viewer}&types=hangup"))
        .await
        .expect("query token");
    assert_eq!(ws.json().await["type"], "subscribed");

    let raw = Ws::try_connect(&d.url, Some(&operator), "types=raw,hangup")
        .await
        .err()
        .expect("raw needs admin");
    assert_eq!(
        (raw.status, raw.content_type.as_str()),
        (403, "application/problem+json")
    );
    let bad = Ws::try_connect(&d.url, Some(&viewer), "types=hangup,bogus")
        .await
        .err()
        .expect("bad type");
    assert_eq!(bad.status, 422);
    assert_eq!(bad.body["errors"][0]["field"], "types");
    let bad = Ws::try_connect(&d.url, Some(&viewer), "since=yesterday")
        .await
        .err()
        .expect("bad since");
    assert_eq!(
        (bad.status, bad.body["errors"][0]["field"].as_str()),
        (422, Some("since"))
    );

    // A plain GET is not an upgrade.
    let plain = d
        .call(Method::GET, "/api/v1/events", Some(&viewer), None)
        .await;
    plain.assert_problem(StatusCode::UPGRADE_REQUIRED, None);
    d.call(Method::GET, "/api/v1/events", None, None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, None);
    d.stop().await;
}

async fn raw_events_reach_admins(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    let (mut ws, hello) = Ws::connect(&d.url, &d.admin_token, "types=raw").await;
    assert_eq!(hello["types"], json!(["raw"]));
    let viewer = d.token("viewer").await;
    let (mut plain, _) = Ws::connect(&d.url, &viewer, "").await;
    asterisk(&d).emit(
        &AmiEvent::new("DeviceStateChange", "call,all")
            .with("Device", "PJSIP/1002")
            .with("State", "RINGING"),
    );
    let frame = ws.json().await;
    assert_eq!(frame["type"], "raw");
    assert_eq!(
        frame["data"],
        json!({"event": "DeviceStateChange", "headers": [["Event", "DeviceStateChange"], ["Privilege", "call,all"], ["Device", "PJSIP/1002"], ["State", "RINGING"]]})
    );
    plain.assert_quiet(Duration::from_millis(200)).await;
    d.stop().await;
}

async fn a_disconnect_during_a_burst_harms_no_one(backend: Backend) {
    const EVENTS: u64 = 2000;
    let d = TestDaemon::start(backend).await;
    let viewer = d.token("viewer").await;
    let (mut keeper, _) = Ws::connect(&d.url, &viewer, "types=contact_status").await;
    let (mut leaver, _) = Ws::connect(&d.url, &viewer, "types=contact_status").await;
    assert_eq!(hub(&d).subscriber_count(), 2);
    let first = hub(&d).last_seq() + 1;
    let leaving = tokio::spawn(async move {
        for _ in 0..100 {
            leaver.text().await;
        }
        drop(leaver);
    });
    for i in 0..EVENTS {
        contact(
            &d,
            "1001",
            if i % 2 == 0 {
                "Reachable"
            } else {
                "Unreachable"
            },
        );
    }
    leaving.await.expect("leaver");
    let mut expected = first;
    while expected < first + EVENTS {
        let frame = keeper.json().await;
        assert_eq!(frame["seq"], expected, "{frame}");
        expected += 1;
    }
    let deadline = tokio::time::Instant::now() + crate::support::ws::PATIENCE;
    while hub(&d).subscriber_count() != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the gone subscriber was never removed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        d.call(Method::GET, "/healthz", None, None).await.status,
        StatusCode::OK
    );
    d.stop().await;
}

async fn idle_and_misbehaving_clients_are_closed(backend: Backend) {
    let d = TestDaemon::start_with(backend, Asterisk::Double, |s| {
        s.events.ping_interval_ms = 100;
        s.events.idle_timeout_ms = 400;
    })
    .await;
    let viewer = d.token("viewer").await;
    // A client that reads answers the pings and stays.
    let (mut alive, _) = Ws::connect(&d.url, &viewer, "").await;
    // One that never reads never answers them.
    let (mut silent, _) = Ws::connect(&d.url, &viewer, "").await;
    alive.assert_quiet(Duration::from_millis(1200)).await;
    assert_eq!(silent.closed().await.map(|(code, _)| code), Some(1008));
    contact(&d, "1001", "Reachable");
    assert_eq!(
        alive.json().await["type"],
        "contact_status",
        "the live one is still served"
    );

    // A client's ping is answered between event frames, which stay whole.
    alive
        .stream
        .send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .expect("ping");
    for i in 0..20 {
        contact(
            &d,
            "1001",
            if i % 2 == 0 {
                "Unreachable"
            } else {
                "Reachable"
            },
        );
    }
    let (mut pongs, mut events) = (0, 0);
    while events < 20 || pongs == 0 {
        let message = tokio::time::timeout(crate::support::ws::PATIENCE, alive.stream.next())
            .await
            .expect("a frame in time");
        match message {
            Some(Ok(Message::Pong(payload))) => {
                assert_eq!(&payload[..], b"are you there");
                pongs += 1;
            }
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(&text).expect("a whole JSON frame");
                assert_eq!(frame["type"], "contact_status", "{frame}");
                events += 1;
            }
            // The server's own keepalive.
            Some(Ok(Message::Ping(_))) => {}
            other => panic!("expected events and one pong, got {other:?}"),
        }
    }
    assert_eq!((pongs, events), (1, 20));

    let (mut binary, _) = Ws::connect(&d.url, &viewer, "").await;
    binary
        .stream
        .send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .expect("send");
    assert_eq!(binary.closed().await.map(|(code, _)| code), Some(1003));
    let (mut big, _) = Ws::connect(&d.url, &viewer, "").await;
    big.send(&format!(
        r#"{{"op":"subscribe","endpoints":["{}"]}}"#,
        "x".repeat(70_000)
    ))
    .await;
    assert_eq!(big.closed().await.map(|(code, _)| code), Some(1009));
    d.stop().await;
}

async fn shutdown_closes_every_stream_with_1001(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    let viewer = d.token("viewer").await;
    let (mut a, _) = Ws::connect(&d.url, &viewer, "").await;
    let (mut b, _) = Ws::connect(&d.url, &d.admin_token, "types=raw").await;
    let stop = tokio::spawn(d.stop());
    for ws in [&mut a, &mut b] {
        match ws.read_within(crate::support::ws::PATIENCE).await {
            Some(Read::Closed(Some((code, reason)))) => {
                assert_eq!(code, 1001);
                assert!(reason.contains("shutting down"), "{reason}");
            }
            other => panic!("expected a 1001 close, got {other:?}"),
        }
    }
    tokio::time::timeout(Duration::from_secs(20), stop)
        .await
        .expect("stop in time")
        .expect("stop");
}
