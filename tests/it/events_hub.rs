//! The hub's promises: resume, gaps, lag without loss of the others, filter
//! changes, sequence numbers under concurrent publishers, clean shutdown.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rayan::events::{Delivery, EventHub, EventKind, Filter, Subscription};
use serde_json::json;

fn contact(hub: &EventHub, endpoint: &str) -> u64 {
    hub.publish(
        EventKind::ContactStatus,
        json!({"endpoint": endpoint, "status": "reachable"}),
    )
    .seq
}

fn drain(sub: &mut Subscription) -> Vec<Delivery> {
    std::iter::from_fn(|| sub.try_next()).collect()
}

fn describe(deliveries: &[Delivery]) -> Vec<String> {
    deliveries
        .iter()
        .map(|d| match d {
            Delivery::Event(e) => format!("{} {}", e.seq, e.kind),
            Delivery::Lagged { dropped } => format!("lagged {dropped}"),
            Delivery::Gap { from, to } => format!("gap {from}-{to}"),
        })
        .collect()
}

#[test]
fn resume_after_disconnect_loses_nothing() {
    let hub = EventHub::new("pbx1", 100, 100);
    let mut first = hub.subscribe(Filter::all(), None);
    for _ in 0..3 {
        contact(&hub, "1001");
    }
    let seen = drain(&mut first);
    let last = match seen.last() {
        Some(Delivery::Event(e)) => e.seq,
        other => panic!("expected an event, got {other:?}"),
    };
    drop(first);
    contact(&hub, "1001");
    contact(&hub, "1002");
    let mut again = hub.subscribe(Filter::all(), Some(last));
    contact(&hub, "1003");
    assert_eq!(
        describe(&drain(&mut again)),
        ["4 contact_status", "5 contact_status", "6 contact_status"]
    );
}

#[test]
fn resume_is_filtered_like_live_events() {
    let hub = EventHub::new("pbx1", 100, 100);
    contact(&hub, "1001");
    hub.publish(EventKind::Hangup, json!({"endpoint": "1001"}));
    contact(&hub, "1002");
    let mut sub = hub.subscribe(Filter::all().endpoints(["1002"]), Some(0));
    assert_eq!(describe(&drain(&mut sub)), ["3 contact_status"]);
}

#[test]
fn gap_comes_first_when_the_ring_forgot() {
    let hub = EventHub::new("pbx1", 5, 100);
    for _ in 0..12 {
        contact(&hub, "1001");
    }
    let mut sub = hub.subscribe(Filter::all(), Some(3));
    let deliveries = drain(&mut sub);
    assert_eq!(deliveries[0].to_json(), r#"{"type":"gap","from":4,"to":7}"#);
    assert_eq!(
        describe(&deliveries[1..]),
        [
            "8 contact_status",
            "9 contact_status",
            "10 contact_status",
            "11 contact_status",
            "12 contact_status"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_is_lagged_and_slows_no_one() {
    const EVENTS: u64 = 5_000;
    const QUEUE: usize = 64;
    const BATCH: u64 = 32;
    let hub = EventHub::new("pbx1", 16, QUEUE);
    let mut stalled = hub.subscribe(Filter::all(), None);
    let progress: Arc<Vec<AtomicU64>> = Arc::new((0..8).map(|_| AtomicU64::new(0)).collect());
    let readers: Vec<_> = (0..8)
        .map(|n| {
            let mut sub = hub.subscribe(Filter::all(), None);
            let progress = Arc::clone(&progress);
            tokio::spawn(async move {
                let mut seqs = Vec::new();
                while let Some(delivery) = sub.next().await {
                    match delivery {
                        Delivery::Event(e) => seqs.push(e.seq),
                        other => panic!("a reader that keeps up got {other:?}"),
                    }
                    progress[n].store(seqs.len() as u64, Ordering::Release);
                    if seqs.len() as u64 == EVENTS {
                        break;
                    }
                }
                seqs
            })
        })
        .collect();
    // The publisher lets the readers catch up after every batch (smaller than their
    // queue), however loaded the machine; the stalled subscriber never reads. Were
    // publish ever to wait for a full queue, it would never get past the third batch.
    let publisher = {
        let hub = hub.clone();
        let progress = Arc::clone(&progress);
        tokio::spawn(async move {
            for i in 1..=EVENTS {
                contact(&hub, "1001");
                if i % BATCH == 0 || i == EVENTS {
                    while progress.iter().any(|p| p.load(Ordering::Acquire) < i) {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            }
        })
    };
    tokio::time::timeout(Duration::from_secs(120), publisher)
        .await
        .expect("publisher finished")
        .expect("no panic");
    for reader in readers {
        let seqs = reader.await.expect("no panic");
        assert_eq!(seqs, (1..=EVENTS).collect::<Vec<_>>());
    }
    let deliveries = drain(&mut stalled);
    assert_eq!(deliveries.len(), QUEUE + 1);
    assert_eq!(
        deliveries[0].to_json(),
        format!(r#"{{"type":"lagged","dropped":{}}}"#, EVENTS - QUEUE as u64)
    );
    assert_eq!(
        describe(&deliveries[1..2]),
        [format!("{} contact_status", EVENTS - QUEUE as u64 + 1)]
    );
    assert_eq!(hub.dropped_total(), EVENTS - QUEUE as u64);
}

#[test]
fn lag_counts_only_what_the_filter_wanted() {
    let hub = EventHub::new("pbx1", 0, 2);
    let mut sub = hub.subscribe(Filter::all().types([EventKind::Hangup]), None);
    for i in 0..10 {
        contact(&hub, "1001");
        if i % 2 == 0 {
            hub.publish(EventKind::Hangup, json!({"caller": "1001"}));
        }
    }
    assert_eq!(
        describe(&drain(&mut sub)),
        ["lagged 3", "11 hangup", "14 hangup"]
    );
}

#[test]
fn filter_changes_apply_to_queued_and_later_events() {
    let hub = EventHub::new("pbx1", 100, 100);
    let mut sub = hub.subscribe(
        Filter::all().types([EventKind::ContactStatus, EventKind::Hangup]),
        None,
    );
    contact(&hub, "1001");
    hub.publish(EventKind::Hangup, json!({"caller": "1001"}));
    sub.set_filter(Filter::all().types([EventKind::Hangup]));
    contact(&hub, "1001");
    hub.publish(EventKind::Hangup, json!({"caller": "1002"}));
    assert_eq!(describe(&drain(&mut sub)), ["2 hangup", "4 hangup"]);
    sub.set_filter(Filter::all().endpoints(["1002"]));
    assert_eq!(sub.filter(), Filter::all().endpoints(["1002"]));
    contact(&hub, "1001");
    contact(&hub, "1002");
    hub.publish(EventKind::Asterisk, json!({"state": "disconnected"}));
    assert_eq!(
        describe(&drain(&mut sub)),
        ["6 contact_status", "7 asterisk"]
    );
}

#[test]
fn seq_is_strictly_increasing_under_concurrent_publishers() {
    const THREADS: u64 = 4;
    const EACH: u64 = 5_000;
    let hub = EventHub::new("pbx1", 1_000, (THREADS * EACH) as usize);
    let mut sub = hub.subscribe(Filter::all(), None);
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let hub = hub.clone();
            std::thread::spawn(move || {
                (0..EACH)
                    .map(|i| hub.publish(EventKind::Apply, json!({"thread": t, "i": i})))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all = HashSet::new();
    for handle in handles {
        let events = handle.join().expect("publisher thread");
        assert!(
            events.windows(2).all(|w| w[0].seq < w[1].seq),
            "each publisher sees its seqs increase"
        );
        all.extend(events.iter().map(|e| e.seq));
    }
    assert_eq!(all, (1..=THREADS * EACH).collect::<HashSet<_>>());
    let received: Vec<Arc<rayan::events::Event>> = drain(&mut sub)
        .into_iter()
        .map(|d| match d {
            Delivery::Event(e) => e,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        received.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=THREADS * EACH).collect::<Vec<_>>()
    );
    assert!(received.windows(2).all(|w| w[0].time <= w[1].time));
}

#[tokio::test]
async fn close_ends_waiting_subscribers() {
    let hub = EventHub::new("pbx1", 10, 10);
    let waiting: Vec<_> = (0..3)
        .map(|_| {
            let mut sub = hub.subscribe(Filter::all(), None);
            tokio::spawn(async move { sub.next().await.is_none() })
        })
        .collect();
    tokio::task::yield_now().await;
    hub.close();
    for task in waiting {
        let ended = tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("woken")
            .expect("no panic");
        assert!(ended);
    }
    assert_eq!(hub.subscriber_count(), 0);
}
