//! Benchmark of the send pipeline (docs/benchmarks.md): API -> outbox -> SQS ->
//! `sms-sender` -> provider (`provider-sandbox`), with real processes.
//!
//! 1. raw SQS: the same number of messages through a queue with nothing but receive and
//!    delete, by 1 and 3 consumers running the sender's own receive loop
//!    (`nudge_queue::consumer`, as many in flight as the sender's `SENDER_CONCURRENCY`,
//!    one delete each) with nothing to do per message: the ceiling the sender is
//!    compared with;
//! 2. drain: N messages accepted while no sender runs, then 1 (then 3) senders start;
//!    messages sent per second until the last is `sent`;
//! 3. latency: one sender running, messages accepted at a steady rate; from the API's
//!    acceptance to the provider's answer being recorded, p50 / p99;
//! 4. memory: the sender's resident set idle (started, queue empty) and its peak.
//!
//!   cargo build --release --workspace --bins
//!   ~/.cache/nudge/target/release/bench-pipeline [messages, default 3000]
//! Needs Postgres and LocalStack running (./nudge up starts both).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark tool: failing loudly is right"
)]

use nudge_e2e::bench::nearest_rank;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nudge_e2e::{free_port, sender_env, start_sandbox, BenchApp, Service};
use nudge_queue::{OutgoingMessage, SqsQueue};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Messages a sender processes at once: `SENDER_CONCURRENCY` from the environment (which
/// the senders started here inherit), else the sender's default. The raw consumers
/// hold as many in flight, so that both are shaped alike.
fn sender_concurrency() -> usize {
    std::env::var("SENDER_CONCURRENCY")
        .ok()
        .and_then(|raw| raw.parse().ok())
        .unwrap_or(30)
}
/// Messages per `POST /v1/messages/batch`.
const BATCH: usize = 500;

#[tokio::main]
async fn main() {
    let messages: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3_000);
    let logs = std::env::temp_dir().join(format!("nudge-bench-pipeline-{}", std::process::id()));
    std::fs::create_dir_all(&logs).unwrap();
    let sandbox_port = free_port();
    let _sandbox = start_sandbox(sandbox_port, &logs);

    println!("| phase | messages | messages/s | vs raw SQS |");
    println!("| --- | --- | --- | --- |");
    let mut raw_rates = Vec::new();
    for consumers in [1usize, 3] {
        let rate = raw_sqs(messages, consumers).await;
        raw_rates.push(rate);
        println!(
            "| raw SQS receive + delete, {consumers} consumer(s) | {messages} | {rate:.0} | 100% |"
        );
    }
    let mut peaks = Vec::new();
    for (senders, raw) in [1usize, 3].into_iter().zip(&raw_rates) {
        let (rate, peak) = drain(messages, senders, sandbox_port, &logs).await;
        peaks.extend(peak);
        println!(
            "| pipeline drain, {senders} sender(s) | {messages} | {rate:.0} | {:.0}% |",
            100.0 * rate / raw
        );
    }
    println!();
    let rate = 50;
    let (p50, p99, count, idle, loaded) =
        latency(rate, Duration::from_secs(20), sandbox_port, &logs).await;
    println!("| accept -> provider, 1 sender | offered | messages | p50 ms | p99 ms |");
    println!("| --- | --- | --- | --- | --- |");
    println!("| steady load | {rate}/s | {count} | {p50:.1} | {p99:.1} |");
    println!();
    println!("| sender resident memory | MiB |");
    println!("| --- | --- |");
    println!(
        "| idle (started, empty queue; heap / mapped binary) | {:.1} ({:.1} / {:.1}) |",
        kib_to_mib(idle.rss),
        kib_to_mib(idle.anon),
        kib_to_mib(idle.file)
    );
    println!(
        "| after the steady load (peak) | {:.1} |",
        kib_to_mib(loaded)
    );
    let drains: Vec<String> = peaks
        .iter()
        .map(|p| format!("{:.1}", kib_to_mib(*p)))
        .collect();
    println!("| peak of each drain's senders | {} |", drains.join(", "));
}

fn kib_to_mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// `n` messages through a fresh queue with only receive and delete; messages/s.
async fn raw_sqs(n: usize, consumers: usize) -> f64 {
    let test_queue = nudge_testkit::TestQueue::new("bench-raw", 5).await;
    let queue = SqsQueue::new(nudge_testkit::sqs_client(), &test_queue.url);
    let bodies: Vec<OutgoingMessage> = (0..n).map(like_the_relays).collect();
    let producers = Arc::new(Semaphore::new(8));
    let mut sends = Vec::new();
    for chunk in bodies.chunks(10) {
        let (queue, chunk, permit) = (
            queue.clone(),
            chunk.to_vec(),
            producers.clone().acquire_owned().await.unwrap(),
        );
        sends.push(tokio::spawn(async move {
            let failed = queue.send_batch(&chunk).await.unwrap();
            assert!(failed.is_empty(), "{failed:?}");
            drop(permit);
        }));
    }
    for send in sends {
        send.await.unwrap();
    }
    let count = Arc::new(Count {
        n,
        seen: AtomicUsize::new(0),
        done: CancellationToken::new(),
        finished: std::sync::OnceLock::new(),
    });
    let started = Instant::now();
    let consumers: Vec<_> = (0..consumers)
        .map(|_| {
            tokio::spawn(nudge_queue::consumer::run(
                count.clone(),
                queue.clone(),
                sender_concurrency(),
                count.done.clone(),
            ))
        })
        .collect();
    count.done.cancelled().await;
    let finished = *count.finished.get().unwrap();
    // Their last long polls would wait out the 20 s on the empty queue.
    for consumer in consumers {
        consumer.abort();
    }
    n as f64 / (finished - started).as_secs_f64()
}

/// A queue message as the outbox relay sends one: an `outbound-sms` envelope for a
/// message, with the request's trace context as a message attribute. LocalStack's work
/// per message grows with its attributes (it hashes them at each send and receive), so
/// the ceiling is measured with the same messages the pipeline carries.
fn like_the_relays(i: usize) -> OutgoingMessage {
    let (_, _, envelope) = nudge_testkit::queued_message(
        nudge_domain::TenantId::new(),
        nudge_domain::ShopId::new(),
        &format!("+1415{i:07}"),
        "",
        "outbound-sms",
    );
    let trace = uuid::Uuid::new_v4().simple().to_string();
    OutgoingMessage {
        entry_id: (i % 10).to_string(),
        body: envelope.to_json().unwrap(),
        traceparent: Some(format!("00-{trace}-{}-01", &trace[..16])),
    }
}

/// The raw consumers' work: none. They run the sender's own receive loop
/// (`nudge_queue::consumer`), which deletes each message this hands back.
struct Count {
    n: usize,
    seen: AtomicUsize,
    done: CancellationToken,
    finished: std::sync::OnceLock<Instant>,
}

impl nudge_queue::consumer::Handler for Count {
    async fn process(&self, _message: &nudge_queue::ReceivedMessage) -> nudge_queue::Disposition {
        if self.seen.fetch_add(1, Ordering::SeqCst) + 1 == self.n {
            let _ = self.finished.set(Instant::now());
            self.done.cancel();
        }
        nudge_queue::Disposition::Delete
    }
}

/// The API in-process with a shop that sends to raw numbers, and an HTTP client.
async fn app_with_shop() -> (BenchApp, reqwest::Client, String) {
    let app = BenchApp::start(20, 200).await;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(32)
        .build()
        .unwrap();
    let shop: Value = http
        .post(format!("{}/v1/shops", app.base))
        .bearer_auth(&app.key)
        .json(&json!({"name": "Bench", "sender_number": "+15017122661", "quiet_hours": {"start": "00:00", "end": "00:00"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let shop_id = shop["id"].as_str().unwrap().to_owned();
    (app, http, shop_id)
}

fn transactional(shop_id: &str, i: usize) -> Value {
    json!({"shop_id": shop_id, "to": format!("+1415{:07}", i), "body": format!("Your order #{i} has shipped"), "category": "transactional"})
}

/// How far the senders are, read over one connection kept open for the whole phase: a
/// new connection per look would make Postgres start a backend ten times a second, work
/// the pipeline under measurement would pay for.
struct Progress {
    conn: tokio::sync::Mutex<diesel_async::AsyncPgConnection>,
    tenant: nudge_domain::TenantId,
}

impl Progress {
    async fn of(app: &BenchApp) -> Self {
        Self {
            conn: tokio::sync::Mutex::new(app.db.connect().await),
            tenant: app.tenant,
        }
    }

    async fn sent(&self) -> i64 {
        let mut conn = self.conn.lock().await;
        nudge_db::messages::count_by_status(&mut conn, self.tenant)
            .await
            .unwrap()
            .get("sent")
            .copied()
            .unwrap_or(0)
    }

    /// Waits until `n` messages are `sent`; when the last of them was recorded (its
    /// `sent` event), so that the time does not depend on how often this looks.
    async fn until_sent(&self, n: usize, timeout: Duration) -> chrono::DateTime<chrono::Utc> {
        nudge_testkit::eventually("every message sent", timeout, || async {
            (self.sent().await >= n as i64).then_some(())
        })
        .await;
        self.last_event("sent").await
    }

    async fn last_event(&self, event_type: &str) -> chrono::DateTime<chrono::Utc> {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        use nudge_db::schema::{message_events, messages};
        let mut conn = self.conn.lock().await;
        message_events::table
            .inner_join(messages::table.on(messages::id.eq(message_events::message_id)))
            .filter(messages::tenant_id.eq(self.tenant.as_uuid()))
            .filter(message_events::event_type.eq(event_type))
            .select(diesel::dsl::max(message_events::at))
            .first::<Option<chrono::DateTime<chrono::Utc>>>(&mut *conn)
            .await
            .unwrap()
            .unwrap()
    }
}

/// Accepts `n` messages with no sender running, waits for all of them to be on SQS,
/// then starts `senders` and times them until every message is `sent`. Returns
/// messages/s and each sender's peak resident set in KiB.
async fn drain(
    n: usize,
    senders: usize,
    sandbox_port: u16,
    logs: &std::path::Path,
) -> (f64, Vec<u64>) {
    let (app, http, shop_id) = app_with_shop().await;
    for start in (0..n).step_by(BATCH) {
        let batch: Vec<Value> = (start..(start + BATCH).min(n))
            .map(|i| transactional(&shop_id, i))
            .collect();
        let answer: Value = http
            .post(format!("{}/v1/messages/batch", app.base))
            .bearer_auth(&app.key)
            .json(&json!({"messages": batch}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer["refused"], 0, "{answer}");
    }
    nudge_testkit::eventually("the outbox on SQS", Duration::from_secs(300), || async {
        (app.queue.depth(&app.queue.url).await >= n as u64).then_some(())
    })
    .await;
    let progress = Progress::of(&app).await;
    let env = sender_env(&app.db.url, &app.queue.url, sandbox_port);
    // From the senders' start (their start-up counts) to the last send recorded, on
    // the wall clock, which Postgres shares on this machine.
    let started = chrono::Utc::now();
    let processes: Vec<Service> = (0..senders)
        .map(|i| {
            let dir = logs.join(format!("drain-{senders}-{i}"));
            std::fs::create_dir_all(&dir).unwrap();
            Service::start("sms-sender", &[], &env, &dir)
        })
        .collect();
    let finished = progress.until_sent(n, Duration::from_secs(600)).await;
    let took = (finished - started).to_std().unwrap();
    let rate = n as f64 / took.as_secs_f64();
    let peaks: Vec<u64> = processes.iter().map(|p| memory_kib(p.pid()).peak).collect();
    (rate, peaks)
}

/// One sender running; `rate` messages a second accepted one by one for `phase`; the
/// time from each message's acceptance to its `sent` event. Returns p50 and p99 in ms
/// and the count.
async fn latency(
    rate: u64,
    phase: Duration,
    sandbox_port: u16,
    logs: &std::path::Path,
) -> (f64, f64, usize, Memory, u64) {
    let (app, http, shop_id) = app_with_shop().await;
    let dir = logs.join("latency");
    std::fs::create_dir_all(&dir).unwrap();
    let sender = Service::start(
        "sms-sender",
        &[],
        &sender_env(&app.db.url, &app.queue.url, sandbox_port),
        &dir,
    );
    // Idle: up, polling an empty queue.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle = memory_kib(sender.pid());
    let interval = Duration::from_nanos(1_000_000_000 / rate);
    let start = Instant::now();
    let mut posts = Vec::new();
    let mut i = 0usize;
    while start.elapsed() < phase {
        tokio::time::sleep_until((start + interval * u32::try_from(i).unwrap()).into()).await;
        let (http, url, key, body) = (
            http.clone(),
            format!("{}/v1/messages", app.base),
            app.key.clone(),
            transactional(&shop_id, i),
        );
        posts.push(tokio::spawn(async move {
            let response = http
                .post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 202);
        }));
        i += 1;
    }
    for post in posts {
        post.await.unwrap();
    }
    Progress::of(&app)
        .await
        .until_sent(i, Duration::from_secs(120))
        .await;
    let mut millis = sent_latencies(&app).await;
    millis.sort_by(f64::total_cmp);
    let percentile = |p: f64| nearest_rank(&millis, p).unwrap_or(f64::NAN);
    let loaded = memory_kib(sender.pid()).peak;
    (
        percentile(0.50),
        percentile(0.99),
        millis.len(),
        idle,
        loaded,
    )
}

/// For every sent message: its `sent` event's time minus its acceptance, in ms.
async fn sent_latencies(app: &BenchApp) -> Vec<f64> {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use nudge_db::schema::{message_events, messages};
    let mut conn = app.db.connect().await;
    let rows: Vec<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> =
        message_events::table
            .inner_join(messages::table.on(messages::id.eq(message_events::message_id)))
            .filter(messages::tenant_id.eq(app.tenant.as_uuid()))
            .filter(message_events::event_type.eq("sent"))
            .select((messages::created_at, message_events::at))
            .load(&mut conn)
            .await
            .unwrap();
    rows.into_iter()
        .map(|(accepted, sent)| (sent - accepted).num_microseconds().unwrap() as f64 / 1000.0)
        .collect()
}

/// A process's memory from /proc, in KiB.
struct Memory {
    /// Resident now (VmRSS) = anonymous (heap, stacks) + file-backed (the binary's code).
    rss: u64,
    anon: u64,
    file: u64,
    /// The most resident ever (VmHWM).
    peak: u64,
}

fn memory_kib(pid: u32) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0)
    };
    Memory {
        rss: field("VmRSS:"),
        anon: field("RssAnon:"),
        file: field("RssFile:"),
        peak: field("VmHWM:"),
    }
}
