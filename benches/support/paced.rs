//! The AMI reader of the event benches: a thread that hands messages to the
//! pump at a steady rate, stamping when each was handed over.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Sends `make(0..total)` over `tx` at `rate` per second, storing in
/// `produced_at[i]` the microseconds since `clock` at which message `i` left;
/// answers how long it took. Messages are built as they are sent, like a
/// reader parsing them.
pub fn produce<T: Send + 'static>(
    total: u64,
    rate: u64,
    clock: Instant,
    produced_at: Arc<Vec<AtomicU64>>,
    tx: tokio::sync::mpsc::UnboundedSender<T>,
    make: impl Fn(u64) -> T + Send + 'static,
) -> std::thread::JoinHandle<Duration> {
    std::thread::spawn(move || {
        let started = Instant::now();
        let interval = Duration::from_nanos(1_000_000_000 / rate);
        for i in 0..total {
            let deadline = started + interval * i as u32;
            if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let msg = make(i);
            produced_at[i as usize].store(clock.elapsed().as_micros() as u64, Ordering::Release);
            if tx.send(msg).is_err() {
                break;
            }
        }
        started.elapsed()
    })
}

/// Waits for every task, in order.
pub fn join_all<T>(
    runtime: &tokio::runtime::Runtime,
    tasks: Vec<tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    runtime.block_on(async {
        let mut done = Vec::with_capacity(tasks.len());
        for task in tasks {
            done.push(task.await.expect("a task"));
        }
        done
    })
}

/// A `kB` field of `/proc/self/status` (`VmRSS:`, `VmHWM:`); 0 when unreadable.
pub fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}
