//! Benchmark of `webhook-listener` (docs/benchmarks.md): signed status callbacks per
//! second, and their latency, at a fixed concurrency:
//!
//! 1. new callbacks: each one a new (sid, status), so each is verified, stored, applied
//!    to its message and added to its timeline;
//! 2. repeats of those same callbacks: verified, recognised by the unique index, ignored;
//! 3. refused: a wrong signature, answered 403 before the database is touched;
//! 4. inbound SMS: each from a new customer, stored with its customer and conversation
//!    and queued on inbound-sms (the webhook's answer);
//! 5. inbound processing: until the shop's bot has answered every one of them (its
//!    reply queued on outbound-sms), from the first webhook on.
//!
//! Runs the real listener in-process against a fresh database:
//!   cargo build --release -p nudge-e2e --bin bench-listener
//!   ~/.cache/nudge/target/release/bench-listener [messages, default 2000]
//! Needs Postgres and LocalStack running (`localstack/host.sh start`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark tool: failing loudly is right"
)]

use nudge_e2e::bench::percentile_ms;
use std::sync::Arc;
use std::time::Instant;

use nudge_db::messages::{Claim, Lease};
use tokio::sync::Mutex;

const CONCURRENCY: usize = 16;
const TOKEN: &str = "bench-token";
const PUBLIC_BASE: &str = "https://hooks.example.com";

#[tokio::main]
async fn main() {
    let messages: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000);
    let db = nudge_testkit::TestDb::new().await;
    let sids = sent_messages(&db, messages).await;
    let queues = (
        nudge_testkit::TestQueue::new("bench-inbound", 5).await,
        nudge_testkit::TestQueue::new("bench-outbound", 5).await,
    );
    let config = webhook_listener::Config {
        database_pool_size: CONCURRENCY,
        http_host: "127.0.0.1".into(),
        http_port: 0,
        inbound_sms_queue: queues.0.url.clone(),
        outbound_sms_queue: queues.1.url.clone(),
        ..webhook_listener::Config::new(&db.url, PUBLIC_BASE, TOKEN)
    };
    let app = webhook_listener::Application::build(config, &nudge_testkit::localstack_config())
        .await
        .unwrap();
    let address = format!("http://127.0.0.1:{}/twilio/status", app.port());
    tokio::spawn(app.run_until_stopped());

    let callbacks: Vec<Post> = sids
        .iter()
        .flat_map(|sid| {
            [
                Post::Status(sid.clone(), "sent"),
                Post::Status(sid.clone(), "delivered"),
            ]
        })
        .collect();
    let callbacks = Arc::new(callbacks);
    println!("| phase | callbacks | per second | p50 ms | p99 ms | unexpected answers |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (phase, signed, expected) in [
        ("new callbacks (stored, applied)", true, 200),
        ("the same again (repeats, ignored)", true, 200),
        ("wrong signature (refused)", false, 403),
    ] {
        run(phase, &address, callbacks.clone(), signed, expected).await;
    }

    // Customers text the shop; the bot answers each.
    bot_rule(&db).await;
    let inbound: Vec<Post> = (0..messages)
        .map(|i| Post::Inbound(format!("SM{:032x}", 1_000_000 + i), format!("+1628{i:07}")))
        .collect();
    let inbound_address = address.replace("/twilio/status", "/twilio/inbound");
    let started = Instant::now();
    run(
        "inbound SMS (stored, queued)",
        &inbound_address,
        Arc::new(inbound),
        true,
        200,
    )
    .await;
    let mut conn = db.connect().await;
    loop {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        use nudge_db::schema::inbound_messages as i;
        let done: i64 = i::table
            .filter(i::processed_at.is_not_null())
            .count()
            .get_result(&mut conn)
            .await
            .unwrap();
        if done as usize >= messages {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed();
    println!(
        "| inbound processing (bot answer queued), from the first webhook | {messages} | {:.0} | | | |",
        messages as f64 / elapsed.as_secs_f64()
    );
}

/// One webhook the benchmark posts.
enum Post {
    /// A status callback: the message's sid and the status.
    Status(String, &'static str),
    /// An inbound SMS: its sid and the customer's number.
    Inbound(String, String),
}

impl Post {
    fn form(&self) -> (String, Vec<(String, String)>, String) {
        match self {
            Post::Status(sid, status) => (
                format!("{PUBLIC_BASE}/twilio/status"),
                nudge_testkit::twilio_status_callback(sid, status),
                format!("{sid}-{status}"),
            ),
            Post::Inbound(sid, from) => (
                format!("{PUBLIC_BASE}/twilio/inbound"),
                [
                    ("Body", "hi, where is my order?"),
                    ("From", from.as_str()),
                    ("MessageSid", sid.as_str()),
                    ("NumMedia", "0"),
                    ("To", "+15017122661"),
                ]
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
                sid.clone(),
            ),
        }
    }
}

/// The bench shop's bot: one intent, a static answer.
async fn bot_rule(db: &nudge_testkit::TestDb) {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    let mut conn = db.connect().await;
    let (tenant, shop): (uuid::Uuid, uuid::Uuid) = nudge_db::schema::shops::table
        .select((
            nudge_db::schema::shops::tenant_id,
            nudge_db::schema::shops::id,
        ))
        .first(&mut conn)
        .await
        .unwrap();
    nudge_db::bot_rules::insert(
        &mut conn,
        &nudge_db::models::BotRule {
            id: uuid::Uuid::now_v7(),
            tenant_id: tenant,
            shop_id: shop,
            name: "order_status".into(),
            keywords: serde_json::json!([]),
            examples: serde_json::json!(["where is my order"]),
            reply: Some("Track it at xyz.example/track".into()),
            fulfilment_url: None,
            fulfilment_secret: None,
            priority: 100,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        },
    )
    .await
    .unwrap();
}

/// `count` messages handed to the provider, the way the sender leaves them; their sids.
async fn sent_messages(db: &nudge_testkit::TestDb, count: usize) -> Vec<String> {
    let mut conn = db.connect().await;
    let (tenant, shop) = nudge_testkit::tenant_with_shop(&mut conn, "bench").await;
    let lease = Lease {
        worker: "bench",
        duration: chrono::Duration::seconds(60),
    };
    let mut sids = Vec::with_capacity(count);
    for i in 0..count {
        let (message, outbox, envelope) = nudge_testkit::queued_message(
            tenant,
            shop,
            &format!("+1415{i:07}"),
            "Your order shipped",
            "bench",
        );
        nudge_db::messages::insert_accepted(&mut conn, &message, &outbox)
            .await
            .unwrap();
        let Claim::Claimed(claimed) =
            nudge_db::messages::claim(&mut conn, tenant, envelope.payload.message_id, &lease)
                .await
                .unwrap()
        else {
            panic!("not claimable");
        };
        let sid = format!("SM{:032x}", i);
        nudge_db::messages::record_sent(&mut conn, &claimed, &sid, None, serde_json::json!({}))
            .await
            .unwrap();
        sids.push(sid);
    }
    sids
}

/// Posts every callback once, `CONCURRENCY` at a time, and prints a row.
async fn run(phase: &str, address: &str, callbacks: Arc<Vec<Post>>, signed: bool, expected: u16) {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .unwrap();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let results = Arc::new(Mutex::new((Vec::new(), 0usize)));
    let started = Instant::now();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (http, callbacks, next, results) = (
                http.clone(),
                callbacks.clone(),
                next.clone(),
                results.clone(),
            );
            let address = address.to_owned();
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(post) = callbacks.get(i) else {
                        break;
                    };
                    let (url, params, idempotency) = post.form();
                    let token = if signed { TOKEN } else { "not-the-token" };
                    let signature = nudge_domain::twilio_signature::sign(token, &url, &params);
                    let sent_at = Instant::now();
                    let answer = http
                        .post(&address)
                        .header("X-Twilio-Signature", signature)
                        .header("I-Twilio-Idempotency-Token", idempotency)
                        .form(&params)
                        .send()
                        .await
                        .map(|r| r.status().as_u16());
                    let took = sent_at.elapsed();
                    let mut results = results.lock().await;
                    results.0.push(took);
                    if answer.ok() != Some(expected) {
                        results.1 += 1;
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    let elapsed = started.elapsed();
    let (mut latencies, unexpected) = Arc::try_unwrap(results).unwrap().into_inner();
    println!(
        "| {phase} | {} | {:.0} | {:.1} | {:.1} | {unexpected} |",
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile_ms(&mut latencies, 0.50),
        percentile_ms(&mut latencies, 0.99),
    );
}
