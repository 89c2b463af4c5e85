//! Benchmark of campaign expansion (docs/benchmarks.md): how fast a campaign to N
//! customers becomes N stored messages (recipients expanded per second), and how long
//! until all of them are on the SQS queue, for several page sizes.
//!
//! Runs the real app in-process against a fresh database and a fresh LocalStack queue:
//!   ./nudge bench campaign [customers] [page sizes...]
//! Needs Postgres and LocalStack running (./nudge up starts both).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark tool: failing loudly is right"
)]

use std::time::{Duration, Instant};

use chrono::Utc;
use nudge_db::models::Customer;
use nudge_e2e::BenchApp;
use serde_json::{json, Value};

#[tokio::main]
async fn main() {
    let customers: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5_000);
    let page_sizes: Vec<i64> = std::env::args()
        .skip(2)
        .map(|s| s.parse().expect("a page size"))
        .collect();
    let page_sizes = if page_sizes.is_empty() {
        vec![50, 200, 1_000]
    } else {
        page_sizes
    };
    println!("| page size | customers | expanded in s | recipients/s | all on SQS in s |");
    println!("| --- | --- | --- | --- | --- |");
    for page_size in page_sizes {
        run(page_size, customers).await;
    }
}

async fn run(page_size: i64, customers: usize) {
    let app = BenchApp::start(10, page_size).await;
    let (db, base, key, tenant) = (&app.db, app.base.clone(), app.key.clone(), app.tenant);
    let mut conn = db.connect().await;
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        http.post(format!("{base}{path}"))
            .bearer_auth(&key)
            .json(&body)
            .send()
    };
    let shop: Value = post(
        "/v1/shops",
        json!({"name": "Bench", "sender_number": "+15017122661",
               "quiet_hours": {"start": "00:00", "end": "00:00"}}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let shop_id: uuid::Uuid = shop["id"].as_str().unwrap().parse().unwrap();
    // Stored directly, a thousand rows per insert: the benchmark is the expansion.
    let now = Utc::now();
    let rows: Vec<Customer> = (0..customers)
        .map(|n| Customer {
            id: uuid::Uuid::now_v7(),
            tenant_id: tenant.as_uuid(),
            shop_id,
            phone: format!("+1415{n:07}"),
            name: Some(format!("Customer {n}")),
            attributes: json!({"tier": "gold"}),
            created_at: now,
            updated_at: now,
            consent: "opted_in".into(),
            time_zone: None,
        })
        .collect();
    for chunk in rows.chunks(1_000) {
        use diesel_async::RunQueryDsl;
        diesel::insert_into(nudge_db::schema::customers::table)
            .values(chunk)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    post(
        "/v1/templates",
        json!({"name": "promo", "body": "Hi {{customer.name}}, 20% off gold items today"}),
    )
    .await
    .unwrap();

    let started = Instant::now();
    let campaign: Value = post(
        "/v1/campaigns",
        json!({"shop_id": shop_id, "name": "Bench", "template": "promo",
               "segment": {"attributes": {"tier": "gold"}}}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let id = campaign["id"].as_str().unwrap();
    let expanded = loop {
        let now: Value = http
            .get(format!("{base}/v1/campaigns/{id}"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if now["status"] == "expanded" {
            assert_eq!(now["progress"]["queued"], customers, "{now}");
            break started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let drained = loop {
        let left: i64 = nudge_db::outbox::pending(&mut conn).await.unwrap();
        if left == 0 {
            break started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!(
        "| {page_size} | {customers} | {:.2} | {:.0} | {:.2} |",
        expanded.as_secs_f64(),
        customers as f64 / expanded.as_secs_f64(),
        drained.as_secs_f64()
    );
}
