//! The hub: assigns sequence numbers, keeps a replay ring, fans events out to
//! subscribers without ever waiting for one.
//!
//! Each subscriber has its own bounded queue, filled at publish time with only the
//! events its filter accepts. A full queue drops its oldest event and counts it;
//! the subscriber then reads `Lagged { dropped }` before the events that are left,
//! so it learns of the loss before anything newer and its view stays fresh.
//! Publishing takes one lock for the sequence number, the ring and the fan-out, so
//! every subscriber sees events in `seq` order even with several publishers. It
//! never waits for a subscriber to read: a stalled one costs the publisher one
//! queue push. The only waits are other hub calls' short critical sections.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::Notify;

use super::event::{Draft, Event, EventKind, EventPayload, NodeName};
use super::filter::Filter;

/// Where the hub reads the time of each event (tests pin it).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// What a subscription yields.
#[derive(Debug, Clone)]
pub enum Delivery {
    Event(Arc<Event>),
    /// This many events the filter accepted were dropped because the subscriber
    /// read too slowly; the next events are the newest that fitted in its queue.
    Lagged {
        dropped: u64,
    },
    /// The replay ring no longer held events `from..=to` asked for with `since`.
    Gap {
        from: u64,
        to: u64,
    },
}

impl Delivery {
    /// The frame to send: the event's cached JSON, or
    /// `{"type":"lagged","dropped":N}` / `{"type":"gap","from":A,"to":B}`.
    pub fn to_json(&self) -> Cow<'_, str> {
        match self {
            Delivery::Event(event) => Cow::Borrowed(event.json()),
            Delivery::Lagged { dropped } => {
                Cow::Owned(format!(r#"{{"type":"lagged","dropped":{dropped}}}"#))
            }
            Delivery::Gap { from, to } => {
                Cow::Owned(format!(r#"{{"type":"gap","from":{from},"to":{to}}}"#))
            }
        }
    }
}

/// The event hub of one node. Cheap to clone; all clones share the same hub.
#[derive(Clone)]
pub struct EventHub {
    inner: Arc<Inner>,
}

struct Inner {
    node: NodeName,
    queue_capacity: usize,
    clock: Clock,
    state: Mutex<HubState>,
    raw_subscribers: AtomicUsize,
    dropped_total: AtomicU64,
}

struct HubState {
    last_seq: u64,
    last_time: Option<DateTime<Utc>>,
    ring: VecDeque<Arc<Event>>,
    ring_size: usize,
    subscribers: Vec<Arc<Subscriber>>,
    next_subscriber: u64,
    closed: bool,
}

struct Subscriber {
    id: u64,
    queue: Mutex<Queue>,
    /// A reader waiting on an empty queue.
    wake: Notify,
    /// A reader letting events gather ([`Subscription::gather_until`]): woken only
    /// when its queue is half full, so that a steady stream wakes no one early.
    filling: Notify,
}

struct Queue {
    filter: Filter,
    gap: Option<(u64, u64)>,
    replay: VecDeque<Arc<Event>>,
    live: VecDeque<Arc<Event>>,
    capacity: usize,
    dropped: u64,
    closed: bool,
}

impl EventHub {
    /// A hub for `node` keeping the last `ring_size` events for replay, each
    /// subscriber holding at most `subscriber_queue` unread events (at least 1).
    pub fn new(node: &str, ring_size: usize, subscriber_queue: usize) -> Self {
        Self::with_clock(node, ring_size, subscriber_queue, Arc::new(Utc::now))
    }

    /// As [`EventHub::new`], reading event times from `clock`.
    pub fn with_clock(node: &str, ring_size: usize, subscriber_queue: usize, clock: Clock) -> Self {
        let state = HubState {
            last_seq: 0,
            last_time: None,
            ring: VecDeque::with_capacity(ring_size.min(65_536)),
            ring_size,
            subscribers: Vec::new(),
            next_subscriber: 0,
            closed: false,
        };
        Self {
            inner: Arc::new(Inner {
                node: NodeName::new(node),
                queue_capacity: subscriber_queue.max(1),
                clock,
                state: Mutex::new(state),
                raw_subscribers: AtomicUsize::new(0),
                dropped_total: AtomicU64::new(0),
            }),
        }
    }

    pub fn node(&self) -> &str {
        &self.inner.node.name
    }

    /// Publishes an event: assigns the next `seq` and the time (never earlier than
    /// the previous event's), keeps it in the ring and queues it for every
    /// subscriber whose filter accepts it. Never blocks on a subscriber.
    pub fn publish(&self, kind: EventKind, data: Value) -> Arc<Event> {
        self.publish_draft(Draft::new(kind, data), None)
    }

    /// Publishes a typed payload under its own event type, its fields in
    /// declaration order on the wire.
    pub fn publish_payload<P: EventPayload>(&self, payload: &P) -> Arc<Event> {
        self.publish_payload_received(payload, None)
    }

    /// As [`EventHub::publish_payload`], for an event about something the daemon
    /// read from Asterisk at `received` (delivery latency is measured from there).
    pub fn publish_payload_received<P: EventPayload>(
        &self,
        payload: &P,
        received: Option<Instant>,
    ) -> Arc<Event> {
        let draft = Draft::from_payload(payload).unwrap_or_else(|error| {
            tracing::error!(%error, kind = %P::KIND, "event payload did not serialise");
            Draft::new(P::KIND, Value::Null)
        });
        self.publish_draft(draft, received)
    }

    fn publish_draft(&self, draft: Draft, received: Option<Instant>) -> Arc<Event> {
        let received = received.unwrap_or_else(Instant::now);
        let mut state = lock(&self.inner.state);
        let seq = state.last_seq + 1;
        let now = (self.inner.clock)();
        let time = state.last_time.filter(|last| *last > now).unwrap_or(now);
        state.last_seq = seq;
        state.last_time = Some(time);
        let event = Arc::new(Event::from_draft(seq, time, &self.inner.node, draft, received));
        if state.ring_size > 0 {
            if state.ring.len() >= state.ring_size {
                state.ring.pop_front();
            }
            state.ring.push_back(Arc::clone(&event));
        }
        for subscriber in &state.subscribers {
            if subscriber.offer(&event) {
                self.inner.dropped_total.fetch_add(1, Ordering::Relaxed);
            }
        }
        event
    }

    /// A new subscription. With `since`, it first replays the events after `since`
    /// that the ring still holds (filtered); if the ring no longer holds `since + 1`
    /// it yields `Gap` first. A `since` beyond the newest `seq` comes from an
    /// earlier run of the daemon (sequence numbers restart with it): the whole ring
    /// is replayed then.
    pub fn subscribe(&self, filter: Filter, since: Option<u64>) -> Subscription {
        let wants_raw = filter.wants_kind(EventKind::Raw);
        let mut state = lock(&self.inner.state);
        let (gap, held) = match since {
            Some(since) => state.held_after(since),
            None => (None, Vec::new()),
        };
        let queue = Queue {
            filter,
            gap,
            replay: VecDeque::new(),
            live: VecDeque::new(),
            capacity: self.inner.queue_capacity,
            dropped: 0,
            closed: state.closed,
        };
        let subscriber = Arc::new(Subscriber {
            id: state.next_subscriber,
            queue: Mutex::new(queue),
            wake: Notify::new(),
            filling: Notify::new(),
        });
        state.next_subscriber += 1;
        if !state.closed {
            state.subscribers.push(Arc::clone(&subscriber));
            if wants_raw {
                self.inner.raw_subscribers.fetch_add(1, Ordering::Relaxed);
            }
        }
        drop(state);
        // Filtering the replay outside the hub's lock keeps publishers from waiting on
        // it; live events queued meanwhile are read after the replay anyway.
        if !held.is_empty() {
            let mut queue = lock(&subscriber.queue);
            let replay = held
                .into_iter()
                .filter(|e| queue.filter.matches(e))
                .collect();
            queue.replay = replay;
        }
        Subscription {
            hub: Arc::clone(&self.inner),
            subscriber,
        }
    }

    /// Ends every subscription (each still yields what it had queued, then `None`)
    /// and refuses new ones; for shutdown.
    pub fn close(&self) {
        let mut state = lock(&self.inner.state);
        state.closed = true;
        for subscriber in state.subscribers.drain(..) {
            lock(&subscriber.queue).closed = true;
            subscriber.wake.notify_one();
            subscriber.filling.notify_one();
        }
        self.inner.raw_subscribers.store(0, Ordering::Relaxed);
    }

    /// The newest `seq` published (0 before the first event).
    pub fn last_seq(&self) -> u64 {
        lock(&self.inner.state).last_seq
    }

    pub fn subscriber_count(&self) -> usize {
        lock(&self.inner.state).subscribers.len()
    }

    /// True while some subscriber accepts `raw` events, so AMI events without a
    /// normalised type are worth publishing at all.
    pub fn raw_wanted(&self) -> bool {
        self.inner.raw_subscribers.load(Ordering::Relaxed) > 0
    }

    /// Events dropped from slow subscribers' queues since the hub started.
    pub fn dropped_total(&self) -> u64 {
        self.inner.dropped_total.load(Ordering::Relaxed)
    }
}

impl HubState {
    /// What a resume after `since` gets: the gap the ring can no longer fill, and
    /// the events it still holds after `since`.
    fn held_after(&self, since: u64) -> (Option<(u64, u64)>, Vec<Arc<Event>>) {
        let since = if since > self.last_seq { 0 } else { since };
        if since == self.last_seq {
            return (None, Vec::new());
        }
        let wanted = since + 1;
        let gap = match self.ring.front() {
            Some(first) if first.seq > wanted => Some((wanted, first.seq - 1)),
            Some(_) => None,
            None => Some((wanted, self.last_seq)),
        };
        let start = self.ring.partition_point(|e| e.seq <= since);
        (gap, self.ring.range(start..).cloned().collect())
    }
}

impl Subscriber {
    /// Queues `event` if the filter accepts it; true when that dropped an older one.
    fn offer(&self, event: &Arc<Event>) -> bool {
        let mut queue = lock(&self.queue);
        if queue.closed || !queue.filter.matches(event) {
            return false;
        }
        // A reader waits after finding its queue empty, or while it lets events
        // gather for one write: only the push that ends the emptiness, and the one
        // that fills the queue halfway, need to wake it, each on its own Notify.
        let was_empty = queue.live.is_empty();
        let dropped = queue.live.len() >= queue.capacity;
        if dropped {
            queue.live.pop_front();
            queue.dropped += 1;
        }
        queue.live.push_back(Arc::clone(event));
        let half_full = queue.live.len() == queue.half_full();
        drop(queue);
        if was_empty {
            self.wake.notify_one();
        }
        if half_full {
            self.filling.notify_one();
        }
        dropped
    }
}

impl Queue {
    /// The length at which a reader letting events gather is woken.
    fn half_full(&self) -> usize {
        self.capacity.div_ceil(2)
    }

    fn take(&mut self) -> Option<Delivery> {
        if let Some((from, to)) = self.gap.take() {
            return Some(Delivery::Gap { from, to });
        }
        if let Some(event) = self.replay.pop_front() {
            return Some(Delivery::Event(event));
        }
        if self.dropped > 0 {
            let dropped = std::mem::take(&mut self.dropped);
            return Some(Delivery::Lagged { dropped });
        }
        self.live.pop_front().map(Delivery::Event)
    }
}

/// One subscriber's view of the hub. Dropping it unsubscribes.
pub struct Subscription {
    hub: Arc<Inner>,
    subscriber: Arc<Subscriber>,
}

impl Subscription {
    /// The next delivery, waiting for one; `None` once the hub is closed and
    /// everything queued has been read.
    pub async fn next(&mut self) -> Option<Delivery> {
        loop {
            {
                let mut queue = lock(&self.subscriber.queue);
                if let Some(delivery) = queue.take() {
                    return Some(delivery);
                }
                if queue.closed {
                    return None;
                }
            }
            self.subscriber.wake.notified().await;
        }
    }

    /// Waits until `deadline`, or less while the queue is at least half full or
    /// closed: a reader that lets events gather for one write never loses them to
    /// its own wait.
    pub async fn gather_until(&mut self, deadline: tokio::time::Instant) {
        let sleep = tokio::time::sleep_until(deadline);
        tokio::pin!(sleep);
        loop {
            {
                let queue = lock(&self.subscriber.queue);
                if queue.closed || queue.live.len() >= queue.half_full() {
                    return;
                }
            }
            tokio::select! {
                () = &mut sleep => return,
                () = self.subscriber.filling.notified() => {}
            }
        }
    }

    /// The next delivery if one is queued now; never waits.
    pub fn try_next(&mut self) -> Option<Delivery> {
        lock(&self.subscriber.queue).take()
    }

    /// Moves what is queued now into `batch`, in order, until it holds `max`
    /// deliveries: [`Subscription::try_next`] repeated, under one lock.
    pub fn drain_into(&mut self, batch: &mut Vec<Delivery>, max: usize) {
        let mut queue = lock(&self.subscriber.queue);
        while batch.len() < max {
            match queue.take() {
                Some(delivery) => batch.push(delivery),
                None => break,
            }
        }
    }

    /// Replaces the filter. Later events are chosen by the new filter, and queued
    /// ones the new filter rejects are discarded.
    pub fn set_filter(&self, filter: Filter) {
        let state = lock(&self.hub.state);
        let mut queue = lock(&self.subscriber.queue);
        let was_raw = queue.filter.wants_kind(EventKind::Raw);
        let is_raw = filter.wants_kind(EventKind::Raw);
        queue.replay.retain(|e| filter.matches(e));
        queue.live.retain(|e| filter.matches(e));
        queue.filter = filter;
        if !queue.closed && !state.closed && was_raw != is_raw {
            if is_raw {
                self.hub.raw_subscribers.fetch_add(1, Ordering::Relaxed);
            } else {
                self.hub.raw_subscribers.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    pub fn filter(&self) -> Filter {
        lock(&self.subscriber.queue).filter.clone()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut state = lock(&self.hub.state);
        let Some(index) = state
            .subscribers
            .iter()
            .position(|s| s.id == self.subscriber.id)
        else {
            return;
        };
        state.subscribers.swap_remove(index);
        if lock(&self.subscriber.queue)
            .filter
            .wants_kind(EventKind::Raw)
        {
            self.hub.raw_subscribers.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// A poisoned lock only means another thread panicked mid-update of plain data;
/// the hub keeps serving rather than spreading the panic to every publisher.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn events(sub: &mut Subscription) -> Vec<Delivery> {
        std::iter::from_fn(|| sub.try_next()).collect()
    }

    fn seqs(deliveries: &[Delivery]) -> Vec<String> {
        deliveries
            .iter()
            .map(|d| match d {
                Delivery::Event(e) => e.seq.to_string(),
                Delivery::Lagged { dropped } => format!("lagged {dropped}"),
                Delivery::Gap { from, to } => format!("gap {from}-{to}"),
            })
            .collect()
    }

    fn publish_n(hub: &EventHub, n: usize) {
        for i in 0..n {
            hub.publish(EventKind::Apply, json!({ "n": i }));
        }
    }

    #[test]
    fn full_queue_drops_oldest_and_reports_first() {
        let hub = EventHub::new("n", 100, 3);
        let mut sub = hub.subscribe(Filter::all(), None);
        publish_n(&hub, 5);
        assert_eq!(seqs(&events(&mut sub)), ["lagged 2", "3", "4", "5"]);
        publish_n(&hub, 1);
        assert_eq!(seqs(&events(&mut sub)), ["6"]);
        assert_eq!(hub.dropped_total(), 2);
    }

    #[test]
    fn since_replays_and_reports_what_the_ring_lost() {
        let hub = EventHub::new("n", 4, 100);
        publish_n(&hub, 10);
        let mut sub = hub.subscribe(Filter::all(), Some(8));
        assert_eq!(seqs(&events(&mut sub)), ["9", "10"]);
        let mut sub = hub.subscribe(Filter::all(), Some(2));
        assert_eq!(seqs(&events(&mut sub)), ["gap 3-6", "7", "8", "9", "10"]);
        let mut sub = hub.subscribe(Filter::all(), Some(10));
        assert!(events(&mut sub).is_empty());
        let mut sub = hub.subscribe(Filter::all(), Some(500));
        assert_eq!(seqs(&events(&mut sub)), ["gap 1-6", "7", "8", "9", "10"]);
    }

    #[test]
    fn no_ring_means_every_resume_is_a_gap() {
        let hub = EventHub::new("n", 0, 100);
        publish_n(&hub, 3);
        let mut sub = hub.subscribe(Filter::all(), Some(1));
        assert_eq!(seqs(&events(&mut sub)), ["gap 2-3"]);
    }

    #[test]
    fn replay_comes_before_live_events_and_lag() {
        let hub = EventHub::new("n", 10, 2);
        publish_n(&hub, 3);
        let mut sub = hub.subscribe(Filter::all(), Some(0));
        publish_n(&hub, 3);
        assert_eq!(
            seqs(&events(&mut sub)),
            ["1", "2", "3", "lagged 1", "5", "6"]
        );
    }

    #[test]
    fn drain_into_takes_what_try_next_would_in_the_same_order() {
        let hub = EventHub::new("n", 4, 3);
        publish_n(&hub, 10);
        let mut one_by_one = hub.subscribe(Filter::all(), Some(2));
        let mut drained = hub.subscribe(Filter::all(), Some(2));
        publish_n(&hub, 5);
        let expected = seqs(&events(&mut one_by_one));
        assert_eq!(expected, ["gap 3-6", "7", "8", "9", "10", "lagged 2", "13", "14", "15"]);
        let mut batch = Vec::new();
        for max in [2, 2, 5, 100] {
            drained.drain_into(&mut batch, max);
            assert!(batch.len() <= max);
        }
        assert_eq!(seqs(&batch), expected);
        drained.drain_into(&mut batch, 100);
        assert_eq!(batch.len(), expected.len(), "nothing left");
    }

    #[test]
    fn raw_wanted_follows_subscribers() {
        let hub = EventHub::new("n", 10, 10);
        assert!(!hub.raw_wanted());
        let admin = hub.subscribe(Filter::all().with_raw(true), None);
        let viewer = hub.subscribe(Filter::all(), None);
        assert!(hub.raw_wanted());
        admin.set_filter(Filter::all().types([EventKind::Hangup]).with_raw(true));
        assert!(!hub.raw_wanted());
        viewer.set_filter(Filter::all().with_raw(true));
        assert!(hub.raw_wanted());
        drop(viewer);
        assert!(!hub.raw_wanted());
        assert_eq!(hub.subscriber_count(), 1);
    }

    #[test]
    fn time_never_goes_back() {
        // popped from the end: 16:00 first, then 15:00
        let times = Mutex::new(vec![
            "2026-11-21T15:00:00Z"
                .parse::<DateTime<Utc>>()
                .expect("time"),
            "2026-11-21T16:00:00Z"
                .parse::<DateTime<Utc>>()
                .expect("time"),
        ]);
        let clock: Clock = Arc::new(move || lock(&times).pop().unwrap_or_default());
        let hub = EventHub::with_clock("n", 10, 10, clock);
        let first = hub.publish(EventKind::Drift, json!({}));
        let second = hub.publish(EventKind::Drift, json!({}));
        assert_eq!(first.time.to_rfc3339(), "2026-11-21T16:00:00+00:00");
        assert_eq!(second.time, first.time);
    }

    #[tokio::test]
    async fn gathering_ends_at_the_deadline_or_once_the_queue_is_half_full() {
        use tokio::time::{Duration, Instant, timeout};
        let hub = EventHub::new("n", 10, 8);
        let mut sub = hub.subscribe(Filter::all(), None);

        // Fewer than half the queue: the wait lasts until the deadline.
        publish_n(&hub, 3);
        let deadline = Instant::now() + Duration::from_millis(50);
        sub.gather_until(deadline).await;
        assert!(Instant::now() >= deadline);

        // The push that fills the queue halfway ends the wait at once.
        let publisher = {
            let hub = hub.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                publish_n(&hub, 1);
            })
        };
        let far = Instant::now() + Duration::from_secs(3600);
        timeout(Duration::from_secs(10), sub.gather_until(far)).await.expect("woken when half full");
        publisher.await.expect("publisher");
        assert_eq!(events(&mut sub).len(), 4, "nothing lost");

        // Closing ends it too.
        let closer = {
            let hub = hub.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                hub.close();
            })
        };
        timeout(Duration::from_secs(10), sub.gather_until(far)).await.expect("woken by close");
        closer.await.expect("closer");
    }

    #[tokio::test]
    async fn close_drains_then_ends() {
        let hub = EventHub::new("n", 10, 10);
        let mut sub = hub.subscribe(Filter::all(), None);
        publish_n(&hub, 1);
        hub.close();
        assert!(matches!(sub.next().await, Some(Delivery::Event(e)) if e.seq == 1));
        assert!(sub.next().await.is_none());
        let mut late = hub.subscribe(Filter::all(), None);
        assert!(late.next().await.is_none());
        assert_eq!(hub.subscriber_count(), 0);
    }

    #[test]
    fn control_frames() {
        assert_eq!(
            Delivery::Lagged { dropped: 7 }.to_json(),
            r#"{"type":"lagged","dropped":7}"#
        );
        assert_eq!(
            Delivery::Gap { from: 3, to: 9 }.to_json(),
            r#"{"type":"gap","from":3,"to":9}"#
        );
    }
}
