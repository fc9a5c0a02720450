//! The hub: assigns sequence numbers, keeps a replay ring, fans events out to
//! subscribers without ever waiting for one.
//!
//! Subscribers with equal filters share a channel: a bounded queue of the newest
//! events that filter accepts (`subscriber_queue` of them), which each subscriber
//! reads from its own position. Publishing queues an event once per channel that
//! wants it, so its cost grows with the number of distinct filters, not with the
//! number of subscribers. A subscriber whose position fell behind the oldest event
//! its channel still holds has lost what lies between: it reads
//! `Lagged { dropped }` before the events that are left, so it learns of the loss
//! before anything newer and its view stays fresh. A channel never waits for its
//! readers, so a stalled subscriber costs no one anything, and it lets go of what
//! all of them have read, so it holds little once they caught up. Publishing takes one
//! lock for the sequence number, the ring and the fan-out, so every subscriber sees
//! events in `seq` order even with several publishers. The only waits are other
//! hub calls' short critical sections.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
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
    channels: Vec<Joined>,
    closed: bool,
}

/// A channel and how many subscriptions read it; it goes when the last one leaves.
struct Joined {
    channel: Arc<Channel>,
    members: usize,
}

/// How many groups a channel sorts readers letting events gather into, by the
/// position at which they want to be woken; see [`Channel::fill_bucket`].
const FILL_BUCKETS: usize = 16;

/// The events one filter accepts, shared by every subscription with that filter.
struct Channel {
    filter: Filter,
    capacity: usize,
    log: RwLock<Log>,
    /// Readers that found nothing left to read.
    arrived: Notify,
    /// Readers letting events gather ([`Subscription::gather_until`]), grouped by
    /// the position at which their backlog reaches half the capacity: each is
    /// woken about then and not before, so a steady stream wakes no one early.
    filling: [Notify; FILL_BUCKETS],
    fill_step: u64,
}

struct Log {
    /// The position of `events[0]`: how many events the channel let go so far.
    first: u64,
    /// Every one a `Delivery::Event`, so that readers can be handed them in place.
    events: VecDeque<Delivery>,
    /// Each reader's position as it last published it (never ahead of the real
    /// one): events before the lowest are let go ([`Channel::push`]).
    readers: Vec<Arc<AtomicU64>>,
    closed: bool,
}

impl Log {
    /// The position the next event will take.
    fn end(&self) -> u64 {
        self.first + self.events.len() as u64
    }

    /// `Lagged` if the events at `cursor` were let go meanwhile, moving it on to
    /// the oldest event still held.
    fn lag(&self, cursor: &mut u64) -> Option<Delivery> {
        if *cursor >= self.first {
            return None;
        }
        let dropped = self.first - *cursor;
        *cursor = self.first;
        Some(Delivery::Lagged { dropped })
    }

    /// The delivery at `cursor`, moving it on: `Lagged` first if the events at
    /// `cursor` were let go meanwhile.
    fn take(&self, cursor: &mut u64) -> Option<Delivery> {
        if let Some(lagged) = self.lag(cursor) {
            return Some(lagged);
        }
        let event = self
            .events
            .get(usize::try_from(*cursor - self.first).ok()?)?;
        *cursor += 1;
        Some(event.clone())
    }
}

impl Channel {
    fn new(filter: Filter, capacity: usize, closed: bool) -> Self {
        let half = capacity.div_ceil(2) as u64;
        Self {
            filter,
            capacity,
            log: RwLock::new(Log {
                first: 0,
                events: VecDeque::new(),
                readers: Vec::new(),
                closed,
            }),
            arrived: Notify::new(),
            filling: std::array::from_fn(|_| Notify::new()),
            // Fine enough that a woken reader holds less than a full queue, coarse
            // enough that the buckets span twice the wait: one wakes no one early.
            fill_step: half.div_ceil(8).max(1),
        }
    }

    /// The length of backlog at which a reader letting events gather is woken.
    fn half_full(&self) -> u64 {
        self.capacity.div_ceil(2) as u64
    }

    /// Where a reader waits to be woken once the channel reaches `position`: the
    /// bucket of the first step at or after it. The push that reaches that step
    /// wakes the bucket; with [`FILL_BUCKETS`] steps spanning twice the half-full
    /// backlog, no other reader waiting in it is due before.
    fn fill_bucket(&self, position: u64) -> usize {
        let step = position.div_ceil(self.fill_step);
        (step % FILL_BUCKETS as u64) as usize
    }

    /// How often (in events pushed) a channel lets go of the events every reader
    /// has read, so that it holds fewer than this many beyond what someone has yet
    /// to read.
    fn trim_every(&self) -> u64 {
        self.capacity.min(32) as u64
    }

    fn push(&self, event: &Arc<Event>) {
        let end = {
            let mut log = write(&self.log);
            if log.events.len() >= self.capacity {
                log.events.pop_front();
                log.first += 1;
            }
            log.events.push_back(Delivery::Event(Arc::clone(event)));
            let end = log.end();
            if end % self.trim_every() == 0 {
                let slowest = log
                    .readers
                    .iter()
                    .map(|p| p.load(Ordering::Relaxed))
                    .min()
                    .unwrap_or(end);
                while log.first < slowest && log.events.pop_front().is_some() {
                    log.first += 1;
                }
            }
            end
        };
        self.arrived.notify_waiters();
        if end % self.fill_step == 0 {
            self.filling[self.fill_bucket(end)].notify_waiters();
        }
    }

    fn close(&self) {
        write(&self.log).closed = true;
        self.arrived.notify_waiters();
        for bucket in &self.filling {
            bucket.notify_waiters();
        }
    }
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
            channels: Vec::new(),
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
        let event = Arc::new(Event::from_draft(
            seq,
            time,
            &self.inner.node,
            draft,
            received,
        ));
        if state.ring_size > 0 {
            if state.ring.len() >= state.ring_size {
                state.ring.pop_front();
            }
            state.ring.push_back(Arc::clone(&event));
        }
        for joined in &state.channels {
            if joined.channel.filter.matches(&event) {
                joined.channel.push(&event);
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
        let mut state = lock(&self.inner.state);
        let (gap, held) = match since {
            Some(since) => state.held_after(since),
            None => (None, Vec::new()),
        };
        let (channel, position) = self.inner.join(&mut state, filter);
        drop(state);
        // Filtering the replay outside the hub's lock keeps publishers from waiting on
        // it; live events queued meanwhile are read after the replay anyway.
        let mut backlog: VecDeque<Delivery> = gap
            .map(|(from, to)| Delivery::Gap { from, to })
            .into_iter()
            .collect();
        backlog.extend(
            held.into_iter()
                .filter(|e| channel.filter.matches(e))
                .map(Delivery::Event),
        );
        let cursor = position.load(Ordering::Relaxed);
        Subscription {
            hub: Arc::clone(&self.inner),
            channel,
            cursor,
            position,
            backlog,
        }
    }

    /// Ends every subscription (each still yields what it had queued, then `None`)
    /// and refuses new ones; for shutdown.
    pub fn close(&self) {
        let mut state = lock(&self.inner.state);
        state.closed = true;
        for joined in state.channels.drain(..) {
            joined.channel.close();
        }
        self.inner.raw_subscribers.store(0, Ordering::Relaxed);
    }

    /// The newest `seq` published (0 before the first event).
    pub fn last_seq(&self) -> u64 {
        lock(&self.inner.state).last_seq
    }

    pub fn subscriber_count(&self) -> usize {
        lock(&self.inner.state)
            .channels
            .iter()
            .map(|j| j.members)
            .sum()
    }

    /// True while some subscriber accepts `raw` events, so AMI events without a
    /// normalised type are worth publishing at all.
    pub fn raw_wanted(&self) -> bool {
        self.inner.raw_subscribers.load(Ordering::Relaxed) > 0
    }

    /// Events slow subscribers lost since the hub started, counted once each
    /// learned of the loss or went away.
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

impl Inner {
    /// The channel for `filter` and the new reader's position in it, at its next
    /// event; a closed channel of its own once the hub is closed.
    fn join(&self, state: &mut HubState, filter: Filter) -> (Arc<Channel>, Arc<AtomicU64>) {
        if state.closed {
            return (
                Arc::new(Channel::new(filter, self.queue_capacity, true)),
                Arc::default(),
            );
        }
        if filter.wants_kind(EventKind::Raw) {
            self.raw_subscribers.fetch_add(1, Ordering::Relaxed);
        }
        let joined = match state
            .channels
            .iter_mut()
            .find(|j| j.channel.filter == filter)
        {
            Some(joined) => joined,
            None => {
                let channel = Arc::new(Channel::new(filter, self.queue_capacity, false));
                state.channels.push(Joined {
                    channel,
                    members: 0,
                });
                let last = state.channels.len() - 1;
                &mut state.channels[last]
            }
        };
        joined.members += 1;
        let mut log = write(&joined.channel.log);
        let position = Arc::new(AtomicU64::new(log.end()));
        log.readers.push(Arc::clone(&position));
        drop(log);
        (Arc::clone(&joined.channel), position)
    }

    /// Takes the reader at `position` off `channel`, dropping the channel with its
    /// last one; nothing to do once the hub is closed.
    fn leave(&self, state: &mut HubState, channel: &Arc<Channel>, position: &Arc<AtomicU64>) {
        if state.closed {
            return;
        }
        write(&channel.log)
            .readers
            .retain(|p| !Arc::ptr_eq(p, position));
        if let Some(index) = state
            .channels
            .iter()
            .position(|j| Arc::ptr_eq(&j.channel, channel))
        {
            state.channels[index].members -= 1;
            if state.channels[index].members == 0 {
                state.channels.swap_remove(index);
            }
        }
        if channel.filter.wants_kind(EventKind::Raw) {
            self.raw_subscribers.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// One subscriber's view of the hub. Dropping it unsubscribes.
pub struct Subscription {
    hub: Arc<Inner>,
    channel: Arc<Channel>,
    /// The position in `channel` of the next event to read.
    cursor: u64,
    /// `cursor` as the channel sees it, updated after each read.
    position: Arc<AtomicU64>,
    /// What comes before the channel's events: the gap and the replay asked for with
    /// `since`, and what a filter change kept of the previous channel.
    backlog: VecDeque<Delivery>,
}

impl Subscription {
    /// The next delivery, waiting for one; `None` once the hub is closed and
    /// everything queued has been read.
    pub async fn next(&mut self) -> Option<Delivery> {
        loop {
            let arrived = self.channel.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if let Some(delivery) = self.backlog.pop_front() {
                return Some(delivery);
            }
            {
                let log = read(&self.channel.log);
                if let Some(delivery) = log.take(&mut self.cursor) {
                    self.count(&delivery);
                    self.position.store(self.cursor, Ordering::Relaxed);
                    return Some(delivery);
                }
                if log.closed {
                    return None;
                }
            }
            arrived.await;
        }
    }

    /// Waits until `deadline`, or less once half a queue of events is waiting or
    /// the hub closed: a reader that lets events gather for one write never loses
    /// them to its own wait.
    pub async fn gather_until(&mut self, deadline: tokio::time::Instant) {
        let half = self.channel.half_full();
        let bucket = self.channel.fill_bucket(self.cursor + half);
        let sleep = tokio::time::sleep_until(deadline);
        tokio::pin!(sleep);
        loop {
            let filling = self.channel.filling[bucket].notified();
            tokio::pin!(filling);
            filling.as_mut().enable();
            {
                let log = read(&self.channel.log);
                if log.closed || log.end().saturating_sub(self.cursor) >= half {
                    return;
                }
            }
            tokio::select! {
                () = &mut sleep => return,
                () = filling => {}
            }
        }
    }

    /// The next delivery if one is queued now; never waits.
    pub fn try_next(&mut self) -> Option<Delivery> {
        if let Some(delivery) = self.backlog.pop_front() {
            return Some(delivery);
        }
        let delivery = read(&self.channel.log).take(&mut self.cursor)?;
        self.count(&delivery);
        self.position.store(self.cursor, Ordering::Relaxed);
        Some(delivery)
    }

    /// Moves what is queued now into `batch`, in order, until it holds `max`
    /// deliveries: [`Subscription::try_next`] repeated, under one lock.
    pub fn drain_into(&mut self, batch: &mut Vec<Delivery>, max: usize) {
        self.drain_each(max.saturating_sub(batch.len()), |delivery| {
            batch.push(delivery.clone())
        });
    }

    /// Hands what is queued now to `each`, in order, at most `max` deliveries, and
    /// returns how many it handed: [`Subscription::drain_into`] without a copy. The
    /// events are lent from the shared queue, under its read lock, so `each`
    /// should be quick (an encoder's copy).
    pub fn drain_each(&mut self, max: usize, mut each: impl FnMut(&Delivery)) -> usize {
        let mut handed = 0;
        while handed < max {
            let Some(delivery) = self.backlog.pop_front() else {
                break;
            };
            each(&delivery);
            handed += 1;
        }
        if handed == max {
            return handed;
        }
        let log = read(&self.channel.log);
        if let Some(lagged) = log.lag(&mut self.cursor) {
            self.count(&lagged);
            each(&lagged);
            handed += 1;
        }
        let start = usize::try_from(self.cursor - log.first)
            .unwrap_or(usize::MAX)
            .min(log.events.len());
        let end = start + (max - handed).min(log.events.len() - start);
        log.events.range(start..end).for_each(&mut each);
        self.cursor += (end - start) as u64;
        self.position.store(self.cursor, Ordering::Relaxed);
        handed + (end - start)
    }

    /// Counts what a `Lagged` read from the channel reports lost.
    fn count(&self, delivery: &Delivery) {
        if let Delivery::Lagged { dropped } = delivery {
            self.hub
                .dropped_total
                .fetch_add(*dropped, Ordering::Relaxed);
        }
    }

    /// Replaces the filter. Later events are chosen by the new filter, and queued
    /// ones the new filter rejects are discarded.
    pub fn set_filter(&mut self, filter: Filter) {
        let mut state = lock(&self.hub.state);
        self.backlog.retain(|d| match d {
            Delivery::Event(event) => filter.matches(event),
            Delivery::Lagged { .. } | Delivery::Gap { .. } => true,
        });
        {
            let log = read(&self.channel.log);
            if let Some(lagged) = log.lag(&mut self.cursor) {
                self.count(&lagged);
                self.backlog.push_back(lagged);
            }
            let unread = usize::try_from(self.cursor - log.first).unwrap_or(usize::MAX);
            let kept = log
                .events
                .range(unread.min(log.events.len())..)
                .filter(|d| match d {
                    Delivery::Event(event) => filter.matches(event),
                    Delivery::Lagged { .. } | Delivery::Gap { .. } => false,
                });
            self.backlog.extend(kept.cloned());
        }
        self.hub.leave(&mut state, &self.channel, &self.position);
        (self.channel, self.position) = self.hub.join(&mut state, filter);
        self.cursor = self.position.load(Ordering::Relaxed);
    }

    pub fn filter(&self) -> Filter {
        self.channel.filter.clone()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let lost = read(&self.channel.log).first.saturating_sub(self.cursor);
        self.hub.dropped_total.fetch_add(lost, Ordering::Relaxed);
        let mut state = lock(&self.hub.state);
        self.hub.leave(&mut state, &self.channel, &self.position);
    }
}

/// A poisoned lock only means another thread panicked mid-update of plain data;
/// the hub keeps serving rather than spreading the panic to every publisher.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
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
        assert_eq!(
            expected,
            ["gap 3-6", "7", "8", "9", "10", "lagged 2", "13", "14", "15"]
        );
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
        let mut admin = hub.subscribe(Filter::all().with_privileged(true), None);
        let mut viewer = hub.subscribe(Filter::all(), None);
        assert!(hub.raw_wanted());
        admin.set_filter(
            Filter::all()
                .types([EventKind::Hangup])
                .with_privileged(true),
        );
        assert!(!hub.raw_wanted());
        viewer.set_filter(Filter::all().with_privileged(true));
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
        timeout(Duration::from_secs(10), sub.gather_until(far))
            .await
            .expect("woken when half full");
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
        timeout(Duration::from_secs(10), sub.gather_until(far))
            .await
            .expect("woken by close");
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

    /// What one subscriber should read, kept on its own: the backlog, then a queue of
    /// at most `capacity` events that counts what it drops.
    #[derive(Default)]
    struct ModelSubscriber {
        filter: Filter,
        backlog: VecDeque<Delivery>,
        live: VecDeque<Arc<Event>>,
        dropped: u64,
    }

    impl ModelSubscriber {
        fn take(&mut self) -> Option<Delivery> {
            if let Some(delivery) = self.backlog.pop_front() {
                return Some(delivery);
            }
            if self.dropped > 0 {
                return Some(Delivery::Lagged {
                    dropped: std::mem::take(&mut self.dropped),
                });
            }
            self.live.pop_front().map(Delivery::Event)
        }

        fn set_filter(&mut self, filter: Filter) {
            self.backlog
                .retain(|d| !matches!(d, Delivery::Event(e) if !filter.matches(e)));
            if self.dropped > 0 {
                self.backlog.push_back(Delivery::Lagged {
                    dropped: std::mem::take(&mut self.dropped),
                });
            }
            let kept = self
                .live
                .drain(..)
                .filter(|e| filter.matches(e))
                .map(Delivery::Event);
            self.backlog.extend(kept);
            self.filter = filter;
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Publish { kind: usize, endpoint: usize },
        Subscribe { filter: usize },
        Read { subscriber: usize, max: usize },
        SetFilter { subscriber: usize, filter: usize },
        Unsubscribe { subscriber: usize },
    }

    fn model_filter(index: usize) -> Filter {
        match index % 4 {
            0 => Filter::all(),
            1 => Filter::all().types([EventKind::ContactStatus]),
            2 => Filter::all().endpoints(["e0"]),
            _ => Filter::all()
                .types([EventKind::Hangup, EventKind::Apply])
                .endpoints(["e1"]),
        }
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            6 => (0..3usize, 0..3usize).prop_map(|(kind, endpoint)| Op::Publish { kind, endpoint }),
            1 => (0..4usize).prop_map(|filter| Op::Subscribe { filter }),
            3 => (0..6usize, 0..8usize).prop_map(|(subscriber, max)| Op::Read { subscriber, max }),
            1 => (0..6usize, 0..4usize).prop_map(|(subscriber, filter)| Op::SetFilter { subscriber, filter }),
            1 => (0..6usize).prop_map(|subscriber| Op::Unsubscribe { subscriber }),
        ]
    }

    proptest::proptest! {
        /// Subscribers sharing a channel read exactly what each would read from a
        /// queue of its own: in order, the same lag counts, whatever the others
        /// read, change or leave.
        #[test]
        fn shared_channels_deliver_what_own_queues_would(
            capacity in 1..6usize,
            ops in proptest::collection::vec(op(), 1..120),
        ) {
            let hub = EventHub::new("n", 0, capacity);
            let mut subs: Vec<(Subscription, ModelSubscriber)> = Vec::new();
            for op in ops {
                match op {
                    Op::Publish { kind, endpoint } => {
                        let kind = [EventKind::ContactStatus, EventKind::Hangup, EventKind::Apply][kind];
                        let event = hub.publish(kind, json!({"endpoint": format!("e{endpoint}"), "caller": format!("e{endpoint}")}));
                        for (_, model) in &mut subs {
                            if model.filter.matches(&event) {
                                if model.live.len() >= capacity {
                                    model.live.pop_front();
                                    model.dropped += 1;
                                }
                                model.live.push_back(Arc::clone(&event));
                            }
                        }
                    }
                    Op::Subscribe { filter } => {
                        let model = ModelSubscriber { filter: model_filter(filter), ..Default::default() };
                        subs.push((hub.subscribe(model_filter(filter), None), model));
                    }
                    Op::Read { subscriber, max } => {
                        let Some((sub, model)) = subs.get_mut(subscriber) else { continue };
                        let mut batch = Vec::new();
                        sub.drain_into(&mut batch, max);
                        let expected: Vec<Delivery> = std::iter::from_fn(|| model.take()).take(max).collect();
                        proptest::prop_assert_eq!(seqs(&batch), seqs(&expected));
                    }
                    Op::SetFilter { subscriber, filter } => {
                        let Some((sub, model)) = subs.get_mut(subscriber) else { continue };
                        sub.set_filter(model_filter(filter));
                        model.set_filter(model_filter(filter));
                    }
                    Op::Unsubscribe { subscriber } => {
                        if subscriber < subs.len() {
                            subs.swap_remove(subscriber);
                        }
                    }
                }
                proptest::prop_assert_eq!(hub.subscriber_count(), subs.len());
            }
            for (sub, model) in &mut subs {
                let read = events(sub);
                let expected: Vec<Delivery> = std::iter::from_fn(|| model.take()).collect();
                proptest::prop_assert_eq!(seqs(&read), seqs(&expected));
            }
            drop(subs);
            proptest::prop_assert_eq!(lock(&hub.inner.state).channels.len(), 0, "channels go with their last reader");
        }
    }

    #[test]
    fn a_channel_lets_go_of_what_every_reader_has_read() {
        let hub = EventHub::new("n", 0, 100);
        let held = |sub: &Subscription| read(&sub.channel.log).events.len();
        let mut a = hub.subscribe(Filter::all(), None);
        let mut b = hub.subscribe(Filter::all(), None);
        publish_n(&hub, 90);
        assert_eq!(events(&mut a).len(), 90);
        publish_n(&hub, 10);
        assert_eq!(held(&a), 100, "b has read nothing yet");
        assert_eq!(events(&mut b).len(), 100);
        publish_n(&hub, 28);
        assert_eq!(held(&a), 38, "what a has not read");
        assert_eq!(events(&mut a).len(), 38);
        assert_eq!(events(&mut b).len(), 28);
        publish_n(&hub, 32);
        assert_eq!(held(&a), 32, "only what neither has read");
        assert_eq!(
            seqs(&events(&mut b)).first().map(String::as_str),
            Some("129"),
            "b loses nothing"
        );
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
