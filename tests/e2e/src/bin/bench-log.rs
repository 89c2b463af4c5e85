//! Benchmark of the message log (docs/benchmarks.md, issue 23): `GET /v1/messages` with
//! millions of messages in the table, a page at a time, with each documented filter.
//!
//! The app runs in-process (release build) against a fresh database. The messages are
//! written by one `INSERT ... SELECT` (ids UUIDv7-shaped and in time order, as the API
//! makes them): one tenant holds them all, over 30 days, in 4 shops, 10 campaigns
//! (half of the messages), 200,000 recipients, and the statuses of a real log (mostly
//! delivered, a few failed). Each case is asked `REQUESTS` times, one request at a
//! time, with a random value of its filter; a second pass follows the `next` cursor
//! from a random point.
//!
//!   ./nudge bench log [messages]      # default 5,000,000

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark tool: failing loudly is right"
)]

use nudge_e2e::bench::percentile_ms;
use std::time::Instant;

use diesel_async::RunQueryDsl;
use nudge_e2e::BenchApp;
use serde_json::{json, Value};

const REQUESTS: usize = 200;
const SHOPS: usize = 4;
const CAMPAIGNS: usize = 10;
const RECIPIENTS: u64 = 200_000;
const DAYS: i64 = 30;

/// Makes a case's query string, with a new random value each time.
type QueryMaker<'a> = Box<dyn Fn() -> String + 'a>;

#[tokio::main]
async fn main() {
    let messages: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5_000_000);
    let app = BenchApp::start(8, 200).await;
    let http = reqwest::Client::new();
    let get = |path: String| {
        let request = http
            .get(format!("{}{path}", app.base))
            .bearer_auth(&app.key);
        async move {
            let started = Instant::now();
            let answer = request.send().await.unwrap();
            assert_eq!(answer.status(), 200, "{path}");
            let body: Value = answer.json().await.unwrap();
            (started.elapsed(), body)
        }
    };
    let post = |path: &str, body: Value| {
        http.post(format!("{}{path}", app.base))
            .bearer_auth(&app.key)
            .json(&body)
            .send()
    };

    let mut shops = Vec::new();
    for n in 0..SHOPS {
        let shop: Value = post(
            "/v1/shops",
            json!({"name": format!("Shop {n}"), "sender_number": nudge_e2e::SHOP_NUMBER}),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        shops.push(shop["id"].as_str().unwrap().to_owned());
    }
    post(
        "/v1/templates",
        json!({"name": "promo", "body": "Hi, 20% off today", "category": "marketing"}),
    )
    .await
    .unwrap();
    let mut campaigns = Vec::new();
    for n in 0..CAMPAIGNS {
        // No one in the segment: the campaign row exists, its messages are seeded below.
        let campaign: Value = post(
            "/v1/campaigns",
            json!({"shop_id": shops[n % SHOPS], "name": format!("Campaign {n}"), "template": "promo",
                   "segment": {"attributes": {"nobody": "here"}}}),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        campaigns.push(campaign["id"].as_str().unwrap().to_owned());
    }

    let seeding = Instant::now();
    seed(&app, messages, &shops, &campaigns).await;
    println!(
        "{messages} messages stored and analysed in {:.0} s\n",
        seeding.elapsed().as_secs_f64()
    );

    let now = chrono::Utc::now();
    let random = |n: u64| uuid::Uuid::new_v4().as_u128() as u64 % n;
    let cases: Vec<(&str, QueryMaker)> = vec![
        ("no filter", Box::new(String::new)),
        (
            "shop_id",
            Box::new(|| format!("shop_id={}", shops[random(SHOPS as u64) as usize])),
        ),
        (
            "campaign_id",
            Box::new(|| {
                format!(
                    "campaign_id={}",
                    campaigns[random(CAMPAIGNS as u64) as usize]
                )
            }),
        ),
        (
            "status (failed: 1%)",
            Box::new(|| "status=failed".to_owned()),
        ),
        (
            "status (queued: 0.1%)",
            Box::new(|| "status=queued".to_owned()),
        ),
        (
            "to (a recipient)",
            Box::new(|| format!("to=%2B1628{:07}", random(RECIPIENTS))),
        ),
        (
            "since (a random day)",
            Box::new(move || {
                let since = now - chrono::Duration::hours(random(DAYS as u64 * 24) as i64);
                format!("since={}", urlencode(&since.to_rfc3339()))
            }),
        ),
        (
            "until (a random day)",
            Box::new(move || {
                let until = now - chrono::Duration::hours(random(DAYS as u64 * 24) as i64);
                format!("until={}", urlencode(&until.to_rfc3339()))
            }),
        ),
        (
            "since + until (one hour)",
            Box::new(move || {
                let since = now - chrono::Duration::hours(1 + random(DAYS as u64 * 24) as i64);
                let until = since + chrono::Duration::hours(1);
                format!(
                    "since={}&until={}",
                    urlencode(&since.to_rfc3339()),
                    urlencode(&until.to_rfc3339())
                )
            }),
        ),
        (
            "status=failed + shop_id",
            Box::new(|| {
                format!(
                    "status=failed&shop_id={}",
                    shops[random(SHOPS as u64) as usize]
                )
            }),
        ),
    ];
    println!("| filter | first page p50 ms | p99 ms | next page p50 ms | p99 ms | rows per page |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (name, query) in &cases {
        let mut first = Vec::with_capacity(REQUESTS);
        let mut next = Vec::with_capacity(REQUESTS);
        let mut rows = 0;
        for _ in 0..REQUESTS {
            let (took, body) = get(format!("/v1/messages?limit=50&{}", query())).await;
            first.push(took);
            rows += body["data"].as_array().map_or(0, Vec::len);
            if let Some(cursor) = body["next_cursor"].as_str() {
                let (took, _) =
                    get(format!("/v1/messages?limit=50&{}&cursor={cursor}", query())).await;
                next.push(took);
            }
        }
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
            percentile_ms(&mut first, 0.50),
            percentile_ms(&mut first, 0.99),
            percentile_ms(&mut next, 0.50),
            percentile_ms(&mut next, 0.99),
            rows / REQUESTS
        );
    }
}

/// One statement on the server: ids UUIDv7-shaped (the time in the first 48 bits, so
/// that they sort as the API's do), then `ANALYZE` as autovacuum would.
async fn seed(app: &BenchApp, messages: u64, shops: &[String], campaigns: &[String]) {
    let mut conn = app.db.connect().await;
    let shops = shops
        .iter()
        .map(|s| format!("'{s}'::uuid"))
        .collect::<Vec<_>>()
        .join(",");
    let campaigns = campaigns
        .iter()
        .map(|s| format!("'{s}'::uuid"))
        .collect::<Vec<_>>()
        .join(",");
    let span_ms = DAYS * 24 * 3600 * 1000;
    let sql = format!(
        "INSERT INTO messages (id, tenant_id, shop_id, to_number, from_number, body, segments,
                               encoding, status, created_at, updated_at, category, campaign_id, origin)
         SELECT (lpad(to_hex(ms), 12, '0') || '7' || lpad(to_hex(n % 4096), 3, '0')
                 || '8' || lpad(to_hex(n), 15, '0'))::uuid,
                '{tenant}', (ARRAY[{shops}])[1 + n % {SHOPS}],
                '+1628' || lpad((n * 7919 % {RECIPIENTS})::text, 7, '0'), '{from}',
                'Hi, your order is on its way', 1, 'gsm7',
                CASE WHEN n % 1000 = 7 THEN 'queued' WHEN n % 100 = 3 THEN 'failed'
                     WHEN n % 20 = 1 THEN 'sent' ELSE 'delivered' END,
                to_timestamp(ms / 1000.0), to_timestamp(ms / 1000.0),
                CASE WHEN n % 2 = 0 THEN 'marketing' ELSE 'transactional' END,
                CASE WHEN n % 2 = 0 THEN (ARRAY[{campaigns}])[1 + (n / 2) % {CAMPAIGNS}] END,
                CASE WHEN n % 2 = 0 THEN 'campaign' ELSE 'api' END
           FROM (SELECT n, (extract(epoch from now()) * 1000)::bigint - {span_ms}
                           + n * {span_ms} / {messages} AS ms
                   FROM generate_series(1::bigint, {messages}) AS n) AS g",
        tenant = app.tenant,
        from = nudge_e2e::SHOP_NUMBER,
    );
    diesel::sql_query(sql).execute(&mut conn).await.unwrap();
    diesel::sql_query("ANALYZE messages")
        .execute(&mut conn)
        .await
        .unwrap();
}

fn urlencode(value: &str) -> String {
    value.replace('+', "%2B").replace(':', "%3A")
}
