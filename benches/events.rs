//! Event hub under load: 1,000 subscribers, 2,000 AMI events per second for 10 s.
//!
//! A producer thread plays the AMI reader: it builds `ContactStatus` messages at a
//! steady 2,000/s and hands them over a channel to the pump task, which normalises
//! and publishes them into the hub. Subscribers are tokio tasks: most keep up (some
//! with endpoint filters), 10 never read. Latency runs from the moment the producer
//! hands a message over to the moment a subscriber holds the event.
//!
//! Figures printed: events lost by subscribers that keep up, p50/p99/max latency,
//! what the stalled subscribers got, the same run without stalled subscribers for
//! comparison, the cost of one publish with 1,000 subscribers, and peak RSS.
//!
//! `cargo bench --bench events`; `EVENTS_BENCH_SECONDS` shortens the runs.

#[path = "support/latency.rs"]
mod latency;
#[path = "support/paced.rs"]
mod paced;

use paced::status_kb;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use latency::Histogram;
use rayan::ami::Message;
use rayan::events::{CallTrackerConfig, Delivery, EventHub, EventKind, Filter, Pump, Subscription};

const SUBSCRIBERS: usize = 1_000;
const STALLED: usize = 10;
const FILTERED: usize = 100;
const RATE: u64 = 2_000;
const QUEUE: usize = 1_024;
const RING: usize = 10_000;
const ENDPOINTS: u64 = 1_000;
const FILTERED_ENDPOINTS: [&str; 10] = [
    "1000", "1001", "1002", "1003", "1004", "1005", "1006", "1007", "1008", "1009",
];

struct Keeper {
    received: u64,
    lagged: u64,
    out_of_order: u64,
    max_latency_us: u64,
    histogram: Histogram,
}

struct Outcome {
    produced: u64,
    elapsed: Duration,
    expected_filtered: u64,
    keepers: Vec<(bool, Keeper)>,
    stalled: Vec<Vec<Delivery>>,
}

fn endpoint_of(i: u64) -> u64 {
    1_000 + (i * 7) % ENDPOINTS
}

fn contact_status(i: u64) -> Message {
    let endpoint = endpoint_of(i).to_string();
    Message::new()
        .with("Event", "ContactStatus")
        .with("Privilege", "system,all")
        .with(
            "URI",
            format!("sip:{endpoint}@10.0.{}.{}:5060", i % 200, i % 250),
        )
        .with(
            "ContactStatus",
            if i % 5 == 0 {
                "Unreachable"
            } else {
                "Reachable"
            },
        )
        .with("AOR", endpoint.clone())
        .with("EndpointName", endpoint)
        .with("RoundtripUsec", (200 + i % 900).to_string())
}

fn run(seconds: u64, stalled_count: usize) -> Outcome {
    let total = RATE * seconds;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let hub = EventHub::new("bench", RING, QUEUE);
    let produced_at: Arc<Vec<AtomicU64>> =
        Arc::new((0..total).map(|_| AtomicU64::new(0)).collect());
    let clock = Instant::now();
    let filtered_set: HashSet<String> =
        FILTERED_ENDPOINTS.iter().map(|e| (*e).to_owned()).collect();
    let expected_filtered = (0..total)
        .filter(|&i| filtered_set.contains(&endpoint_of(i).to_string()))
        .count() as u64;

    let stalled: Vec<Subscription> = (0..stalled_count)
        .map(|_| hub.subscribe(Filter::all(), None))
        .collect();
    let keepers: Vec<_> = (0..SUBSCRIBERS - stalled_count)
        .map(|n| {
            let filtered = n < FILTERED;
            let filter = if filtered {
                Filter::all().endpoints(FILTERED_ENDPOINTS)
            } else {
                Filter::all()
            };
            let mut sub = hub.subscribe(filter, None);
            let produced_at = Arc::clone(&produced_at);
            let expected = if filtered { expected_filtered } else { total };
            runtime.spawn(async move {
                let mut keeper = Keeper {
                    received: 0,
                    lagged: 0,
                    out_of_order: 0,
                    max_latency_us: 0,
                    histogram: Histogram::new(),
                };
                let mut last_seq = 0;
                while let Some(delivery) = sub.next().await {
                    match delivery {
                        Delivery::Event(event) => {
                            let now = clock.elapsed().as_micros() as u64;
                            let sent =
                                produced_at[(event.seq - 1) as usize].load(Ordering::Acquire);
                            let latency = now.saturating_sub(sent);
                            keeper.histogram.record(latency);
                            keeper.max_latency_us = keeper.max_latency_us.max(latency);
                            if event.seq <= last_seq {
                                keeper.out_of_order += 1;
                            }
                            last_seq = event.seq;
                            keeper.received += 1;
                            if keeper.received == expected {
                                break;
                            }
                        }
                        Delivery::Lagged { dropped } => keeper.lagged += dropped,
                        Delivery::Gap { .. } => keeper.out_of_order += 1,
                    }
                }
                (filtered, keeper)
            })
        })
        .collect();

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Arc<Message>>();
    let pump = {
        let mut pump = Pump::new(hub.clone(), CallTrackerConfig::default());
        runtime.spawn(async move {
            pump.run(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
                .await;
        })
    };

    let producer = paced::produce(total, RATE, clock, Arc::clone(&produced_at), tx, |i| {
        Arc::new(contact_status(i))
    });
    let elapsed = producer.join().expect("producer thread");
    runtime.block_on(async {
        pump.await.expect("pump task");
        tokio::time::sleep(Duration::from_millis(500)).await;
    });
    hub.close();
    let keepers = paced::join_all(&runtime, keepers);
    let stalled = stalled
        .into_iter()
        .map(|mut sub| std::iter::from_fn(|| sub.try_next()).collect())
        .collect();
    assert_eq!(hub.last_seq(), total, "one event per message");
    Outcome {
        produced: total,
        elapsed,
        expected_filtered,
        keepers,
        stalled,
    }
}

fn report(title: &str, outcome: &Outcome) {
    let mut histogram = Histogram::new();
    let mut max_latency = 0;
    let (mut lost, mut lagged, mut disorder) = (0u64, 0u64, 0u64);
    for (filtered, keeper) in &outcome.keepers {
        let expected = if *filtered {
            outcome.expected_filtered
        } else {
            outcome.produced
        };
        lost += expected.saturating_sub(keeper.received);
        lagged += keeper.lagged;
        disorder += keeper.out_of_order;
        max_latency = max_latency.max(keeper.max_latency_us);
        histogram.merge(&keeper.histogram);
    }
    println!("== {title}");
    println!(
        "  produced {} events in {:.2} s ({:.0}/s)",
        outcome.produced,
        outcome.elapsed.as_secs_f64(),
        outcome.produced as f64 / outcome.elapsed.as_secs_f64()
    );
    println!(
        "  {} subscribers keeping up ({} with endpoint filters): {} deliveries, lost {lost}, lagged {lagged}, out of order {disorder}",
        outcome.keepers.len(),
        outcome.keepers.iter().filter(|(f, _)| *f).count(),
        histogram.total()
    );
    println!(
        "  delivery latency (producer hand-over -> subscriber): p50 <= {} us, p99 <= {} us, p99.9 <= {} us, max {} us",
        histogram.quantile(0.50),
        histogram.quantile(0.99),
        histogram.quantile(0.999),
        max_latency
    );
    for (n, deliveries) in outcome.stalled.iter().enumerate().take(1) {
        let first = deliveries
            .first()
            .map(|d| d.to_json().into_owned())
            .unwrap_or_default();
        let events = deliveries
            .iter()
            .filter(|d| matches!(d, Delivery::Event(_)))
            .count();
        println!(
            "  stalled subscriber {n} (of {}), read at the end: {first} then {events} events",
            outcome.stalled.len()
        );
    }
}

/// The cost of one publish with 1,000 subscribers whose queues are full.
fn publish_cost() -> (f64, u64) {
    let hub = EventHub::new("bench", RING, QUEUE);
    let _subs: Vec<_> = (0..SUBSCRIBERS)
        .map(|_| hub.subscribe(Filter::all(), None))
        .collect();
    let mut worst = Duration::ZERO;
    let rounds = 20_000;
    let started = Instant::now();
    for i in 0..rounds {
        let t = Instant::now();
        hub.publish(
            EventKind::ContactStatus,
            serde_json::json!({"endpoint": endpoint_of(i).to_string(), "status": "reachable"}),
        );
        worst = worst.max(t.elapsed());
    }
    (
        started.elapsed().as_secs_f64() * 1e6 / rounds as f64,
        worst.as_micros() as u64,
    )
}

fn main() {
    let seconds: u64 = std::env::var("EVENTS_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    println!(
        "event hub bench: {SUBSCRIBERS} subscribers, {RATE} events/s for {seconds} s, queue {QUEUE}, ring {RING}, {} cores, started {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
    );
    println!("  RSS before: {} kB", status_kb("VmRSS:"));
    let with_stalled = run(seconds, STALLED);
    report(
        &format!("{} keeping up + {STALLED} stalled", SUBSCRIBERS - STALLED),
        &with_stalled,
    );
    drop(with_stalled);
    let hwm_first = status_kb("VmHWM:");
    let without = run(seconds, 0);
    report(
        &format!("{SUBSCRIBERS} keeping up, none stalled (comparison)"),
        &without,
    );
    drop(without);
    let (mean_us, worst_us) = publish_cost();
    println!(
        "== publish into {SUBSCRIBERS} subscribers with full queues: mean {mean_us:.1} us, worst {worst_us} us"
    );
    println!(
        "peak RSS (VmHWM): {} kB after the first run, {} kB at the end",
        hwm_first,
        status_kb("VmHWM:")
    );
}
