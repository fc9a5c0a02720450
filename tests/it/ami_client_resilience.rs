//! When things go wrong: per-action timeouts, a dead peer found by the keepalive Ping,
//! in-flight actions failing at once when the link drops, reconnect after Asterisk comes
//! back, malformed or oversized input, and shutdown.

use std::time::{Duration, Instant};

use crate::support::asterisk::{AmiEvent, AsteriskDouble, DoubleConfig};
use crate::support::{connected, wait_state};
use futures_util::future::join_all;
use rayan::ami::{AmiClient, AmiError, AmiSettings, ConnectionState, Message};

const WITHIN: Duration = Duration::from_secs(5);

fn is_disconnected(state: &ConnectionState) -> bool {
    matches!(state, ConnectionState::Disconnected { .. })
}

async fn started(settings: impl FnOnce(&mut AmiSettings)) -> (AsteriskDouble, AmiClient) {
    let double = AsteriskDouble::start(DoubleConfig::default()).await;
    let mut s = double.client_settings();
    settings(&mut s);
    let client = AmiClient::start(s);
    connected(&client).await;
    (double, client)
}

#[tokio::test]
async fn every_action_has_its_own_timeout() {
    let (double, client) = started(|s| {
        s.action_timeout = Duration::from_millis(300);
        s.ping_interval = Duration::from_secs(60);
    })
    .await;
    double.set_refuse_responses(true);
    let before = Instant::now();
    let error = client.ping().await.expect_err("no answer");
    assert!(
        matches!(&error, AmiError::Timeout { action, .. } if action == "Ping"),
        "{error}"
    );
    let waited = before.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
    double.set_refuse_responses(false);
    client
        .ping()
        .await
        .expect("the connection still serves later actions");
    client.shutdown().await;
}

#[tokio::test]
async fn a_late_answer_never_reaches_another_action() {
    let (double, client) = started(|s| s.action_timeout = Duration::from_millis(300)).await;
    double.set_response_delay(Duration::from_millis(400));
    let late = client
        .send(Message::action("ShowDialPlan").with("Context", "ctx-late"))
        .await;
    assert!(matches!(late, Err(AmiError::Timeout { .. })));
    double.set_response_delay(Duration::ZERO);
    // The late answer for ctx-late arrives while this one is waiting.
    let answer = client
        .send(Message::action("ShowDialPlan").with("Context", "ctx-next"))
        .await
        .expect("answered");
    assert_eq!(answer.message(), Some("Did not find context ctx-next"));
    client.shutdown().await;
}

#[tokio::test]
async fn keepalive_ping_detects_a_dead_peer_and_reconnects() {
    let (double, client) = started(|s| {
        s.ping_interval = Duration::from_millis(100);
        s.action_timeout = Duration::from_millis(300);
    })
    .await;
    let mut state = client.state();
    double.set_refuse_responses(true);
    let down = wait_state(&mut state, WITHIN, is_disconnected).await;
    let ConnectionState::Disconnected { reason } = down else {
        unreachable!()
    };
    assert!(reason.contains("keepalive Ping"), "{reason}");
    double.set_refuse_responses(false);
    wait_state(&mut state, WITHIN, ConnectionState::is_connected).await;
    client.ping().await.expect("after reconnect");
    client.shutdown().await;
}

#[tokio::test]
async fn in_flight_actions_fail_at_once_when_the_link_drops_then_it_reconnects() {
    let (double, client) = started(|s| s.action_timeout = Duration::from_secs(10)).await;
    double.set_reload_duration(Duration::from_secs(3));
    let mut state = client.state();
    let reload = tokio::spawn({
        let client = client.clone();
        async move { client.reload_module("res_pjsip.so").await }
    });
    // Pipelined behind the reload, as on a real Asterisk connection.
    let pings = tokio::spawn({
        let client = client.clone();
        async move { join_all((0..100).map(|_| client.ping())).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let dropped = Instant::now();
    double.drop_connections();

    let error = reload.await.expect("joined").expect_err("link dropped");
    assert!(matches!(error, AmiError::Disconnected { .. }), "{error}");
    for ping in pings.await.expect("joined") {
        assert!(
            matches!(
                ping,
                Err(AmiError::Disconnected { .. }) | Err(AmiError::NotConnected { .. })
            ),
            "{ping:?}"
        );
    }
    assert!(
        dropped.elapsed() < Duration::from_secs(1),
        "in-flight actions waited {:?}",
        dropped.elapsed()
    );

    double.set_reload_duration(Duration::ZERO);
    wait_state(&mut state, WITHIN, ConnectionState::is_connected).await;
    client.ping().await.expect("after reconnect");
    client.shutdown().await;
}

#[tokio::test]
async fn asterisk_down_and_back_up_on_the_same_port() {
    let (double, client) = started(|_| {}).await;
    let mut state = client.state();
    let mut event_state = client.event_state();
    double.stop();
    wait_state(&mut state, WITHIN, is_disconnected).await;
    wait_state(&mut event_state, WITHIN, is_disconnected).await;

    let started = Instant::now();
    let error = client.ping().await.expect_err("down");
    assert!(
        matches!(
            error,
            AmiError::NotConnected { .. } | AmiError::Disconnected { .. }
        ),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(1), "failed fast");

    double.restart();
    wait_state(&mut state, WITHIN, ConnectionState::is_connected).await;
    wait_state(&mut event_state, WITHIN, ConnectionState::is_connected).await;
    let mut events = client.subscribe();
    double.emit(&AmiEvent::contact_status(
        "1001",
        "sip:1001@127.0.0.1:5081",
        "Reachable",
        1,
    ));
    let event = tokio::time::timeout(WITHIN, async {
        loop {
            let event = events.next().await.expect("open").expect("no lag");
            if event.event() == Some("ContactStatus") {
                return event;
            }
        }
    })
    .await
    .expect("events flow again");
    assert_eq!(event.get("URI"), Some("sip:1001@127.0.0.1:5081"));
    client.shutdown().await;
}

#[tokio::test]
async fn oversized_message_drops_the_link_with_a_clear_reason() {
    let (double, client) = started(|s| s.limits.max_message_bytes = 4096).await;
    let mut event_state = client.event_state();
    let mut huge = b"Event: Flood\r\nPrivilege: call,all\r\nData: ".to_vec();
    huge.extend(std::iter::repeat_n(b'x', 10_000));
    huge.extend_from_slice(b"\r\n\r\n");
    double.inject_raw(&huge);
    let down = wait_state(&mut event_state, WITHIN, is_disconnected).await;
    let ConnectionState::Disconnected { reason } = down else {
        unreachable!()
    };
    assert!(reason.contains("4096-byte limit"), "{reason}");
    wait_state(&mut event_state, WITHIN, ConnectionState::is_connected).await;
    client.shutdown().await;
}

#[tokio::test]
async fn junk_lines_stay_visible_and_later_events_still_arrive() {
    let (double, client) = started(|_| {}).await;
    let mut events = client.subscribe();
    double.inject_raw(
        b"\r\n\n\r\ngarbage without a colon\r\n\r\nEvent: After\r\nPrivilege: call,all\r\n\r\n",
    );
    let mut seen = Vec::new();
    tokio::time::timeout(WITHIN, async {
        loop {
            let event = events.next().await.expect("open").expect("no lag");
            let done = event.event() == Some("After");
            seen.push(event);
            if done {
                return;
            }
        }
    })
    .await
    .expect("events arrive");
    assert!(
        seen.iter()
            .any(|e| e.headers().next() == Some(("", "garbage without a colon"))),
        "{seen:?}"
    );
    client.shutdown().await;
}

#[tokio::test]
async fn shutdown_logs_off_and_later_calls_fail() {
    let (double, client) = started(|_| {}).await;
    client.shutdown().await;
    assert_eq!(*client.state().borrow(), ConnectionState::Shutdown);
    assert!(matches!(client.ping().await, Err(AmiError::Shutdown)));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let logoffs = double
        .received()
        .iter()
        .filter(|r| r.action() == "Logoff")
        .count();
    assert_eq!(logoffs, 2, "both connections log off");
}

#[tokio::test]
async fn dropping_every_handle_stops_the_connections() {
    let (double, client) = started(|_| {}).await;
    assert_eq!(double.session_count(), 2);
    drop(client);
    let closed = tokio::time::timeout(WITHIN, async {
        while double.session_count() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "connections left open after the client was dropped"
    );
}
