//! Subscribers' side of the event broadcast.
//!
//! The reader publishes into a bounded broadcast and never waits for anyone: a subscriber
//! that falls too far behind skips ahead and is told exactly how many events it missed.

use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio_util::sync::CancellationToken;

use super::bus::EventBatch;
use super::message::Message;

/// This subscriber fell behind and `0` events were dropped for it (for it alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lagged(pub u64);

/// Every unsolicited AMI event from the moment of subscription, whole and in order.
pub struct EventStream {
    receiver: broadcast::Receiver<Arc<EventBatch>>,
    batch: Option<Arc<EventBatch>>,
    index: usize,
    /// Sequence number of the next event this subscriber expects.
    next_seq: u64,
    shutdown: CancellationToken,
}

impl EventStream {
    pub(crate) fn new(
        receiver: broadcast::Receiver<Arc<EventBatch>>,
        next_seq: u64,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            receiver,
            batch: None,
            index: 0,
            next_seq,
            shutdown,
        }
    }

    /// The next event, `Err(Lagged(n))` once after `n` events were missed, or `None` after
    /// the client shut down and the buffered events were read. Events decoded from one
    /// read share their text, so the message handed out costs a reference count, not a copy.
    pub async fn next(&mut self) -> Option<Result<Message, Lagged>> {
        loop {
            if let Some(item) = self.take_buffered() {
                tokio::task::consume_budget().await;
                return Some(item);
            }
            let received = match self.receiver.try_recv() {
                Ok(batch) => Ok(batch),
                Err(TryRecvError::Lagged(_)) => continue,
                Err(TryRecvError::Closed) => return None,
                Err(TryRecvError::Empty) => tokio::select! {
                    biased;
                    received = self.receiver.recv() => received,
                    _ = self.shutdown.cancelled() => return self.try_next(),
                },
            };
            match received {
                Ok(batch) => self.start_batch(batch),
                // The next batch received tells how many events were missed.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    }

    /// The next buffered event without waiting.
    pub fn try_next(&mut self) -> Option<Result<Message, Lagged>> {
        loop {
            if let Some(item) = self.take_buffered() {
                return Some(item);
            }
            match self.receiver.try_recv() {
                Ok(batch) => self.start_batch(batch),
                Err(TryRecvError::Lagged(_)) => continue,
                Err(TryRecvError::Empty | TryRecvError::Closed) => return None,
            }
        }
    }

    /// The same events as a `futures` stream.
    pub fn into_stream(self) -> impl futures_util::Stream<Item = Result<Message, Lagged>> {
        futures_util::stream::unfold(self, |mut events| async move {
            events.next().await.map(|item| (item, events))
        })
    }

    fn start_batch(&mut self, batch: Arc<EventBatch>) {
        self.batch = Some(batch);
        self.index = 0;
    }

    /// The next event of the current batch, or the lag report that comes before it.
    fn take_buffered(&mut self) -> Option<Result<Message, Lagged>> {
        let batch = self.batch.as_ref()?;
        let Some(event) = batch.events.get(self.index) else {
            self.batch = None;
            return None;
        };
        let seq = batch.first_seq + self.index as u64;
        if seq > self.next_seq {
            let missed = seq - self.next_seq;
            self.next_seq = seq;
            return Some(Err(Lagged(missed)));
        }
        self.index += 1;
        self.next_seq = seq + 1;
        Some(Ok(event.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ami::bus::EventBus;

    fn batch(range: std::ops::Range<usize>) -> Vec<Message> {
        range
            .map(|n| Message::new().with("Seq", n.to_string()))
            .collect()
    }

    fn seq(item: Option<Result<Message, Lagged>>) -> Result<String, Lagged> {
        item.expect("an item")
            .map(|m| m.get("Seq").unwrap_or_default().to_owned())
    }

    #[tokio::test]
    async fn lag_is_counted_in_events_across_batches() {
        let bus = EventBus::new(2);
        bus.publish(batch(0..3)); // before subscribing: never seen
        let (receiver, next_seq) = bus.subscribe();
        let mut events = EventStream::new(receiver, next_seq, CancellationToken::new());
        bus.publish(batch(3..10));
        bus.publish(batch(10..11));
        bus.publish(batch(11..20));
        bus.publish(batch(20..22));
        // Capacity 2: batches 3..10 and 10..11 were overwritten, 8 events missed.
        assert_eq!(seq(events.next().await), Err(Lagged(8)));
        for n in 11..22 {
            assert_eq!(seq(events.next().await), Ok(n.to_string()));
        }
        assert!(events.try_next().is_none());
    }

    #[tokio::test]
    async fn stream_ends_after_shutdown_once_drained() {
        let bus = EventBus::new(4);
        let (receiver, next_seq) = bus.subscribe();
        let shutdown = CancellationToken::new();
        let mut events = EventStream::new(receiver, next_seq, shutdown.clone());
        bus.publish(batch(0..2));
        shutdown.cancel();
        assert_eq!(seq(events.next().await), Ok("0".to_owned()));
        assert_eq!(seq(events.next().await), Ok("1".to_owned()));
        assert!(events.next().await.is_none());
    }
}
