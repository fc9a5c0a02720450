//! Prometheus metrics: the metric names, the helpers the daemon's parts call to
//! record them, the HTTP middleware that counts requests by route, and the text
//! exposition served at `/metrics`.
//!
//! The helpers are plain functions over the process-wide `metrics` recorder. They
//! cost an atomic update and a short label lookup, and do nothing until
//! [`install`] has run (unit tests of other modules need no setup). Label values
//! are `&'static str` so that recording never allocates for them and the label
//! sets stay bounded: pass fixed names (`"verified"`, `"res_pjsip.so"`,
//! `"contact_status"`), never user input.

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

/// Applies finished, by `outcome` (`verified`, `failed`, `pending`).
pub const APPLIES: &str = "rayan_applies_total";
/// Time from the start of an apply to its recorded outcome, by `outcome`.
pub const APPLY_DURATION: &str = "rayan_apply_duration_seconds";
/// Time of one Asterisk module reload, by `module` (`res_pjsip.so`, `pbx_config.so`).
pub const RELOAD_DURATION: &str = "rayan_reload_duration_seconds";
/// Objects that Asterisk did not load as written after a reload.
pub const VERIFY_FAILURES: &str = "rayan_verify_failures_total";
/// 1 while the AMI connection is logged in, 0 otherwise.
pub const AMI_CONNECTED: &str = "rayan_ami_connected";
/// AMI reconnections after a lost connection.
pub const AMI_RECONNECTS: &str = "rayan_ami_reconnects_total";
/// Events taken in from Asterisk, by normalised `type`.
pub const EVENTS_IN: &str = "rayan_events_in_total";
/// Events delivered to WebSocket subscribers, by `type` (one per subscriber).
pub const EVENTS_OUT: &str = "rayan_events_out_total";
/// Delivery latency of each event to each WebSocket subscriber: from the moment the
/// daemon read it from Asterisk (or published it, for its own events) to the moment
/// the socket took the write that carried it.
pub const EVENT_DELIVERY: &str = "rayan_event_delivery_seconds";
/// WebSocket subscribers connected now.
pub const WEBSOCKET_SUBSCRIBERS: &str = "rayan_websocket_subscribers";
/// Events dropped for subscribers that read too slowly (each reported as `lagged`).
pub const LAGGED_DROPS: &str = "rayan_lagged_dropped_events_total";
/// HTTP requests answered, by `method`, matched `route` and `status`.
pub const HTTP_REQUESTS: &str = "rayan_http_requests_total";
/// HTTP request handling time, by `method` and matched `route`.
pub const HTTP_DURATION: &str = "rayan_http_request_duration_seconds";

/// The `route` label of requests that matched no route, so that scanners probing
/// random paths cannot grow the label set.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// How often the recorder folds histogram samples into its buckets when nobody scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder (once; later calls are no-ops) and
/// describes every metric, so that `/metrics` lists them before their first use.
pub fn install() {
    HANDLE.get_or_init(|| {
        let handle = match build().and_then(PrometheusBuilder::install_recorder) {
            Ok(handle) => handle,
            Err(error) => {
                tracing::warn!(%error, "metrics are disabled");
                return None;
            }
        };
        describe();
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            }
        });
        if let Err(error) = spawned {
            tracing::warn!(%error, "metrics upkeep thread did not start; histograms are folded at scrape time only");
        }
        Some(handle)
    });
}

/// Histograms with their bucket bounds in seconds; rendered as Prometheus
/// histograms (aggregatable across nodes) rather than summaries.
const HISTOGRAM_BUCKETS: [(&str, &[f64]); 3] = [
    (
        APPLY_DURATION,
        &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0],
    ),
    (
        RELOAD_DURATION,
        &[
            0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        ],
    ),
    (
        HTTP_DURATION,
        &[
            0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
        ],
    ),
];

fn build() -> Result<PrometheusBuilder, BuildError> {
    HISTOGRAM_BUCKETS
        .into_iter()
        .try_fold(PrometheusBuilder::new(), |builder, (name, buckets)| {
            builder.set_buckets_for_metric(Matcher::Full(name.to_owned()), buckets)
        })
}

fn describe() {
    describe_counter!(APPLIES, "Applies finished, by outcome");
    describe_histogram!(
        APPLY_DURATION,
        Unit::Seconds,
        "Duration of an apply, by outcome"
    );
    describe_histogram!(
        RELOAD_DURATION,
        Unit::Seconds,
        "Duration of an Asterisk module reload, by module"
    );
    describe_counter!(VERIFY_FAILURES, "Objects Asterisk did not load as written");
    describe_gauge!(AMI_CONNECTED, "1 while the AMI connection is logged in");
    describe_counter!(AMI_RECONNECTS, "AMI reconnections");
    describe_counter!(EVENTS_IN, "Events received from Asterisk, by type");
    describe_gauge!(WEBSOCKET_SUBSCRIBERS, "Connected WebSocket subscribers");
    describe_counter!(HTTP_REQUESTS, "HTTP requests, by method, route and status");
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "HTTP request duration, by method and route"
    );
    // Series without labels exist from the start, so graphs show 0 rather than nothing.
    gauge!(AMI_CONNECTED).set(0.0);
    gauge!(WEBSOCKET_SUBSCRIBERS).set(0.0);
    counter!(AMI_RECONNECTS).absolute(0);
    counter!(VERIFY_FAILURES).absolute(0);
}

/// The Prometheus text exposition (format 0.0.4) of every metric; empty when
/// [`install`] has not run or could not install the recorder.
pub fn render() -> String {
    let Some(handle) = HANDLE.get().and_then(Option::as_ref) else {
        return String::new();
    };
    let mut text = handle.render();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    render_deliveries(&mut text);
    text
}

/// Upper bounds (µs) of the delivery latency buckets: fine around the 20 ms the
/// event stream aims at.
const DELIVERY_BOUNDS_US: [u64; 16] = [
    1_000, 2_500, 5_000, 7_500, 10_000, 12_500, 15_000, 17_500, 20_000, 25_000, 30_000, 50_000,
    100_000, 250_000, 1_000_000, 5_000_000,
];
const DELIVERY_BUCKETS: usize = DELIVERY_BOUNDS_US.len() + 1;
/// Event types counted apart in `rayan_events_out_total`, at most.
const MAX_EVENT_TYPES: usize = 16;
/// Slots the delivery counters are spread over, one per thread (threads beyond
/// share): far more than the runtime's worker threads.
const STRIPES: usize = 8;

/// What the event stream's writes add up to: `rayan_event_delivery_seconds`,
/// `rayan_events_out_total` and `rayan_lagged_dropped_events_total`.
///
/// These move at every write to every subscriber, hundreds of thousands of times
/// a second under load, from every worker thread. The recorder would keep every
/// latency sample until it folds them, and threads bumping the same counters
/// fight over their cache lines. So each write tallies its own batch
/// ([`WriteTally`]), adds it to its thread's slot of plain atomic counters, and a
/// scrape sums the slots.
#[repr(align(128))]
struct DeliveryStripe {
    /// Per bucket, not cumulative; the last one is `+Inf`.
    latency: [AtomicU64; DELIVERY_BUCKETS],
    latency_sum_nanos: AtomicU64,
    events: [AtomicU64; MAX_EVENT_TYPES],
    lagged: AtomicU64,
}

impl DeliveryStripe {
    const fn new() -> Self {
        Self {
            latency: [const { AtomicU64::new(0) }; DELIVERY_BUCKETS],
            latency_sum_nanos: AtomicU64::new(0),
            events: [const { AtomicU64::new(0) }; MAX_EVENT_TYPES],
            lagged: AtomicU64::new(0),
        }
    }

    fn add(&self, tally: &WriteTally) {
        let add = |counter: &AtomicU64, count: u64| {
            if count > 0 {
                counter.fetch_add(count, Ordering::Relaxed);
            }
        };
        for (counter, &count) in self.latency.iter().zip(&tally.latency) {
            add(counter, count);
        }
        add(&self.latency_sum_nanos, tally.latency_sum_nanos);
        for (counter, &count) in self.events.iter().zip(&tally.events) {
            add(counter, count);
        }
        add(&self.lagged, tally.lagged);
    }
}

static DELIVERIES: [DeliveryStripe; STRIPES] = [const { DeliveryStripe::new() }; STRIPES];
/// The names of the event types [`WriteTally::event`] counts, by index.
static EVENT_TYPES: OnceLock<Vec<&'static str>> = OnceLock::new();

/// Names the event types that writes count by index (the first call wins; the
/// daemon has one list). Types beyond the first sixteen are not counted apart.
pub fn name_event_types(types: &[&'static str]) {
    EVENT_TYPES.get_or_init(|| types.iter().copied().take(MAX_EVENT_TYPES).collect());
}

/// The calling thread's slot of [`DELIVERIES`].
fn stripe() -> &'static DeliveryStripe {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
    }
    &DELIVERIES[INDEX.with(|index| *index)]
}

/// Records one write the socket took, in the calling thread's slot of counters.
pub fn record_write(tally: &WriteTally) {
    stripe().add(tally);
}

/// Everything in one write to one subscriber.
#[derive(Debug, Clone, Default)]
pub struct WriteTally {
    latency: [u64; DELIVERY_BUCKETS],
    latency_sum_nanos: u64,
    events: [u64; MAX_EVENT_TYPES],
    lagged: u64,
}

impl WriteTally {
    /// Counts one event of the type at `type_index` (see [`name_event_types`]) whose
    /// delivery took `latency`.
    pub fn event(&mut self, type_index: usize, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        // A bound is inclusive: a latency of exactly 10 ms counts as `le="0.01"`.
        let bucket = DELIVERY_BOUNDS_US.partition_point(|&bound| bound < micros);
        self.latency[bucket] += 1;
        self.latency_sum_nanos = self
            .latency_sum_nanos
            .saturating_add(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
        if let Some(count) = self.events.get_mut(type_index) {
            *count += 1;
        }
    }

    /// Counts events a `lagged` frame reported lost.
    pub fn lagged(&mut self, dropped: u64) {
        self.lagged = self.lagged.saturating_add(dropped);
    }
}

/// The delivery counters summed over `stripes`.
fn totals(stripes: &[DeliveryStripe]) -> WriteTally {
    let mut total = WriteTally::default();
    let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    for stripe in stripes {
        for (sum, counter) in total.latency.iter_mut().zip(&stripe.latency) {
            *sum += load(counter);
        }
        total.latency_sum_nanos += load(&stripe.latency_sum_nanos);
        for (sum, counter) in total.events.iter_mut().zip(&stripe.events) {
            *sum += load(counter);
        }
        total.lagged += load(&stripe.lagged);
    }
    total
}

fn render_deliveries(out: &mut String) {
    render_tally(
        &totals(&DELIVERIES),
        EVENT_TYPES.get().map_or(&[][..], Vec::as_slice),
        out,
    );
}

/// The exposition of `tally`: a histogram and two counters.
fn render_tally(tally: &WriteTally, types: &[&str], out: &mut String) {
    let name = EVENT_DELIVERY;
    let _ = writeln!(
        out,
        "# HELP {name} Delivery latency of each event to each WebSocket subscriber, from its read from Asterisk"
    );
    let _ = writeln!(out, "# TYPE {name} histogram");
    let mut cumulative = 0;
    for (i, count) in tally.latency.iter().enumerate() {
        cumulative += count;
        match DELIVERY_BOUNDS_US.get(i) {
            Some(&bound) => {
                let _ = writeln!(
                    out,
                    "{name}_bucket{{le=\"{}\"}} {cumulative}",
                    bound as f64 / 1e6
                );
            }
            None => {
                let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
            }
        }
    }
    let _ = writeln!(out, "{name}_sum {}", tally.latency_sum_nanos as f64 / 1e9);
    let _ = writeln!(out, "{name}_count {cumulative}");
    out.push('\n');

    let _ = writeln!(
        out,
        "# HELP {EVENTS_OUT} Events delivered to WebSocket subscribers, by type"
    );
    let _ = writeln!(out, "# TYPE {EVENTS_OUT} counter");
    for (kind, count) in types.iter().zip(&tally.events) {
        let _ = writeln!(out, "{EVENTS_OUT}{{type=\"{kind}\"}} {count}");
    }
    out.push('\n');

    let _ = writeln!(
        out,
        "# HELP {LAGGED_DROPS} Events dropped for slow subscribers"
    );
    let _ = writeln!(out, "# TYPE {LAGGED_DROPS} counter");
    let _ = writeln!(out, "{LAGGED_DROPS} {}", tally.lagged);
    out.push('\n');
}

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Records one finished apply and how long it took. `outcome`: `verified`,
/// `failed` or `pending`.
pub fn record_apply(outcome: &'static str, duration: Duration) {
    counter!(APPLIES, "outcome" => outcome).increment(1);
    histogram!(APPLY_DURATION, "outcome" => outcome).record(duration.as_secs_f64());
}

/// Records one Asterisk module reload (`module`: `res_pjsip.so`, `pbx_config.so`).
pub fn record_reload(module: &'static str, duration: Duration) {
    histogram!(RELOAD_DURATION, "module" => module).record(duration.as_secs_f64());
}

/// Records `count` objects that verification found missing or different after a reload.
pub fn record_verify_failures(count: u64) {
    counter!(VERIFY_FAILURES).increment(count);
}

/// Sets whether the AMI connection is up.
pub fn set_ami_connected(connected: bool) {
    gauge!(AMI_CONNECTED).set(if connected { 1.0 } else { 0.0 });
}

/// Records one AMI reconnection (not the first connection).
pub fn record_ami_reconnect() {
    counter!(AMI_RECONNECTS).increment(1);
}

/// Records one event received from Asterisk, by its normalised type (`contact_status`, `hangup`, ...).
pub fn record_event_in(event_type: &'static str) {
    counter!(EVENTS_IN, "type" => event_type).increment(1);
}

/// Records a WebSocket subscriber connecting.
pub fn websocket_subscriber_joined() {
    gauge!(WEBSOCKET_SUBSCRIBERS).increment(1.0);
}

/// Records a WebSocket subscriber leaving.
pub fn websocket_subscriber_left() {
    gauge!(WEBSOCKET_SUBSCRIBERS).decrement(1.0);
}

/// Records one answered HTTP request. `route` is the matched route template
/// (`/api/v1/extensions/{number}`), never the raw path.
pub fn record_http_request(
    method: &axum::http::Method,
    route: &str,
    status: u16,
    duration: Duration,
) {
    let method = method_label(method);
    counter!(HTTP_REQUESTS, "method" => method, "route" => route.to_owned(), "status" => status.to_string()).increment(1);
    histogram!(HTTP_DURATION, "method" => method, "route" => route.to_owned())
        .record(duration.as_secs_f64());
}

/// Standard methods by name; anything else as `other`, so the label set stays bounded.
fn method_label(method: &axum::http::Method) -> &'static str {
    const STANDARD: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
    STANDARD
        .into_iter()
        .find(|m| *m == method.as_str())
        .unwrap_or("other")
}

/// Axum middleware (`axum::middleware::from_fn(metrics::track_http)`, added with
/// `Router::layer` so that the matched route is known) counting every request.
pub async fn track_http(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let response = next.run(request).await;
    let route = route.as_deref().unwrap_or(UNMATCHED_ROUTE);
    record_http_request(
        &method,
        route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    #[test]
    fn methods_outside_the_standard_set_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::OPTIONS), "OPTIONS");
        let custom = Method::from_bytes(b"PROPFIND").expect("valid method");
        assert_eq!(method_label(&custom), "other");
    }

    #[test]
    fn delivery_tallies_render_as_cumulative_buckets_and_counters() {
        let mut tally = WriteTally::default();
        for ms in [0.5, 10.0, 12.0, 19.0, 30_000.0] {
            tally.event(0, Duration::from_secs_f64(ms / 1000.0));
        }
        tally.event(1, Duration::from_millis(3));
        tally.event(MAX_EVENT_TYPES, Duration::from_millis(3));
        tally.lagged(7);
        // Two writes land in two threads' slots; the totals add both up.
        let stripes = [DeliveryStripe::new(), DeliveryStripe::new()];
        stripes[0].add(&tally);
        stripes[1].add(&tally);
        let mut text = String::new();
        render_tally(&totals(&stripes), &["contact_status", "hangup"], &mut text);
        for line in [
            "# TYPE rayan_event_delivery_seconds histogram",
            // A bound is inclusive: 10 ms counts in le=0.01.
            "rayan_event_delivery_seconds_bucket{le=\"0.001\"} 2",
            "rayan_event_delivery_seconds_bucket{le=\"0.0025\"} 2",
            "rayan_event_delivery_seconds_bucket{le=\"0.005\"} 6",
            "rayan_event_delivery_seconds_bucket{le=\"0.01\"} 8",
            "rayan_event_delivery_seconds_bucket{le=\"0.0125\"} 10",
            "rayan_event_delivery_seconds_bucket{le=\"0.0175\"} 10",
            "rayan_event_delivery_seconds_bucket{le=\"0.02\"} 12",
            "rayan_event_delivery_seconds_bucket{le=\"5\"} 12",
            "rayan_event_delivery_seconds_bucket{le=\"+Inf\"} 14",
            "rayan_event_delivery_seconds_count 14",
            "# TYPE rayan_events_out_total counter",
            "rayan_events_out_total{type=\"contact_status\"} 10",
            "rayan_events_out_total{type=\"hangup\"} 2",
            "rayan_lagged_dropped_events_total 14",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
        let sum: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("rayan_event_delivery_seconds_sum "))
            .and_then(|v| v.parse().ok())
            .expect("a sum");
        assert!((sum - 2.0 * 30.0475).abs() < 1e-6, "{sum}");
    }

    #[test]
    fn histograms_get_buckets_not_quantiles() {
        let recorder = build()
            .expect("bucket lists are non-empty")
            .build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            record_apply("verified", Duration::from_millis(300))
        });
        let text = handle.render();
        assert!(
            text.contains("rayan_apply_duration_seconds_bucket{outcome=\"verified\",le=\"0.5\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "rayan_apply_duration_seconds_bucket{outcome=\"verified\",le=\"0.25\"} 0"
            ),
            "{text}"
        );
        assert!(
            text.contains("rayan_applies_total{outcome=\"verified\"} 1"),
            "{text}"
        );
    }
}
