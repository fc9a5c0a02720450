//! Login against the double: plain secret, MD5 challenge, refused credentials, the two
//! connections' `Events:` settings, nothing sent before login (secret masking in the
//! log is in `ami_logging.rs`, alone in its binary).

use std::time::{Duration, Instant};

use crate::support::asterisk::{AsteriskDouble, DoubleConfig};
use crate::support::{connected, wait_state};
use rayan::ami::{AmiClient, AmiError, AuthMethod, ConnectionState};

const WITHIN: Duration = Duration::from_secs(5);

#[tokio::test]
async fn plain_login_reports_the_asterisk_version() {
    let double = AsteriskDouble::start(DoubleConfig::default()).await;
    let mut settings = double.client_settings();
    settings.auth = AuthMethod::Plain;
    let client = AmiClient::start(settings);
    let state = wait_state(&mut client.state(), WITHIN, ConnectionState::is_connected).await;
    assert_eq!(
        state,
        ConnectionState::Connected {
            version: Some("22.10.1".to_owned())
        }
    );
    let logins: Vec<_> = double
        .received()
        .into_iter()
        .filter(|r| r.action().eq_ignore_ascii_case("Login"))
        .collect();
    assert!(
        logins
            .iter()
            .all(|l| l.get("Secret") == Some("rayan-secret"))
    );
    assert!(logins.iter().all(|l| l.get("Key").is_none()));
    client.shutdown().await;
}

#[tokio::test]
async fn md5_login_never_sends_the_secret() {
    let double = AsteriskDouble::start(DoubleConfig::default()).await;
    let settings = double.client_settings();
    assert_eq!(settings.auth, AuthMethod::Md5);
    let client = AmiClient::start(settings);
    connected(&client).await;
    let received = double.received();
    let challenges = received
        .iter()
        .filter(|r| r.action() == "Challenge")
        .count();
    let logins: Vec<_> = received.iter().filter(|r| r.action() == "Login").collect();
    assert_eq!(challenges, 2, "one challenge per connection");
    assert_eq!(logins.len(), 2);
    for login in logins {
        assert_eq!(login.get("AuthType"), Some("MD5"));
        assert_eq!(login.get("Key").map(str::len), Some(32));
        assert_eq!(login.get("Secret"), None);
    }
    client.ping().await.expect("ping after MD5 login");
    client.shutdown().await;
}

#[tokio::test]
async fn actions_connection_has_events_off_and_events_connection_on() {
    let double = AsteriskDouble::start(DoubleConfig::default()).await;
    let mut settings = double.client_settings();
    settings.event_classes = "system,call,security".to_owned();
    let client = AmiClient::start(settings);
    connected(&client).await;
    let mut events: Vec<String> = double
        .received()
        .iter()
        .filter(|r| r.action() == "Login")
        .map(|r| r.get("Events").unwrap_or("(none)").to_owned())
        .collect();
    events.sort();
    assert_eq!(events, ["off", "system,call,security"]);
    client.shutdown().await;
}

#[tokio::test]
async fn nothing_but_the_login_exchange_before_login() {
    let double = AsteriskDouble::start(DoubleConfig::default()).await;
    let client = AmiClient::start(double.client_settings());
    // Actions issued before the link is up wait for the login; they are not written early.
    let early = tokio::spawn({
        let client = client.clone();
        async move { client.ping().await }
    });
    connected(&client).await;
    early
        .await
        .expect("joined")
        .expect("early ping answered after login");
    for received in double.received() {
        if !received.logged_in {
            assert!(
                ["Challenge", "Login"].contains(&received.action()),
                "sent before login: {:?}",
                received.headers
            );
        }
    }
    client.shutdown().await;
}

#[tokio::test]
async fn refused_credentials_are_reported_distinctly_and_retried_slowly() {
    let double = AsteriskDouble::start(DoubleConfig {
        login_failure_delay: Duration::from_millis(20),
        ..DoubleConfig::default()
    })
    .await;
    let mut settings = double.client_settings();
    settings.secret = "wrong-secret".to_owned();
    settings.auth = AuthMethod::Plain;
    settings.reconnect_min = Duration::from_millis(10);
    settings.reconnect_max = Duration::from_millis(20);
    settings.auth_retry = Duration::from_millis(400);
    let client = AmiClient::start(settings);
    let state = wait_state(&mut client.state(), WITHIN, |s| {
        matches!(s, ConnectionState::AuthFailed { .. })
    })
    .await;
    assert_eq!(
        state,
        ConnectionState::AuthFailed {
            reason: "Authentication failed".to_owned()
        }
    );

    // While refused, actions fail at once instead of waiting for the timeout.
    let started = Instant::now();
    let error = client.ping().await.expect_err("not logged in");
    assert!(matches!(error, AmiError::NotConnected { .. }), "{error}");
    assert!(started.elapsed() < Duration::from_millis(300));

    // Retried after auth_retry, not at the reconnect pace (which would be ~50 logins/s),
    // and the state says why the whole time, through the retries.
    let mut watched = client.state();
    let seen = tokio::spawn(async move {
        let mut seen = Vec::new();
        while watched.changed().await.is_ok() {
            seen.push(watched.borrow_and_update().clone());
        }
        seen
    });
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(
        matches!(*client.state().borrow(), ConnectionState::AuthFailed { .. }),
        "{:?}",
        *client.state().borrow()
    );
    let attempts = double
        .received()
        .iter()
        .filter(|r| r.action() == "Login")
        .count();
    assert!(
        (2..=8).contains(&attempts),
        "{attempts} login attempts in ~1 s over two connections"
    );
    client.shutdown().await;
    let seen = seen.await.unwrap_or_default();
    assert!(
        !seen
            .iter()
            .any(|s| matches!(s, ConnectionState::Connecting)),
        "{seen:?}"
    );
}

#[tokio::test]
async fn unreachable_asterisk_is_a_disconnected_state_not_a_start_failure() {
    let double = AsteriskDouble::start(DoubleConfig::default()).await;
    let settings = double.client_settings();
    double.stop();
    let client = AmiClient::start(settings);
    let state = wait_state(&mut client.state(), WITHIN, |s| {
        matches!(s, ConnectionState::Disconnected { .. })
    })
    .await;
    let ConnectionState::Disconnected { reason } = state else {
        unreachable!()
    };
    assert!(reason.contains("cannot connect"), "{reason}");
    double.restart();
    connected(&client).await;
    client.shutdown().await;
}
