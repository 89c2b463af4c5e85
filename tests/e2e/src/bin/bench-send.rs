//! Benchmark of accepting messages (docs/benchmarks.md, issue 23), every row in one run
//! on one machine so that they can be compared:
//!
//! 1. **the Python peer** (`bench/peers/flask-sms`: Flask + Gunicorn with 4 workers +
//!    psycopg + boto3, one insert transaction and one SQS send per request), closed loop
//!    at 32 connections, random recipients, a stored template: the stack Nudge replaces;
//! 2. **`POST /v1/messages`**, the same load: every check a send does (the key, the
//!    tenant's rate window and daily cap, the shop, the recipient, the template, the
//!    sending rules, consent, one transaction with the outbox row), and the same
//!    against a second app with group commit off (`SEND_GROUP_COMMITTERS=0`: each send
//!    commits alone);
//! 3. **the raw accept transaction** (message + first event + outbox row, durable
//!    commit) without the API, at the same concurrency: what the database can commit;
//! 4. **open loop** at fixed rates: requests start on a schedule whatever the answers,
//!    latency from the scheduled start (no coordinated omission);
//! 5. **`POST /v1/messages/batch`** with 1,000 items, two in flight: messages/s.
//!
//! The app runs in-process (release build) against a fresh database and a fresh
//! LocalStack queue, with its outbox relay running. The peer runs as processes from the
//! virtualenv in `NUDGE_PEER_VENV` (`./nudge bench send` makes it); without one, its row
//! is skipped.
//!
//!   ./nudge bench send [seconds per phase]

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark tool: failing loudly is right"
)]

use nudge_e2e::bench::percentile_ms;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nudge_db::models::{Message, OutboxRow};
use nudge_domain::{ShopId, TenantId};
use nudge_e2e::BenchApp;
use nudge_testkit::TestDb;
use serde_json::{json, Value};
use tokio::sync::Mutex;

/// As in issue 23's measurements: 32 connections.
const CONNECTIONS: usize = 32;
/// Items per batch request (the API's maximum).
const BATCH_ITEMS: usize = 1_000;
const OPEN_LOOP_RATES: [u64; 2] = [300, 1_000];
const TEMPLATE_BODY: &str = "Hi {{name}}, your {{item}} is waiting. Code {{code}}";

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let phase = Duration::from_secs(seconds);
    let app = BenchApp::start(CONNECTIONS, 200).await;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(2 * CONNECTIONS)
        .build()
        .unwrap();
    let nudge = Arc::new(Target::nudge(&http, &app).await);

    println!("| phase | offered | accepted/s | p50 ms | p99 ms | errors |");
    println!("| --- | --- | --- | --- | --- | --- |");
    let peer_rate = match Peer::start().await {
        Some(peer) => {
            let target = Arc::new(Target::peer(&http, &peer));
            let mut outcome = closed_loop(target, CONNECTIONS, phase).await;
            outcome.print(
                &format!("Python peer, {CONNECTIONS} connections"),
                "as fast as answered",
                phase,
            );
            Some(outcome.rate(phase))
        }
        None => {
            println!("| Python peer | skipped: no NUDGE_PEER_VENV | | | | |");
            None
        }
    };
    let mut api = closed_loop(nudge.clone(), CONNECTIONS, phase).await;
    api.print(
        &format!("API, {CONNECTIONS} connections"),
        "as fast as answered",
        phase,
    );
    // The same, each send in a transaction of its own: what group commit changes.
    let alone = BenchApp::start_with(CONNECTIONS, 200, &[("SEND_GROUP_COMMITTERS", "0")]).await;
    let alone = Arc::new(Target::nudge(&http, &alone).await);
    let mut api_alone = closed_loop(alone, CONNECTIONS, phase).await;
    api_alone.print(
        &format!("API without group commit, {CONNECTIONS} connections"),
        "as fast as answered",
        phase,
    );
    let mut raw = raw_transactions(&app.db, app.tenant, nudge.shop_id(), phase).await;
    raw.print(
        &format!("no API: the accept transaction, {CONNECTIONS} in flight"),
        "as fast as committed",
        phase,
    );
    for rate in OPEN_LOOP_RATES {
        open_loop(nudge.clone(), rate, phase).await.print(
            &format!("API, open loop {rate}/s"),
            &format!("{rate}/s"),
            phase,
        );
    }
    let mut batch = batches(&nudge, phase).await;
    batch.print(
        &format!("batch API, {BATCH_ITEMS} items, 2 in flight (latency per request)"),
        "as fast as answered",
        phase,
    );

    let api_rate = api.rate(phase);
    println!();
    if let Some(peer_rate) = peer_rate {
        println!(
            "API / Python peer: {:.1}x (goal: >= 10x)",
            api_rate / peer_rate
        );
    }
    println!(
        "API / raw transaction: {:.0}% (goal: >= 50%)",
        100.0 * api_rate / raw.rate(phase)
    );
    println!(
        "group commit: {:.1}x the API committing each send alone",
        api_rate / api_alone.rate(phase)
    );
    println!(
        "batch: {:.0} messages/s (goal: >= 10,000)",
        batch.rate(phase)
    );
}

/// Where requests go and what they carry.
struct Target {
    http: reqwest::Client,
    url: String,
    key: Option<String>,
    shop_id: Option<String>,
    kind: Kind,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Nudge,
    Peer,
}

impl Target {
    /// A shop with a sender number and a stored transactional template, as a merchant's
    /// order notifications would use.
    async fn nudge(http: &reqwest::Client, app: &BenchApp) -> Self {
        let post = |path: &str, body: Value| {
            http.post(format!("{}{path}", app.base))
                .bearer_auth(&app.key)
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
        let template = post(
            "/v1/templates",
            json!({"name": "cart", "body": TEMPLATE_BODY, "category": "transactional"}),
        )
        .await
        .unwrap();
        assert_eq!(template.status(), 201, "the bench's template is stored");
        Self {
            http: http.clone(),
            url: format!("{}/v1/messages", app.base),
            key: Some(app.key.clone()),
            shop_id: Some(shop["id"].as_str().unwrap().to_owned()),
            kind: Kind::Nudge,
        }
    }

    fn peer(http: &reqwest::Client, peer: &Peer) -> Self {
        Self {
            http: http.clone(),
            url: format!("{}/sms_one", peer.base),
            key: None,
            shop_id: None,
            kind: Kind::Peer,
        }
    }

    fn shop_id(&self) -> ShopId {
        self.shop_id.as_deref().unwrap().parse().unwrap()
    }

    /// One send to a random US number.
    fn body(&self) -> Value {
        let to = random_recipient();
        let data = json!({"name": "Asha", "item": "bag", "code": "COD25"});
        match self.kind {
            Kind::Nudge => {
                json!({"shop_id": self.shop_id, "to": to, "template": "cart", "data": data})
            }
            Kind::Peer => {
                json!({"sender": "+15017122661", "receiver": to, "template": "cart", "data": data})
            }
        }
    }

    async fn post(&self, url: &str, body: &Value) -> Result<reqwest::Response, ()> {
        let mut request = self.http.post(url).json(body);
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        request.send().await.map_err(|_| ())
    }

    /// One send; its latency if it was accepted.
    async fn send(&self) -> Result<Duration, ()> {
        let body = self.body();
        let started = Instant::now();
        let response = self.post(&self.url, &body).await?;
        (response.status() == 202)
            .then(|| started.elapsed())
            .ok_or(())
    }
}

fn random_recipient() -> String {
    let n = uuid::Uuid::new_v4().as_u128() % 10_000_000;
    format!("+1415{n:07}")
}

/// Accepted sends (or messages, for batches), their latencies, and the failures.
#[derive(Debug, Default)]
struct Outcome {
    accepted: usize,
    latencies: Vec<Duration>,
    errors: usize,
}

impl Outcome {
    fn merge(&mut self, other: Outcome) {
        self.accepted += other.accepted;
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
    }

    fn rate(&self, phase: Duration) -> f64 {
        self.accepted as f64 / phase.as_secs_f64()
    }

    fn print(&mut self, name: &str, offered: &str, phase: Duration) {
        println!(
            "| {name} | {offered} | {:.0} | {:.1} | {:.1} | {} |",
            self.rate(phase),
            percentile_ms(&mut self.latencies, 0.50),
            percentile_ms(&mut self.latencies, 0.99),
            self.errors
        );
    }
}

/// What one step of a worker did: messages accepted and refused, and the step's
/// latency when it was answered.
struct Step {
    accepted: usize,
    errors: usize,
    latency: Option<Duration>,
}

impl Step {
    fn one(latency: Result<Duration, ()>) -> Self {
        match latency {
            Ok(latency) => Self {
                accepted: 1,
                errors: 0,
                latency: Some(latency),
            },
            Err(()) => Self {
                accepted: 0,
                errors: 1,
                latency: None,
            },
        }
    }
}

/// `workers` tasks, each doing `step` again as soon as the last one ended, for `phase`:
/// their outcomes merged.
async fn run_workers<F, Fut>(workers: usize, phase: Duration, step: F) -> Outcome
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Step> + Send,
{
    let start = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let step = step.clone();
            tokio::spawn(async move {
                let mut outcome = Outcome::default();
                while start.elapsed() < phase {
                    let done = step().await;
                    outcome.accepted += done.accepted;
                    outcome.errors += done.errors;
                    outcome.latencies.extend(done.latency);
                }
                outcome
            })
        })
        .collect();
    let mut all = Outcome::default();
    for task in tasks {
        all.merge(task.await.unwrap());
    }
    all
}

/// `connections` senders, each sending again as soon as it is answered.
async fn closed_loop(target: Arc<Target>, connections: usize, phase: Duration) -> Outcome {
    run_workers(connections, phase, move || {
        let target = target.clone();
        async move { Step::one(target.send().await) }
    })
    .await
}

/// Starts `rate` requests per second on schedule for `phase`; latency counts from the
/// scheduled start, so a stall shows up in the percentiles.
async fn open_loop(target: Arc<Target>, rate: u64, phase: Duration) -> Outcome {
    let results = Arc::new(Mutex::new(Outcome::default()));
    let interval = Duration::from_nanos(1_000_000_000 / rate);
    let start = Instant::now();
    let mut tasks = Vec::new();
    let mut n = 0u32;
    while start.elapsed() < phase {
        let scheduled = start + interval * n;
        tokio::time::sleep_until(scheduled.into()).await;
        let (target, results) = (target.clone(), results.clone());
        tasks.push(tokio::spawn(async move {
            let outcome = target.send().await;
            let mut results = results.lock().await;
            match outcome {
                Ok(_) => {
                    results.accepted += 1;
                    results.latencies.push(scheduled.elapsed());
                }
                Err(()) => results.errors += 1,
            }
        }));
        n += 1;
    }
    for task in tasks {
        task.await.unwrap();
    }
    Arc::try_unwrap(results).unwrap().into_inner()
}

/// Two senders of 1,000-item batches; `accepted` counts messages, latencies requests.
async fn batches(target: &Arc<Target>, phase: Duration) -> Outcome {
    let target = target.clone();
    run_workers(2, phase, move || {
        let target = target.clone();
        async move {
            let items: Vec<Value> = (0..BATCH_ITEMS).map(|_| target.body()).collect();
            let body = json!({ "messages": items });
            let started = Instant::now();
            let answer: Option<Value> =
                match target.post(&format!("{}/batch", target.url), &body).await {
                    Ok(response) if response.status() == 200 => response.json().await.ok(),
                    _ => None,
                };
            match answer {
                Some(answer) => Step {
                    accepted: answer["accepted"].as_u64().unwrap() as usize,
                    errors: answer["refused"].as_u64().unwrap() as usize,
                    latency: Some(started.elapsed()),
                },
                None => Step {
                    accepted: 0,
                    errors: BATCH_ITEMS,
                    latency: None,
                },
            }
        }
    })
    .await
}

/// The database work of one accepted message, without HTTP, validation or rendering:
/// the message, its first event and its outbox row in one durable transaction.
async fn raw_transactions(db: &TestDb, tenant: TenantId, shop: ShopId, phase: Duration) -> Outcome {
    let pool = nudge_db::build_pool(&db.url, CONNECTIONS).unwrap();
    run_workers(CONNECTIONS, phase, move || {
        let pool = pool.clone();
        async move {
            let (message, outbox) = rows(tenant, shop);
            let started = Instant::now();
            let mut conn = pool.get().await.unwrap();
            nudge_db::messages::insert_accepted(&mut conn, &message, &outbox)
                .await
                .unwrap();
            Step::one(Ok(started.elapsed()))
        }
    })
    .await
}

fn rows(tenant: TenantId, shop: ShopId) -> (Message, OutboxRow) {
    // A queue no relay drains, so that the raw phase measures only the inserts.
    let (message, outbox, _) = nudge_testkit::queued_message(
        tenant,
        shop,
        &random_recipient(),
        "Hi Asha, your bag is waiting. Code COD25",
        "bench-raw",
    );
    (message, outbox)
}

/// The Python stack, as `bench/peers/flask-sms/README.md` runs it: Gunicorn with 4
/// workers on a database of its own and a LocalStack queue of its own.
struct Peer {
    base: String,
    gunicorn: Child,
    database: String,
}

impl Peer {
    async fn start() -> Option<Self> {
        let venv = PathBuf::from(std::env::var_os("NUDGE_PEER_VENV")?);
        let app_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/peers/flask-sms");
        let database = format!("bench_peer_{}", uuid::Uuid::new_v4().simple());
        admin_sql(&format!("CREATE DATABASE {database}")).await;
        let server = nudge_testkit::server_url();
        let port = nudge_e2e::free_port();
        let peer_env = [
            ("PEER_DATABASE_URL", format!("{server}/{database}")),
            ("PEER_QUEUE_NAME", database.clone()),
        ];
        // The app makes its tables and queue as it is imported: once, before the
        // workers (four imports at once race on CREATE TABLE and a worker dies).
        let made = Command::new(venv.join("bin/python"))
            .args(["-c", "import app"])
            .current_dir(&app_dir)
            .envs(peer_env.clone())
            .envs(nudge_e2e::aws_env())
            .status()
            .expect("run the peer's python");
        assert!(
            made.success(),
            "the peer could not make its tables and queue"
        );
        let gunicorn = Command::new(venv.join("bin/gunicorn"))
            .args(["-w", "4", "-b", &format!("127.0.0.1:{port}"), "app:app"])
            .current_dir(&app_dir)
            .envs(peer_env)
            .envs(nudge_e2e::aws_env())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the peer's gunicorn");
        let peer = Self {
            base: format!("http://127.0.0.1:{port}"),
            gunicorn,
            database,
        };
        // Up when every worker answers (each one opens its pool and queue on import).
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while http
            .get(format!("{}/show_log", peer.base))
            .send()
            .await
            .map(|r| !r.status().is_success())
            .unwrap_or(true)
        {
            assert!(Instant::now() < deadline, "the peer did not start");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Some(peer)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.gunicorn.kill();
        let _ = self.gunicorn.wait();
        let database = self.database.clone();
        // Best effort: a throwaway database left behind is harmless.
        let _ = std::thread::spawn(move || {
            tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(admin_sql(&format!(
                    "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
                )));
        })
        .join();
    }
}

async fn admin_sql(sql: &str) {
    let server = nudge_testkit::server_url();
    let (client, connection) =
        tokio_postgres::connect(&format!("{server}/postgres"), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(connection);
    client.batch_execute(sql).await.unwrap();
}
