//! Shared test support: real databases, a running daemon, the Asterisk double.
//! Each test binary uses a different part of it.
#![allow(dead_code, unused_imports)]

pub mod asterisk;
pub mod daemon;
pub mod db;
pub mod ws;

/// Runs each named `async fn(Backend)` test once on PostgreSQL and once on SQLite.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $( #[tokio::test] async fn $name() { super::$name(super::Backend::Postgres).await } )*
        }
        mod sqlite {
            $( #[tokio::test] async fn $name() { super::$name(super::Backend::Sqlite).await } )*
        }
    };
}

use std::time::Duration;

use rayan::ami::{AmiClient, ConnectionState};
use tokio::sync::watch;

/// Waits until `state` satisfies `pred`, failing the test after `within`.
pub async fn wait_state(
    state: &mut watch::Receiver<ConnectionState>,
    within: Duration,
    pred: impl Fn(&ConnectionState) -> bool,
) -> ConnectionState {
    let result = match tokio::time::timeout(within, state.wait_for(|s| pred(s))).await {
        Ok(Ok(state)) => Some(state.clone()),
        Ok(Err(_)) => panic!("state channel closed"),
        Err(_) => None,
    };
    result.unwrap_or_else(|| panic!("state never matched; last: {:?}", *state.borrow()))
}

/// Waits until both of the client's connections are logged in.
pub async fn connected(client: &AmiClient) {
    let within = Duration::from_secs(5);
    wait_state(&mut client.state(), within, ConnectionState::is_connected).await;
    wait_state(
        &mut client.event_state(),
        within,
        ConnectionState::is_connected,
    )
    .await;
}
