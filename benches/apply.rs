//! Apply pipeline figures against the Asterisk double, on PostgreSQL:
//! - one create on an idle system, request to verified, against the double's reload time;
//! - 1,000 extensions created by 50 concurrent clients: PJSIP reloads in total,
//!   how many verified, p50/p99 request latency.
//!
//! The double's reload takes as long as a real Asterisk 22's at that size
//! (3.3 ms for 10 endpoints, 165 ms for 1,000; see the recorded timings).

#[path = "../tests/support/mod.rs"]
#[allow(dead_code, unused_imports)]
mod support;

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

async fn create(http: &reqwest::Client, url: &str, token: &str, number: String) -> (Duration, String) {
    let clock = Instant::now();
    let resp = http
        .post(format!("{url}/api/v1/extensions"))
        .bearer_auth(token)
        .json(&json!({"extension": number, "password": "Bench-pass-1"}))
        .send()
        .await
        .expect("request");
    let body: Value = resp.json().await.expect("json");
    (clock.elapsed(), body["apply"]["status"].as_str().unwrap_or("?").to_owned())
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

async fn burst() {
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
                out.push(create(&http, &url, &token, format!("6{client:02}{i:02}")).await);
            }
            out
        }));
    }
    let mut samples = Vec::new();
    let mut verified = 0;
    for task in tasks {
        for (took, status) in task.await.expect("client") {
            samples.push(took);
            verified += usize::from(status == "verified");
        }
    }
    let total = clock.elapsed();
    samples.sort();
    let reloads = asterisk.reload_count("res_pjsip.so") - before;
    println!("1,000 creates from 50 concurrent clients (double reload 165 ms, as Asterisk at 1,000 endpoints):");
    println!(
        "  PJSIP reloads {reloads}, verified {verified}/1000, total {:.2} s, latency p50 {:.0} ms, p99 {:.0} ms",
        total.as_secs_f64(),
        ms(percentile(&samples, 0.5)),
        ms(percentile(&samples, 0.99))
    );
    d.stop().await;
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        idle_create().await;
        burst().await;
    });
}
