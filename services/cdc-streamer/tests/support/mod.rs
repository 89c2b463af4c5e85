//! The real `cdc-streamer` binary against a fresh database on the throwaway server with
//! `wal_level=logical` (`./nudge test` starts it) and a Kinesis stream of its own on
//! LocalStack; the stream read back by a test consumer.

#![allow(dead_code, reason = "each test binary uses part of the support")]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nudge_domain::DbChangeV1;
use nudge_testkit::{eventually, StreamRecord, TestDb, TestStream};
use tokio_postgres::NoTls;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One record read back from the stream.
#[derive(Clone, Debug)]
pub struct Change {
    pub record: DbChangeV1,
    pub raw: StreamRecord,
}

impl Change {
    /// `(commit_lsn, seq)`: the change's identity, the same on a redelivery.
    pub fn identity(&self) -> (String, u32) {
        (
            self.record.source.commit_lsn.clone(),
            self.record.source.seq,
        )
    }

    pub fn after_field(&self, column: &str) -> Option<&serde_json::Value> {
        self.record.after.as_ref()?.get(column)
    }
}

pub struct Setup {
    pub db: TestDb,
    pub stream: TestStream,
    pub sql: tokio_postgres::Client,
    pub logs: PathBuf,
    pub slot: String,
}

impl Setup {
    pub async fn new(purpose: &str, shards: i32) -> Self {
        let db = TestDb::logical().await;
        let stream = TestStream::new(purpose, shards).await;
        let (sql, connection) = tokio_postgres::connect(&db.url, NoTls).await.unwrap();
        tokio::spawn(connection);
        let logs = std::env::temp_dir().join(format!("nudge-cdc-{purpose}-{}", std::process::id()));
        std::fs::create_dir_all(&logs).unwrap();
        Self {
            db,
            stream,
            sql,
            logs,
            slot: format!("cdc_{purpose}"),
        }
    }

    /// The streamer's environment; `extra` adds or overrides.
    pub fn env(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env: BTreeMap<String, String> = [
            ("DATABASE_URL", self.db.url.clone()),
            ("CDC_SLOT", self.slot.clone()),
            ("CDC_PUBLICATION", self.slot.clone()),
            ("CDC_STREAM", self.stream.name.clone()),
            ("CDC_HEARTBEAT_INTERVAL_MS", "500".into()),
            ("CDC_METRICS_ADDRESS", format!("127.0.0.1:{}", free_port())),
            (
                "AWS_ENDPOINT_URL",
                std::env::var("AWS_ENDPOINT_URL")
                    .unwrap_or_else(|_| "http://127.0.0.1:4566".into()),
            ),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("RUST_LOG", "info".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for (key, value) in extra {
            env.insert((*key).to_owned(), (*value).to_owned());
        }
        env.into_iter().collect()
    }

    pub async fn start(&self, extra: &[(&str, &str)]) -> Streamer {
        let streamer = Streamer::start(self.env(extra), &self.logs);
        streamer.wait_streaming().await;
        streamer
    }

    /// The slot's confirmed position, as a number.
    pub async fn confirmed_lsn(&self) -> u64 {
        let lsn: Option<String> = self
            .sql
            .query_one(
                "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1",
                &[&self.slot],
            )
            .await
            .unwrap()
            .get(0);
        lsn_value(&lsn.expect("the slot has a confirmed position"))
    }

    pub async fn execute(&self, statements: &str) {
        self.sql
            .batch_execute(statements)
            .await
            .unwrap_or_else(|e| panic!("{statements}: {e}"));
    }

    /// Everything on the stream now, decoded (a record that is not a valid
    /// `db_change.v1` fails the test).
    pub async fn changes(&self) -> Vec<Change> {
        self.stream
            .read_all()
            .await
            .into_iter()
            .map(|raw| Change {
                record: serde_json::from_slice(&raw.data).unwrap_or_else(|e| {
                    panic!(
                        "not a db_change.v1 ({e}): {}",
                        String::from_utf8_lossy(&raw.data)
                    )
                }),
                raw,
            })
            .collect()
    }

    /// Waits until the stream holds changes with at least `count` distinct identities.
    pub async fn wait_for_distinct(&self, count: usize, timeout: Duration) -> Vec<Change> {
        eventually(
            &format!("{count} distinct changes on the stream"),
            timeout,
            || async {
                let changes = self.changes().await;
                let distinct: std::collections::HashSet<_> =
                    changes.iter().map(Change::identity).collect();
                (distinct.len() >= count).then_some(changes)
            },
        )
        .await
    }
}

/// A `cdc-streamer` process, killed when dropped, its log printed if the test failed.
pub struct Streamer {
    child: Child,
    log: PathBuf,
    pub metrics: String,
}

impl Streamer {
    pub fn start(env: Vec<(String, String)>, logs: &std::path::Path) -> Self {
        let metrics = env
            .iter()
            .find(|(k, _)| k == "CDC_METRICS_ADDRESS")
            .map(|(_, v)| format!("http://{v}"))
            .unwrap();
        let log = logs.join(format!("cdc-streamer-{}.log", free_port()));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_cdc-streamer"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap();
        Self {
            child,
            log,
            metrics,
        }
    }

    /// Waits until `/healthz` says it is streaming (or copying).
    pub async fn wait_streaming(&self) {
        let url = format!("{}/healthz", self.metrics);
        eventually(
            "cdc-streamer streaming (/healthz 200)",
            Duration::from_secs(60),
            || async {
                let answer = reqwest::get(&url).await.ok()?;
                answer.status().is_success().then_some(())
            },
        )
        .await;
    }

    pub async fn metric(&self, name: &str) -> Option<f64> {
        let text = reqwest::get(format!("{}/metrics", self.metrics))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines()
            .find(|line| line.starts_with(name) && line[name.len()..].starts_with([' ', '{']))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse().ok())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no chance to flush or confirm.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM; whether it exited successfully within `bound`.
    pub fn terminate(&mut self, bound: Duration) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = std::time::Instant::now() + bound;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Waits for the process to exit by itself; its success.
    pub fn wait_exit(&mut self, bound: Duration) -> Option<bool> {
        let deadline = std::time::Instant::now() + bound;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.success());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Streamer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- cdc-streamer log ({}) ---\n{}",
                self.log.display(),
                self.log()
            );
        }
    }
}

/// `X/Y` (as Postgres prints an LSN) as a number.
pub fn lsn_value(lsn: &str) -> u64 {
    let (high, low) = lsn.split_once('/').unwrap();
    (u64::from_str_radix(high, 16).unwrap() << 32) | u64::from_str_radix(low, 16).unwrap()
}
