//! Subscribers' side of the event broadcast.
//!
//! The reader publishes into a bounded `tokio::sync::broadcast` and never waits for anyone:
//! a subscriber that falls more than `AmiSettings::event_buffer` events behind skips ahead
//! and is told exactly how many events it missed.

use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio_util::sync::CancellationToken;

use super::message::Message;

/// This subscriber fell behind and `0` events were dropped for it (for it alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lagged(pub u64);

/// Every unsolicited AMI event from the moment of subscription, whole and in order.
pub struct EventStream {
    receiver: broadcast::Receiver<Arc<Message>>,
    shutdown: CancellationToken,
}

impl EventStream {
    pub(crate) fn new(
        receiver: broadcast::Receiver<Arc<Message>>,
        shutdown: CancellationToken,
    ) -> Self {
        Self { receiver, shutdown }
    }

    /// The next event, `Err(Lagged(n))` once after `n` events were missed, or `None` after
    /// the client shut down and the buffered events were read.
    pub async fn next(&mut self) -> Option<Result<Arc<Message>, Lagged>> {
        tokio::select! {
            biased;
            received = self.receiver.recv() => match received {
                Ok(event) => Some(Ok(event)),
                Err(RecvError::Lagged(missed)) => Some(Err(Lagged(missed))),
                Err(RecvError::Closed) => None,
            },
            _ = self.shutdown.cancelled() => self.try_next(),
        }
    }

    /// The next buffered event without waiting.
    pub fn try_next(&mut self) -> Option<Result<Arc<Message>, Lagged>> {
        match self.receiver.try_recv() {
            Ok(event) => Some(Ok(event)),
            Err(TryRecvError::Lagged(missed)) => Some(Err(Lagged(missed))),
            Err(TryRecvError::Empty | TryRecvError::Closed) => None,
        }
    }
}
