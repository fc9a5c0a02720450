//! Apply pipeline figures against the Asterisk double, on PostgreSQL:
//! - one create on an idle system, request to verified, against the double's reload time;
//! - 1,000 extensions created by 50 concurrent clients: PJSIP reloads in total,
//!   how many verified, p50/p99 request latency; once with clients that wait
//!   for their outcome, once with `Prefer: respond-async` (a bulk import);
//! - 10,000 extensions in one `POST /api/v1/extensions/bulk`: committed, then verified.
//!
//! Clients that wait for their outcome have at most one write each in any
//! apply, so 50 of them need at least 1,000 / 50 = 20 applies; the figure to
//! look at there is how close the worker comes to that floor.
//!
//! The double's reload takes as long as a real Asterisk 22's at that size
//! (3.3 ms for 10 endpoints, 165 ms for 1,000; see the recorded timings).

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::daemon::TestDaemon;
use support::db::Backend;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

async fn create(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    number: String,
) -> (Duration, String) {
    create_with(http, url, token, number, None).await
}

async fn create_with(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    number: String,
    prefer: Option<&'static str>,
) -> (Duration, String) {
    let clock = Instant::now();
    let mut request = http
        .post(format!("{url}/api/v1/extensions"))
        .bearer_auth(token)
        .json(&json!({"extension": number, "password": "Bench-pass-1"}));
    if let Some(prefer) = prefer {
        request = request.header("prefer", prefer);
    }
    let resp = request.send().await.expect("request");
    let body: Value = resp.json().await.expect("json");
    (
        clock.elapsed(),
        body["apply"]["status"].as_str().unwrap_or("?").to_owned(),
    )
}

async fn idle_create() {
    let d = TestDaemon::start(Backend::Postgres).await;
    let asterisk = d.asterisk.as_ref().expect("double");
    let reload = Duration::from_micros(3_300);
    asterisk.set_reload_duration(reload);
    let http = reqwest::Client::new();
    let mut samples = Vec::new();
    for i in 0..30 {
        // Idle: nothing happened within the debounce window before this create.
        tokio::time::sleep(Duration::from_millis(150)).await;
        let (took, status) = create(&http, &d.url, &d.admin_token, format!("5{i:03}")).await;
        assert_eq!(status, "verified");
        samples.push(took);
    }
    samples.sort();
    let p50 = percentile(&samples, 0.5);
    println!("idle create → verified (30 creates, 150 ms apart):");
    println!(
        "  p50 {:.1} ms, p99 {:.1} ms; double's reload {:.1} ms; p50 beyond the reload {:.1} ms",
        ms(p50),
        ms(percentile(&samples, 0.99)),
        ms(reload),
        ms(p50) - ms(reload)
    );
    d.stop().await;
}

/// Extension names verified by any apply so far.
async fn verified_extensions(http: &reqwest::Client, url: &str, token: &str) -> HashSet<String> {
    let mut names = HashSet::new();
    let mut offset = 0;
    loop {
        let page: Value = http
            .get(format!("{url}/api/v1/applies?limit=100&offset={offset}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("applies")
            .json()
            .await
            .expect("json");
        let items = page["items"].as_array().cloned().unwrap_or_default();
        for apply in &items {
            for object in apply["objects"].as_array().into_iter().flatten() {
                if object["kind"] == "extension" && object["status"] == "verified" {
                    names.insert(object["name"].as_str().unwrap_or_default().to_owned());
                }
            }
        }
        offset += items.len();
        if items.is_empty() || offset as u64 >= page["total"].as_u64().unwrap_or(0) {
            return names;
        }
    }
}

async fn burst(prefer: Option<&'static str>) {
    let d = TestDaemon::start(Backend::Postgres).await;
    let asterisk = d.asterisk.as_ref().expect("double");
    asterisk.set_reload_duration(Duration::from_millis(165));
    let before = asterisk.reload_count("res_pjsip.so");
    let clock = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..50 {
        let url = d.url.clone();
        let token = d.admin_token.clone();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut out = Vec::new();
            for i in 0..20 {
                out.push(
                    create_with(&http, &url, &token, format!("6{client:02}{i:02}"), prefer).await,
                );
            }
            out
        }));
    }
    let mut samples = Vec::new();
    let mut answered_verified = 0;
    for task in tasks {
        for (took, status) in task.await.expect("client") {
            samples.push(took);
            answered_verified += usize::from(status == "verified");
        }
    }
    let answered = clock.elapsed();
    let http = reqwest::Client::new();
    let mut verified = verified_extensions(&http, &d.url, &d.admin_token).await;
    while verified.len() < 1000 && clock.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        verified = verified_extensions(&http, &d.url, &d.admin_token).await;
    }
    let total = clock.elapsed();
    samples.sort();
    let reloads = asterisk.reload_count("res_pjsip.so") - before;
    match prefer {
        None => println!(
            "1,000 creates from 50 concurrent clients that wait for their outcome (double reload 165 ms, as Asterisk at 1,000 endpoints):"
        ),
        Some(p) => println!(
            "1,000 creates from 50 concurrent clients with `Prefer: {p}` (double reload 165 ms):"
        ),
    }
    println!(
        "  PJSIP reloads {reloads}, verified {}/1000 (answered verified {answered_verified}), last answer {:.2} s, all verified {:.2} s, latency p50 {:.1} ms, p99 {:.1} ms",
        verified.len(),
        answered.as_secs_f64(),
        total.as_secs_f64(),
        ms(percentile(&samples, 0.5)),
        ms(percentile(&samples, 0.99))
    );
    d.stop().await;
}

/// `POST /api/v1/extensions/bulk` with 10,000 rows: how long until committed
/// (answered with `Prefer: respond-async`), and until the following apply has
/// verified every one. The double reloads like Asterisk at 10,000 endpoints.
async fn bulk() {
    let d = TestDaemon::start(Backend::Postgres).await;
    let asterisk = d.asterisk.as_ref().expect("double");
    asterisk.set_reload_duration(Duration::from_millis(4_350));
    let before = asterisk.reload_count("res_pjsip.so");
    let rows: Vec<Value> = (0..10_000)
        .map(|i| serde_json::json!({"extension": format!("{}", 100_000 + i), "password": "Bench-pass-1"}))
        .collect();
    let http = reqwest::Client::new();
    let clock = Instant::now();
    let response = http
        .post(format!("{}/api/v1/extensions/bulk", d.url))
        .bearer_auth(&d.admin_token)
        .header("prefer", "respond-async")
        .json(&rows)
        .send()
        .await
        .expect("bulk");
    let status = response.status();
    let _: Value = response.json().await.expect("answer");
    let committed = clock.elapsed();
    while asterisk.endpoints().len() < 10_000 && clock.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut verified = verified_extensions(&http, &d.url, &d.admin_token).await;
    while verified.len() < 10_000 && clock.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        verified = verified_extensions(&http, &d.url, &d.admin_token).await;
    }
    println!(
        "bulk create of 10,000 extensions (one request, PostgreSQL; double reload 4.35 s, as Asterisk at 10,000 (transcript i2)):"
    );
    println!(
        "  answered {status} after {:.2} s (committed), all verified {:.2} s, PJSIP reloads {}, verified {}/10000",
        committed.as_secs_f64(),
        clock.elapsed().as_secs_f64(),
        asterisk.reload_count("res_pjsip.so") - before,
        verified.len()
    );
    d.stop().await;
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        idle_create().await;
        burst(None).await;
        burst(Some("respond-async")).await;
        bulk().await;
    });
}
