//! `/metrics` (parsed with a Prometheus text parser) and `/readyz` against the
//! real server. The metrics recorder is process-wide, so each test here counts
//! requests on routes that no other test in this file calls.

#[path = "it/support/mod.rs"]
mod support;

use openmetrics_parser::prometheus::parse_prometheus;
use openmetrics_parser::{MetricsExposition, PrometheusType, PrometheusValue};
use reqwest::{Method, StatusCode};
use support::asterisk::AmiEvent;
use support::daemon::TestDaemon;
use support::db::Backend;
use support::ws::Ws;

type Exposition = MetricsExposition<PrometheusType, PrometheusValue>;

async fn scrape_metrics(d: &TestDaemon, token: &str) -> Exposition {
    let resp = d
        .http
        .get(format!("{}/metrics", d.url))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(resp.status(), StatusCode::OK);
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = resp.text().await.expect("body");
    parse_prometheus(&text)
        .unwrap_or_else(|e| panic!("not valid Prometheus text exposition ({e:?}):\n{text}"))
}

/// The value of the one sample in `family` whose labels include all of `labels`.
fn sample(scrape: &Exposition, family: &str, labels: &[(&str, &str)]) -> Option<PrometheusValue> {
    let family = scrape.families.get(family)?;
    let matching: Vec<PrometheusValue> = family
        .iter_samples()
        .filter(|s| {
            let set = s.get_labelset().expect("labels");
            labels
                .iter()
                .all(|(k, v)| set.get_label_value(k) == Some(*v))
        })
        .map(|s| s.value.clone())
        .collect();
    assert!(matching.len() <= 1, "several samples match {labels:?}");
    matching.into_iter().next()
}

/// A counter's or gauge's number.
fn number(value: Option<PrometheusValue>) -> Option<f64> {
    match value? {
        PrometheusValue::Counter(c) => Some(c.value.as_f64()),
        PrometheusValue::Gauge(g) => Some(g.as_f64()),
        other => panic!("not a counter or gauge: {other:?}"),
    }
}

/// The label values `name` takes in `family`.
fn label_values(scrape: &Exposition, family: &str, name: &str) -> Vec<String> {
    scrape.families.get(family).map_or_else(Vec::new, |f| {
        f.iter_samples()
            .filter_map(|s| {
                s.get_labelset()
                    .ok()?
                    .get_label_value(name)
                    .map(str::to_owned)
            })
            .collect()
    })
}

#[tokio::test]
async fn metrics_count_http_requests_by_route_template_and_status() {
    let d = TestDaemon::start(Backend::Sqlite).await;
    let unauthenticated = d
        .http
        .get(format!("{}/metrics", d.url))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(
        unauthenticated.status(),
        StatusCode::UNAUTHORIZED,
        "metrics need a token"
    );

    let viewer = d.token("viewer").await;
    for _ in 0..2 {
        d.call(Method::GET, "/api/v1/extensions", Some(&viewer), None)
            .await;
    }
    let missing = d
        .call(Method::GET, "/api/v1/extensions/1999", Some(&viewer), None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    d.call(Method::GET, "/no/such/route/1", None, None).await;
    d.call(Method::GET, "/no/such/route/2", None, None).await;

    let scrape = scrape_metrics(&d, &viewer).await;
    let requests = "rayan_http_requests_total";
    let list = [
        ("method", "GET"),
        ("route", "/api/v1/extensions"),
        ("status", "200"),
    ];
    assert_eq!(number(sample(&scrape, requests, &list)), Some(2.0));
    let show = [
        ("method", "GET"),
        ("route", "/api/v1/extensions/{number}"),
        ("status", "404"),
    ];
    assert_eq!(
        number(sample(&scrape, requests, &show)),
        Some(1.0),
        "the route template, not the path"
    );
    let unmatched = [("method", "GET"), ("route", "unmatched"), ("status", "404")];
    assert_eq!(
        number(sample(&scrape, requests, &unmatched)),
        Some(2.0),
        "unknown paths share one label"
    );
    let routes = label_values(&scrape, requests, "route");
    assert!(
        routes
            .iter()
            .all(|r| !r.starts_with("/no/") && !r.contains("1999")),
        "raw paths never become labels: {routes:?}"
    );
    let duration = [("method", "GET"), ("route", "/api/v1/extensions")];
    match sample(&scrape, "rayan_http_request_duration_seconds", &duration) {
        Some(PrometheusValue::Histogram(h)) => assert_eq!(h.count, Some(2), "{h:?}"),
        other => panic!("expected a histogram, got {other:?}"),
    }

    // Beside an Asterisk double: connected.
    assert_eq!(
        number(sample(&scrape, "rayan_ami_connected", &[])),
        Some(1.0)
    );
    assert_eq!(
        number(sample(&scrape, "rayan_websocket_subscribers", &[])),
        Some(0.0)
    );
    // Metrics are per process; other tests in this binary run daemons too.
    assert!(number(sample(&scrape, "rayan_ami_reconnects_total", &[])).unwrap_or(0.0) >= 1.0);
    let applies_before = number(sample(
        &scrape,
        "rayan_applies_total",
        &[("outcome", "verified")],
    ))
    .unwrap_or(0.0);
    assert!(applies_before >= 1.0, "the start-up apply");
    let families = &scrape.families;
    assert!(!families[requests].help.is_empty(), "described");
    assert_eq!(families[requests].family_type, PrometheusType::Counter);

    // A write moves the apply and reload metrics; an event from Asterisk that a
    // subscriber receives moves the event metrics.
    let created = d
        .admin(
            Method::POST,
            "/api/v1/extensions",
            Some(serde_json::json!({"extension": "1001"})),
        )
        .await;
    assert_eq!(created.body["apply"]["status"], "verified");
    let (mut ws, _hello) = Ws::connect(&d.url, &viewer, "types=contact_status").await;
    let asterisk = d.asterisk.as_ref().expect("an Asterisk double");
    asterisk.emit(&AmiEvent::contact_status(
        "1001",
        "sip:1001@127.0.0.1:5081",
        "Reachable",
        293,
    ));
    let frame = ws.json().await;
    assert_eq!(frame["type"], "contact_status", "{frame}");
    let scrape = scrape_metrics(&d, &viewer).await;
    assert_eq!(
        number(sample(&scrape, "rayan_websocket_subscribers", &[])),
        Some(1.0)
    );
    match sample(&scrape, "rayan_event_delivery_seconds", &[]) {
        Some(PrometheusValue::Histogram(h)) => assert_eq!(h.count, Some(1), "one write: {h:?}"),
        other => panic!("expected a histogram, got {other:?}"),
    }
    let applies_after = number(sample(
        &scrape,
        "rayan_applies_total",
        &[("outcome", "verified")],
    ))
    .unwrap_or(0.0);
    assert!(
        applies_after >= applies_before + 1.0,
        "the create's apply is counted"
    );
    assert_eq!(
        number(sample(
            &scrape,
            "rayan_events_in_total",
            &[("type", "contact_status")]
        )),
        Some(1.0)
    );
    assert_eq!(
        number(sample(
            &scrape,
            "rayan_events_out_total",
            &[("type", "contact_status")]
        )),
        Some(1.0)
    );
    assert_eq!(
        number(sample(&scrape, "rayan_lagged_dropped_events_total", &[])),
        Some(0.0)
    );
    match sample(
        &scrape,
        "rayan_reload_duration_seconds",
        &[("module", "res_pjsip.so")],
    ) {
        Some(PrometheusValue::Histogram(h)) => {
            assert!(h.count >= Some(2), "start-up and create: {h:?}")
        }
        other => panic!("expected a histogram, got {other:?}"),
    }
    d.stop().await;
}

#[tokio::test]
async fn readyz_reports_database_apply_worker_and_asterisk() {
    for backend in [Backend::Postgres, Backend::Sqlite] {
        let d = TestDaemon::start(backend).await;
        let viewer = d.token("viewer").await;
        let ready = d.call(Method::GET, "/readyz", Some(&viewer), None).await;
        assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
        assert_eq!(
            ready.body,
            serde_json::json!({"ready": true, "database": true, "apply_worker": true, "asterisk": "connected", "kamailio": null})
        );
        d.call(Method::GET, "/readyz", None, None)
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, None);
        d.stop().await;
    }
}

#[tokio::test]
async fn readyz_fails_when_the_apply_worker_dies_but_not_when_asterisk_is_down() {
    let d = TestDaemon::start(Backend::Sqlite).await;
    let status = d.daemon.as_ref().expect("running").status.clone();
    let alive = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let probe = alive.clone();
    status.watch_apply_worker(move || probe.load(std::sync::atomic::Ordering::SeqCst));
    status.set_ami(rayan::model::LinkState::Disconnected);

    let ready = d.admin(Method::GET, "/readyz", None).await;
    assert_eq!(
        ready.status,
        StatusCode::OK,
        "Asterisk down is information, not unreadiness"
    );
    assert_eq!(ready.body["asterisk"], "disconnected");
    assert_eq!(ready.body["apply_worker"], true);

    alive.store(false, std::sync::atomic::Ordering::SeqCst);
    let ready = d.admin(Method::GET, "/readyz", None).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.body["ready"], false);
    assert_eq!(ready.body["apply_worker"], false);
    d.stop().await;
}
