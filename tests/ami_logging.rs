//! Sent actions are logged at debug level with secrets masked. Alone in its test
//! binary: `tracing` caches per call site whether anyone listens, and a test on
//! another thread without a subscriber could make this one miss its lines.

#[path = "it/support/mod.rs"]
mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use rayan::ami::{AmiClient, AuthMethod};
use support::asterisk::{AsteriskDouble, DoubleConfig};
use support::connected;

/// Collects what `tracing` writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn sent_actions_are_logged_with_secrets_masked() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let double = AsteriskDouble::start(DoubleConfig::default()).await;
    let mut settings = double.client_settings();
    settings.auth = AuthMethod::Plain;
    let client = AmiClient::start(settings);
    connected(&client).await;
    client
        .send(rayan::ami::Message::action("Command").with("Command", "core show version"))
        .await
        .expect("command");
    client.shutdown().await;

    let log = String::from_utf8_lossy(&captured.0.lock().expect("log buffer")).into_owned();
    assert!(log.contains("Action: Login"), "login not logged:\n{log}");
    assert!(log.contains("Secret: ********"), "{log}");
    assert!(log.contains("Command: core show version"), "{log}");
    assert!(
        !log.contains("rayan-secret"),
        "secret leaked into the log:\n{log}"
    );
}
