//! Benchmark of `POST /v1/messages` (docs/benchmarks.md):
//!
//! 1. open loop at fixed rates: requests start on a schedule whatever the answers, so
//!    latency is measured without coordinated omission; p50 / p99 and accepted/s;
//! 2. closed loop at a fixed concurrency: the most the API accepts per second;
//! 3. the same work without the API, in the same run: one transaction inserting the
//!    message, its first event and its outbox row, at the same concurrency.
//!
//! Runs the real app in-process against a fresh database and a fresh LocalStack queue:
//!   cargo run --release -p nudge-e2e --bin bench-send -- [seconds per phase]
//! Needs Postgres and LocalStack running (./nudge up starts both).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark tool: failing loudly is right"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use nudge_db::models::{Message, OutboxRow};
use nudge_domain::{ShopId, TenantId};
use nudge_e2e::BenchApp;
use nudge_testkit::TestDb;
use serde_json::{json, Value};
use tokio::sync::Mutex;

const CONCURRENCY: usize = 16;

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let phase = Duration::from_secs(seconds);
    let app = BenchApp::start(20, 200).await;
    let (db, base, key, tenant) = (&app.db, app.base.clone(), app.key.clone(), app.tenant);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let shop: Value = http
        .post(format!("{base}/v1/shops"))
        .bearer_auth(&key)
        .json(&json!({"name": "Bench", "sender_number": "+15017122661", "quiet_hours": {"start": "00:00", "end": "00:00"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let body = json!({"shop_id": shop["id"], "to": "+14155550100", "body": "Your order #1001 has shipped", "category": "transactional"});
    let send = Arc::new((http, base, key, body));

    println!("| phase | offered | accepted/s | p50 ms | p99 ms | errors |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for rate in [100u64, 300] {
        let (accepted, latencies, errors) = open_loop(send.clone(), rate, phase).await;
        print_row(
            &format!("API, open loop {rate}/s"),
            &format!("{rate}/s"),
            accepted,
            phase,
            latencies,
            errors,
        );
    }
    let (accepted, latencies, errors) = closed_loop(send.clone(), phase).await;
    print_row(
        &format!("API, {CONCURRENCY} in flight"),
        "as fast as answered",
        accepted,
        phase,
        latencies,
        errors,
    );
    let (accepted, latencies) = raw_inserts(
        db,
        tenant,
        shop["id"].as_str().unwrap().parse().unwrap(),
        phase,
    )
    .await;
    print_row(
        &format!("no API: insert tx + outbox, {CONCURRENCY} in flight"),
        "as fast as answered",
        accepted,
        phase,
        latencies,
        0,
    );
}

async fn post(send: &(reqwest::Client, String, String, Value)) -> Result<Duration, ()> {
    let (http, base, key, body) = send;
    let started = Instant::now();
    let response = http
        .post(format!("{base}/v1/messages"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .map_err(|_| ())?;
    if response.status() == 202 {
        Ok(started.elapsed())
    } else {
        Err(())
    }
}

/// Starts `rate` requests per second on schedule for `phase`; latency counts from the
/// scheduled start, so a stall shows up in the percentiles.
async fn open_loop(
    send: Arc<(reqwest::Client, String, String, Value)>,
    rate: u64,
    phase: Duration,
) -> (usize, Vec<Duration>, usize) {
    let results = Arc::new(Mutex::new((Vec::new(), 0usize)));
    let interval = Duration::from_nanos(1_000_000_000 / rate);
    let start = Instant::now();
    let mut tasks = Vec::new();
    let mut n = 0u32;
    while start.elapsed() < phase {
        let scheduled = start + interval * n;
        tokio::time::sleep_until(scheduled.into()).await;
        let (send, results) = (send.clone(), results.clone());
        tasks.push(tokio::spawn(async move {
            let outcome = post(&send).await;
            let mut results = results.lock().await;
            match outcome {
                Ok(_) => results.0.push(scheduled.elapsed()),
                Err(()) => results.1 += 1,
            }
        }));
        n += 1;
    }
    for task in tasks {
        task.await.unwrap();
    }
    let (latencies, errors) = Arc::try_unwrap(results).unwrap().into_inner();
    (latencies.len(), latencies, errors)
}

async fn closed_loop(
    send: Arc<(reqwest::Client, String, String, Value)>,
    phase: Duration,
) -> (usize, Vec<Duration>, usize) {
    let start = Instant::now();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let send = send.clone();
            tokio::spawn(async move {
                let (mut latencies, mut errors) = (Vec::new(), 0);
                while start.elapsed() < phase {
                    match post(&send).await {
                        Ok(latency) => latencies.push(latency),
                        Err(()) => errors += 1,
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let (mut all, mut errors) = (Vec::new(), 0);
    for worker in workers {
        let (latencies, failed) = worker.await.unwrap();
        all.extend(latencies);
        errors += failed;
    }
    (all.len(), all, errors)
}

/// The database work of one accepted message, without HTTP, validation or rendering.
async fn raw_inserts(
    db: &TestDb,
    tenant: TenantId,
    shop: ShopId,
    phase: Duration,
) -> (usize, Vec<Duration>) {
    let pool = nudge_db::build_pool(&db.url, CONCURRENCY).unwrap();
    let start = Instant::now();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while start.elapsed() < phase {
                    let (message, outbox) = rows(tenant, shop);
                    let started = Instant::now();
                    let mut conn = pool.get().await.unwrap();
                    nudge_db::messages::insert_accepted(&mut conn, &message, &outbox)
                        .await
                        .unwrap();
                    latencies.push(started.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.unwrap());
    }
    (all.len(), all)
}

fn rows(tenant: TenantId, shop: ShopId) -> (Message, OutboxRow) {
    // A queue no relay drains, so that the raw phase measures only the inserts.
    let (message, outbox, _) = nudge_testkit::queued_message(
        tenant,
        shop,
        "+14155550100",
        "Your order #1001 has shipped",
        "bench-raw",
    );
    (message, outbox)
}

fn print_row(
    phase_name: &str,
    offered: &str,
    accepted: usize,
    phase: Duration,
    mut latencies: Vec<Duration>,
    errors: usize,
) {
    latencies.sort();
    let percentile = |p: f64| {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let index = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies[index].as_secs_f64() * 1000.0
    };
    println!(
        "| {phase_name} | {offered} | {:.0} | {:.1} | {:.1} | {errors} |",
        accepted as f64 / phase.as_secs_f64(),
        percentile(0.50),
        percentile(0.99),
    );
}
