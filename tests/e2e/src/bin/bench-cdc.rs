//! Benchmark of `cdc-streamer` (docs/benchmarks.md), the release binary as a process
//! against a fresh database on a logical-decoding server and a fresh Kinesis stream:
//!
//! 1. raw PutRecords: records shaped like the streamer's (about 300 bytes, distinct
//!    keys) put by this tool in requests of 500, one request at a time as the streamer
//!    does: LocalStack's ceiling, measured in the same run;
//! 2. peak: N rows inserted (transactions of 100) with the streamer running; records
//!    per second from the first commit until Kinesis has them all;
//! 3. lag: 200 row changes per second for 20 s; per record, from its commit time to
//!    Kinesis's arrival timestamp, p50 / p99;
//! 4. memory: the streamer's resident set (VmRSS) sampled while it streams, and its
//!    peak (VmHWM).
//!
//!   cargo build --release -p cdc-streamer -p nudge-e2e --bin bench-cdc
//!   ~/.cache/nudge/target/release/bench-cdc [rows, default 20000]
//! Needs LocalStack and a Postgres with wal_level=logical: `./nudge up` runs both (its
//! Postgres on 5433); or set NUDGE_TEST_LOGICAL_PG_URL.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark tool: failing loudly is right"
)]

use nudge_e2e::bench::nearest_rank;
use std::time::{Duration, Instant};

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use nudge_e2e::{aws_env, free_port, Service};
use nudge_testkit::{TestDb, TestStream};

const TABLE: &str =
    "CREATE TABLE bench (id bigint PRIMARY KEY, n integer NOT NULL, note text, at timestamptz)";

#[tokio::main]
async fn main() {
    let rows: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    if std::env::var("NUDGE_TEST_LOGICAL_PG_URL").is_err() {
        std::env::set_var(
            "NUDGE_TEST_LOGICAL_PG_URL",
            "postgres://postgres@127.0.0.1:5433",
        );
    }
    let logs = std::env::temp_dir().join(format!("nudge-bench-cdc-{}", std::process::id()));
    std::fs::create_dir_all(&logs).unwrap();

    let raw = raw_put_records(rows).await;
    println!("| phase | records | per second | p50 | p99 |");
    println!("| --- | --- | --- | --- | --- |");
    println!("| raw PutRecords (500 per request, one at a time) | {rows} | {raw:.0} | | |");
    let (peak, memory) = peak(rows, &logs).await;
    println!("| streamer, peak (inserts in transactions of 100) | {rows} | {peak:.0} ({:.0}% of raw) | | |", 100.0 * peak / raw);
    let (count, p50, p99, lag_memory) = lag(&logs).await;
    println!("| streamer, commit -> Kinesis at 200 changes/s for 20 s | {count} | 200 | {p50} ms | {p99} ms |");
    println!();
    println!(
        "streamer memory: {} KiB resident while copying at peak ({} KiB at most), {} KiB while streaming 200/s ({} KiB at most)",
        memory.0, memory.1, lag_memory.0, lag_memory.1
    );
}

async fn raw_put_records(count: usize) -> f64 {
    let stream = TestStream::new("bench-raw", 2).await;
    let body = format!(
        "{{\"type\":\"db_change.v1\",\"pad\":\"{}\"}}",
        "x".repeat(260)
    );
    let started = Instant::now();
    for start in (0..count).step_by(500) {
        let entries: Vec<PutRecordsRequestEntry> = (start..(start + 500).min(count))
            .map(|i| {
                PutRecordsRequestEntry::builder()
                    .partition_key(format!("public.bench:[{i}]"))
                    .data(Blob::new(body.clone()))
                    .build()
                    .unwrap()
            })
            .collect();
        let mut pending = entries;
        while !pending.is_empty() {
            let answer = stream
                .client
                .put_records()
                .stream_name(&stream.name)
                .set_records(Some(pending.clone()))
                .send()
                .await
                .unwrap();
            pending = pending
                .into_iter()
                .zip(answer.records())
                .filter(|(_, result)| result.error_code().is_some())
                .map(|(entry, _)| entry)
                .collect();
        }
    }
    count as f64 / started.elapsed().as_secs_f64()
}

/// Fields drop in order: the streamer first, so that its slot is free when the
/// database goes.
struct Running {
    streamer: Service,
    metrics: String,
    sql: tokio_postgres::Client,
    stream: TestStream,
    /// Held for its lifetime: dropped (the database with it) last.
    _db: TestDb,
}

async fn start(purpose: &str, logs: &std::path::Path) -> Running {
    let db = TestDb::logical().await;
    let stream = TestStream::new(purpose, 2).await;
    let (sql, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    sql.batch_execute(TABLE).await.unwrap();
    let port = free_port();
    let mut env = vec![
        ("DATABASE_URL", db.url.clone()),
        // Slots are per server: a name of this run's own.
        (
            "CDC_SLOT",
            format!("bench_{purpose}_{}", std::process::id()),
        ),
        ("CDC_PUBLICATION", format!("bench_{purpose}")),
        ("CDC_STREAM", stream.name.clone()),
        ("CDC_SNAPSHOT", "never".into()),
        ("CDC_HEARTBEAT_INTERVAL_MS", "1000".into()),
        ("CDC_METRICS_ADDRESS", format!("127.0.0.1:{port}")),
    ];
    env.extend(aws_env());
    let streamer = Service::start("cdc-streamer", &[], &env, logs);
    let metrics = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(answer) = reqwest::get(format!("{metrics}/healthz")).await {
            if answer.status().is_success() {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "cdc-streamer did not start; see {}",
            logs.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Running {
        _db: db,
        stream,
        sql,
        streamer,
        metrics,
    }
}

async fn records_sent(metrics: &str) -> f64 {
    let Ok(answer) = reqwest::get(format!("{metrics}/metrics")).await else {
        return 0.0;
    };
    let text = answer.text().await.unwrap_or_default();
    text.lines()
        .find(|line| line.starts_with("nudge_cdc_records_total "))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// (VmRSS, VmHWM) in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

async fn peak(rows: usize, logs: &std::path::Path) -> (f64, (u64, u64)) {
    let running = start("peak", logs).await;
    let started = Instant::now();
    for start in (0..rows).step_by(100) {
        let end = (start + 100).min(rows);
        running
            .sql
            .batch_execute(&format!(
                "INSERT INTO bench (id, n, note, at) SELECT g, 0, 'row ' || g, now() FROM generate_series({start}, {}) g",
                end - 1
            ))
            .await
            .unwrap();
    }
    let mut resident = 0;
    loop {
        resident = resident.max(memory_kib(running.streamer.pid()).0);
        if records_sent(&running.metrics).await >= rows as f64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rate = rows as f64 / started.elapsed().as_secs_f64();
    let memory = (resident, memory_kib(running.streamer.pid()).1);
    drop(running);
    (rate, memory)
}

async fn lag(logs: &std::path::Path) -> (usize, u64, u64, (u64, u64)) {
    let running = start("lag", logs).await;
    let mut next = Instant::now();
    let mut resident = 0;
    for i in 0..4_000 {
        // 200 changes a second: one insert every 5 ms, on schedule.
        next += Duration::from_millis(5);
        tokio::time::sleep_until(next.into()).await;
        running
            .sql
            .batch_execute(&format!(
                "INSERT INTO bench (id, n, at) VALUES ({i}, 0, now())"
            ))
            .await
            .unwrap();
        if i % 200 == 0 {
            resident = resident.max(memory_kib(running.streamer.pid()).0);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while records_sent(&running.metrics).await < 4_000.0 {
        assert!(
            Instant::now() < deadline,
            "the lag phase's records did not all arrive"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut lags: Vec<i64> = Vec::new();
    for record in running
        .stream
        .client
        .list_shards()
        .stream_name(&running.stream.name)
        .send()
        .await
        .unwrap()
        .shards()
    {
        let mut iterator = running
            .stream
            .client
            .get_shard_iterator()
            .stream_name(&running.stream.name)
            .shard_id(record.shard_id())
            .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator;
        while let Some(current) = iterator {
            let page = running
                .stream
                .client
                .get_records()
                .shard_iterator(current)
                .limit(10_000)
                .send()
                .await
                .unwrap();
            for item in page.records() {
                let change: nudge_domain::DbChangeV1 =
                    serde_json::from_slice(item.data().as_ref()).unwrap();
                let arrived = item.approximate_arrival_timestamp().unwrap();
                let arrived_ms =
                    arrived.secs() * 1000 + i64::from(arrived.subsec_nanos() / 1_000_000);
                lags.push(arrived_ms - change.source.commit_time.timestamp_millis());
            }
            if page.records().is_empty() {
                break;
            }
            iterator = page.next_shard_iterator;
        }
    }
    lags.sort_unstable();
    let at = |q: f64| nearest_rank(&lags, q).unwrap_or(0).max(0) as u64;
    let memory = (resident, memory_kib(running.streamer.pid()).1);
    (lags.len(), at(0.5), at(0.99), memory)
}
