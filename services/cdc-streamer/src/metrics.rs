//! The streamer's Prometheus metrics and health, served at `/metrics` and `/healthz`
//! on `CDC_METRICS_ADDRESS` (docs/cdc.md lists them).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    error_code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TableLabels {
    table: String,
}

#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub records_sent: Counter,
    refused: Family<CodeLabels, Counter>,
    pub put_errors: Counter,
    pub batch_records: Histogram,
    pub put_seconds: Histogram,
    confirmed_lsn: Gauge,
    lag_seconds: Gauge<f64, AtomicU64>,
    pub lag_bytes: Gauge,
    snapshot_rows: Family<TableLabels, Counter>,
    pub snapshot_running: Gauge,
    /// Up and streaming (or copying): what `/healthz` answers.
    pub healthy: Arc<AtomicBool>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("nudge_cdc");
        let records_sent = Counter::default();
        registry.register(
            "records",
            "Change records accepted by Kinesis",
            records_sent.clone(),
        );
        let refused = Family::<CodeLabels, Counter>::default();
        registry.register(
            "records_refused",
            "Records Kinesis refused in a PutRecords answer (each retried), by error code",
            refused.clone(),
        );
        let put_errors = Counter::default();
        registry.register(
            "put_errors",
            "PutRecords requests that failed as a whole (retried)",
            put_errors.clone(),
        );
        let batch_records = Histogram::new(exponential_buckets(1.0, 2.0, 10));
        registry.register(
            "batch_records",
            "Records per PutRecords request",
            batch_records.clone(),
        );
        let put_seconds = Histogram::new(exponential_buckets(0.002, 2.0, 12));
        registry.register(
            "put_duration_seconds",
            "Time taken by PutRecords requests",
            put_seconds.clone(),
        );
        let confirmed_lsn = Gauge::default();
        registry.register(
            "confirmed_lsn",
            "The slot position confirmed to Postgres: everything before it is in Kinesis",
            confirmed_lsn.clone(),
        );
        let lag_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "lag_seconds",
            "Commit time to Kinesis acceptance of the last confirmed transaction",
            lag_seconds.clone(),
        );
        let lag_bytes = Gauge::default();
        registry.register(
            "lag_bytes",
            "WAL the slot holds back (current WAL position minus the confirmed one), sampled",
            lag_bytes.clone(),
        );
        let snapshot_rows = Family::<TableLabels, Counter>::default();
        registry.register(
            "snapshot_rows",
            "Rows copied by the initial snapshot, by table",
            snapshot_rows.clone(),
        );
        let snapshot_running = Gauge::default();
        registry.register(
            "snapshot_running",
            "1 while the initial snapshot is copying",
            snapshot_running.clone(),
        );
        Self {
            registry: Arc::new(registry),
            records_sent,
            refused,
            put_errors,
            batch_records,
            put_seconds,
            confirmed_lsn,
            lag_seconds,
            lag_bytes,
            snapshot_rows,
            snapshot_running,
            healthy: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn refused(&self, error_code: &str) {
        self.refused
            .get_or_create(&CodeLabels {
                error_code: error_code.to_owned(),
            })
            .inc();
    }

    pub fn confirmed(&self, lsn: u64, commit_time: DateTime<Utc>) {
        self.confirmed_lsn
            .set(i64::try_from(lsn).unwrap_or(i64::MAX));
        let lag = (Utc::now() - commit_time).num_milliseconds().max(0);
        self.lag_seconds.set(lag as f64 / 1000.0);
    }

    pub fn snapshot_row(&self, table: &str) {
        self.snapshot_rows
            .get_or_create(&TableLabels {
                table: table.to_owned(),
            })
            .inc();
    }

    pub fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::Relaxed);
    }

    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

impl nudge_telemetry::metrics_server::Scrape for Metrics {
    fn scrape(&self) -> String {
        self.encode()
    }

    /// Copying or streaming: `/healthz` answers 200 then, 503 otherwise.
    fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }
}
