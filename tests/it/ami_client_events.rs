//! Events through the client: none lost in a burst, none lost at login, UTF-8 split across
//! reads intact, repeated headers and unknown events whole, laggers told how much they
//! missed without slowing anyone else, and a long reload never delaying an event.

use std::time::{Duration, Instant};

use crate::support::asterisk::{AmiEvent, AsteriskDouble, DoubleConfig, call_sequence};
use crate::support::connected;
use rayan::ami::{AmiClient, EventStream, Lagged, Message};

const WITHIN: Duration = Duration::from_secs(10);

async fn next_event(events: &mut EventStream) -> Result<Message, Lagged> {
    tokio::time::timeout(WITHIN, events.next())
        .await
        .expect("event in time")
        .expect("stream open")
}

/// The next event named `name`, skipping login noise.
async fn next_named(events: &mut EventStream, name: &str) -> Message {
    loop {
        let event = next_event(events).await.expect("no lag");
        if event.event() == Some(name) {
            return event;
        }
    }
}

fn numbered(n: usize) -> AmiEvent {
    AmiEvent::new("UserEvent", "user,all")
        .with("UserEvent", "burst")
        .with("Seq", n.to_string())
}

#[tokio::test]
async fn events_in_the_same_read_as_the_login_response_are_delivered() {
    let double = AsteriskDouble::start(DoubleConfig::default()).await;
    let client = AmiClient::start(double.client_settings());
    let mut events = client.subscribe();
    // The double writes the Login answer, FullyBooted and SuccessfulAuth in one write.
    let booted = next_named(&mut events, "FullyBooted").await;
    assert_eq!(booted.get("Status"), Some("Fully Booted"));
    let auth = next_named(&mut events, "SuccessfulAuth").await;
    assert_eq!(auth.get("AccountID"), Some("rayan"));
    client.shutdown().await;
}

#[tokio::test]
async fn a_burst_is_delivered_whole_and_in_order() {
    let double = AsteriskDouble::start(DoubleConfig::default()).await;
    let client = AmiClient::start(double.client_settings());
    connected(&client).await;
    let mut events = client.subscribe();
    const BURST: usize = 50_000;
    for n in 0..BURST {
        double.emit(&numbered(n));
    }
    let mut expected = 0;
    while expected < BURST {
        let event = next_event(&mut events).await.expect("no event may be lost");
        if event.get("UserEvent") != Some("burst") {
            continue;
        }
        assert_eq!(event.get("Seq"), Some(expected.to_string().as_str()));
        expected += 1;
    }
    client.shutdown().await;
}

#[tokio::test]
async fn lagging_subscriber_learns_how_many_it_missed_and_never_slows_the_others() {
    let double = AsteriskDouble::start(DoubleConfig::default()).await;
    let mut settings = double.client_settings();
    settings.event_buffer = 16;
    let client = AmiClient::start(settings);
    connected(&client).await;
    let mut slow = client.subscribe();
    let mut fast = client.subscribe();
    // Ten rounds of ten events: the fast subscriber reads each round, the slow one never
    // reads. The reader goes on publishing regardless of the slow one.
    for round in 0..10 {
        for n in round * 10..round * 10 + 10 {
            double.emit(&numbered(n));
        }
        for n in round * 10..round * 10 + 10 {
            let event = next_event(&mut fast)
                .await
                .expect("fast subscriber keeps up");
            assert_eq!(event.get("Seq"), Some(n.to_string().as_str()));
        }
    }
    // The slow one is told exactly how many it missed, then gets the newest events in order.
    let Err(Lagged(missed)) = next_event(&mut slow).await else {
        panic!("the slow subscriber must learn that it lagged");
    };
    assert!((1..100).contains(&missed), "missed {missed}");
    for n in missed..100 {
        let event = next_event(&mut slow).await.expect("after the lag report");
        assert_eq!(event.get("Seq"), Some(n.to_string().as_str()));
    }
    assert!(slow.try_next().is_none(), "nothing beyond the 100 events");
    client.shutdown().await;
}

#[tokio::test]
async fn utf8_names_split_across_reads_arrive_intact() {
    let double = AsteriskDouble::start(DoubleConfig::default()).await;
    let client = AmiClient::start(double.client_settings());
    connected(&client).await;
    let mut events = client.subscribe();
    // 3-byte writes with pauses: "ü" and "ř" straddle reads.
    double.set_write_chunk(Some(3));
    for (seq, event) in call_sequence("1001", "1002", "Jürgen Dvořák", 16, 1)
        .iter()
        .enumerate()
    {
        double.emit(&event.clone().with("Seq", seq.to_string()));
    }
    let newchannel = next_named(&mut events, "Newchannel").await;
    assert_eq!(newchannel.get("CallerIDName"), Some("Jürgen Dvořák"));
    let varset = next_named(&mut events, "VarSet").await;
    assert_eq!(varset.get("Value"), Some("Jürgen Dvořák"));
    client.shutdown().await;
}

#[tokio::test]
async fn invalid_utf8_stays_visible_instead_of_dropping_the_field() {
    let double = AsteriskDouble::start(DoubleConfig::default()).await;
    let client = AmiClient::start(double.client_settings());
    connected(&client).await;
    let mut events = client.subscribe();
    double.inject_raw(b"Event: Newchannel\r\nPrivilege: call,all\r\nCallerIDName: J\xfcrgen\r\nExten: 1002\r\n\r\n");
    let event = next_named(&mut events, "Newchannel").await;
    assert_eq!(event.get("CallerIDName"), Some("J\u{FFFD}rgen"));
    assert_eq!(event.get("Exten"), Some("1002"));
    client.shutdown().await;
}

#[tokio::test]
async fn repeated_headers_and_unknown_events_pass_through_whole() {
    let double = AsteriskDouble::start(DoubleConfig::default()).await;
    let client = AmiClient::start(double.client_settings());
    connected(&client).await;
    let mut events = client.subscribe();
    let sent = AmiEvent::new("SomethingNew", "call,all")
        .with("Channel", "PJSIP/1001-00000006")
        .with("ChanVariable", "A=1")
        .with("ChanVariable", "B=2")
        .with("Cause-txt", "Normal Clearing")
        .with("Empty", "");
    double.emit(&sent);
    let received = next_named(&mut events, "SomethingNew").await;
    let headers: Vec<(String, String)> = received
        .headers()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(headers, sent.headers);
    assert_eq!(
        received.get_all("ChanVariable").collect::<Vec<_>>(),
        ["A=1", "B=2"]
    );
    client.shutdown().await;
}

#[tokio::test]
async fn call_events_keep_every_hangup_field() {
    let double = AsteriskDouble::start(DoubleConfig::default()).await;
    let client = AmiClient::start(double.client_settings());
    connected(&client).await;
    let mut events = client.subscribe();
    let sequence = call_sequence("1001", "1002", "1001", 16, 3);
    for event in &sequence {
        double.emit(event);
    }
    let mut names = Vec::new();
    let mut hangups = Vec::new();
    while names.len() < sequence.len() {
        let event = next_event(&mut events).await.expect("no lag");
        let name = event.event().unwrap_or_default().to_owned();
        if name == "SuccessfulAuth" || name == "FullyBooted" {
            continue;
        }
        if name == "Hangup" {
            hangups.push(event.clone());
        }
        names.push(name);
    }
    let expected: Vec<_> = sequence.iter().map(|e| e.name().to_owned()).collect();
    assert_eq!(names, expected);
    for hangup in hangups {
        for field in [
            "Channel",
            "Uniqueid",
            "Linkedid",
            "CallerIDNum",
            "ConnectedLineNum",
            "Context",
            "Exten",
        ] {
            assert!(hangup.get(field).is_some(), "{field} missing");
        }
        assert_eq!(hangup.get("Cause"), Some("16"));
        assert_eq!(hangup.get("Cause-txt"), Some("Normal Clearing"));
    }
    client.shutdown().await;
}

#[tokio::test]
async fn a_long_reload_never_delays_events() {
    let double = AsteriskDouble::start(DoubleConfig::default()).await;
    double.set_reload_duration(Duration::from_millis(1500));
    let client = AmiClient::start(double.client_settings());
    connected(&client).await;
    let mut events = client.subscribe();
    let reload = tokio::spawn({
        let client = client.clone();
        async move { client.reload_module("res_pjsip.so").await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let sent = Instant::now();
    double.emit(&AmiEvent::contact_status(
        "1001",
        "sip:1001@127.0.0.1:5081",
        "Reachable",
        293,
    ));
    let event = next_named(&mut events, "ContactStatus").await;
    assert!(
        sent.elapsed() < Duration::from_millis(500),
        "event waited {:?} behind the reload",
        sent.elapsed()
    );
    assert_eq!(event.get("ContactStatus"), Some("Reachable"));
    assert!(!reload.is_finished(), "the reload is still running");
    reload.await.expect("joined").expect("reload answered");
    client.shutdown().await;
}

#[tokio::test]
async fn event_stream_ends_after_shutdown() {
    let double = AsteriskDouble::start(DoubleConfig::default()).await;
    let client = AmiClient::start(double.client_settings());
    connected(&client).await;
    let mut events = client.subscribe();
    client.shutdown().await;
    let end = tokio::time::timeout(WITHIN, async { while events.next().await.is_some() {} }).await;
    assert!(end.is_ok(), "stream kept waiting after shutdown");
}

#[tokio::test]
async fn events_are_also_a_futures_stream() {
    use futures_util::StreamExt;
    let double = AsteriskDouble::start(DoubleConfig::default()).await;
    let client = AmiClient::start(double.client_settings());
    connected(&client).await;
    let mut stream = Box::pin(client.subscribe().into_stream());
    double.emit(&numbered(7));
    let event = tokio::time::timeout(WITHIN, stream.next())
        .await
        .expect("in time")
        .expect("open")
        .expect("no lag");
    assert_eq!(event.get("Seq"), Some("7"));
    client.shutdown().await;
}
