//! The Kinesis side: records in WAL order in, `PutRecords` batches out, and the slot
//! position that Kinesis has fully accepted back to the replication connection.
//!
//! Two rules make it at least once, with nothing out of order per row:
//! - **Order per key.** `PutRecords` may accept some records of a request and refuse
//!   others, so a batch never holds two records with the same partition key: a row's
//!   later change waits for the next batch, behind its earlier one, which is retried
//!   (first, at the front of the queue) until Kinesis takes it.
//! - **Confirm only what is covered.** A transaction's end position is confirmed to
//!   Postgres only when every record of it, and of every transaction before it, is
//!   accepted. After a crash the slot resends from there: duplicates, never gaps.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use chrono::{DateTime, Utc};
use pg_walstream::SharedLsnFeedback;
use rand::Rng;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::metrics::Metrics;
use crate::records::{OutRecord, MAX_RECORD_BYTES};

/// `PutRecords` limits.
pub const MAX_BATCH_RECORDS: usize = 500;
pub const MAX_BATCH_BYTES: usize = 5 * 1024 * 1024;
/// Items held while Kinesis is slow or refusing; beyond it the replication
/// connection waits (back-pressure), so memory stays bounded.
pub const MAX_PENDING: usize = 20_000;

/// What the replication side hands over, in WAL order.
#[derive(Debug)]
pub enum Item {
    Record(OutRecord),
    /// The end of a transaction: once everything before it is accepted, the slot can
    /// move to `end_lsn`.
    Commit {
        end_lsn: u64,
        commit_time: DateTime<Utc>,
    },
    /// Answered when everything before it is accepted (the snapshot waits for it).
    Barrier(oneshot::Sender<()>),
}

/// Where batches go. The real one is Kinesis; tests use fakes that refuse.
pub trait Destination: Send + Sync {
    /// Puts the records; per record, `None` if accepted or the error code if refused.
    /// An `Err` means the whole request failed.
    fn put(
        &self,
        records: Vec<OutRecord>,
    ) -> impl Future<Output = Result<Vec<Option<String>>, String>> + Send;
}

pub struct Kinesis {
    pub client: aws_sdk_kinesis::Client,
    /// Stream name, or ARN.
    pub stream: String,
}

impl Destination for Kinesis {
    async fn put(&self, records: Vec<OutRecord>) -> Result<Vec<Option<String>>, String> {
        let count = records.len();
        let entries = records
            .into_iter()
            .map(|record| {
                PutRecordsRequestEntry::builder()
                    .partition_key(record.partition_key)
                    .data(Blob::new(record.data))
                    .build()
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        let request = self.client.put_records().set_records(Some(entries));
        let request = if self.stream.starts_with("arn:") {
            request.stream_arn(&self.stream)
        } else {
            request.stream_name(&self.stream)
        };
        let output = request
            .send()
            .await
            .map_err(|e| aws_sdk_kinesis::error::DisplayErrorContext(e).to_string())?;
        let results: Vec<Option<String>> = output
            .records()
            .iter()
            .map(|entry| entry.error_code().map(str::to_owned))
            .collect();
        if results.len() != count {
            return Err(format!(
                "PutRecords answered {} results for {count} records",
                results.len()
            ));
        }
        Ok(results)
    }
}

enum Entry {
    Record {
        record: OutRecord,
        accepted: bool,
    },
    Commit {
        end_lsn: u64,
        commit_time: DateTime<Utc>,
    },
    Barrier(Option<oneshot::Sender<()>>),
}

pub struct Writer<D> {
    destination: D,
    pending: VecDeque<Entry>,
    unsent: usize,
    feedback: Arc<SharedLsnFeedback>,
    metrics: Metrics,
    linger: Duration,
    max_backoff: Duration,
    failures_in_a_row: u32,
}

impl<D: Destination> Writer<D> {
    pub fn new(
        destination: D,
        feedback: Arc<SharedLsnFeedback>,
        metrics: Metrics,
        linger: Duration,
        max_backoff: Duration,
    ) -> Self {
        Self {
            destination,
            pending: VecDeque::new(),
            unsent: 0,
            feedback,
            metrics,
            linger,
            max_backoff,
            failures_in_a_row: 0,
        }
    }

    /// Runs until `items` is closed and everything received is accepted.
    pub async fn run(mut self, mut items: mpsc::Receiver<Item>) {
        let mut open = true;
        loop {
            if self.unsent == 0 {
                if !open {
                    return;
                }
                match items.recv().await {
                    Some(item) => self.push(item),
                    None => open = false,
                }
            }
            // Let a batch fill for a moment, up to what one request can carry.
            let deadline = Instant::now() + self.linger;
            while open && self.unsent < MAX_BATCH_RECORDS && self.pending.len() < MAX_PENDING {
                match tokio::time::timeout_at(deadline, items.recv()).await {
                    Ok(Some(item)) => self.push(item),
                    Ok(None) => open = false,
                    Err(_) => break,
                }
            }
            self.advance();
            if self.unsent > 0 {
                self.put_one_batch().await;
                self.advance();
            }
        }
    }

    fn push(&mut self, item: Item) {
        match item {
            Item::Record(record) => {
                self.unsent += 1;
                self.pending.push_back(Entry::Record {
                    record,
                    accepted: false,
                });
            }
            Item::Commit {
                end_lsn,
                commit_time,
            } => self.pending.push_back(Entry::Commit {
                end_lsn,
                commit_time,
            }),
            Item::Barrier(done) => self.pending.push_back(Entry::Barrier(Some(done))),
        }
    }

    /// The indexes of the next batch: unsent records in order, at most one per
    /// partition key, within the request limits.
    fn next_batch(&self) -> Vec<usize> {
        let mut batch = Vec::new();
        let mut keys: HashSet<&str> = HashSet::new();
        let mut bytes = 0;
        for (index, entry) in self.pending.iter().enumerate() {
            let Entry::Record {
                record,
                accepted: false,
            } = entry
            else {
                continue;
            };
            // The first unsent record of a key goes; every later one of that key
            // waits, whether or not the first fits in this batch.
            if !keys.insert(record.partition_key.as_str()) {
                continue;
            }
            if batch.len() == MAX_BATCH_RECORDS || bytes + record.size() > MAX_BATCH_BYTES {
                break;
            }
            bytes += record.size().min(MAX_RECORD_BYTES);
            batch.push(index);
        }
        batch
    }

    async fn put_one_batch(&mut self) {
        let batch = self.next_batch();
        let records: Vec<OutRecord> = batch
            .iter()
            .filter_map(|&index| match &self.pending[index] {
                Entry::Record { record, .. } => Some(record.clone()),
                _ => None,
            })
            .collect();
        let size = records.len();
        let started = std::time::Instant::now();
        let results = self.destination.put(records).await;
        self.metrics
            .put_seconds
            .observe(started.elapsed().as_secs_f64());
        let refused = match results {
            Ok(results) => {
                let mut refused = 0;
                for (&index, result) in batch.iter().zip(results) {
                    match result {
                        None => {
                            if let Entry::Record { accepted, .. } = &mut self.pending[index] {
                                *accepted = true;
                                self.unsent -= 1;
                            }
                        }
                        Some(code) => {
                            refused += 1;
                            self.metrics.refused(&code);
                        }
                    }
                }
                self.metrics.batch_records.observe(size as f64);
                self.metrics.records_sent.inc_by((size - refused) as u64);
                refused
            }
            Err(error) => {
                tracing::warn!(%error, records = size, "PutRecords failed; retrying");
                self.metrics.put_errors.inc();
                size
            }
        };
        if refused > 0 {
            self.failures_in_a_row = self.failures_in_a_row.saturating_add(1);
            tokio::time::sleep(self.backoff()).await;
        } else {
            self.failures_in_a_row = 0;
        }
    }

    /// Full jitter on an exponential ceiling (100 ms, 200 ms, ... `max_backoff`).
    fn backoff(&self) -> Duration {
        let ceiling = Duration::from_millis(100)
            .saturating_mul(1 << self.failures_in_a_row.min(16))
            .min(self.max_backoff);
        ceiling.mul_f64(rand::rng().random_range(0.5..=1.0))
    }

    /// Drops the accepted front of the queue, confirming transaction ends and
    /// answering barriers on the way.
    fn advance(&mut self) {
        let mut confirmed = None;
        while let Some(front) = self.pending.front_mut() {
            match front {
                Entry::Record {
                    accepted: false, ..
                } => break,
                Entry::Record { accepted: true, .. } => {}
                Entry::Commit {
                    end_lsn,
                    commit_time,
                } => confirmed = Some((*end_lsn, *commit_time)),
                Entry::Barrier(done) => {
                    if let Some(done) = done.take() {
                        let _ = done.send(());
                    }
                }
            }
            self.pending.pop_front();
        }
        if let Some((end_lsn, commit_time)) = confirmed {
            self.feedback.update_flushed_lsn(end_lsn);
            self.feedback.update_applied_lsn(end_lsn);
            self.metrics.confirmed(end_lsn, commit_time);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// Refuses each record the first `refusals` times it sees its data, and keeps what
    /// it accepted in order.
    #[derive(Clone, Default)]
    struct Flaky {
        refusals: usize,
        seen: Arc<Mutex<HashMap<Vec<u8>, usize>>>,
        accepted: Arc<Mutex<Vec<OutRecord>>>,
        requests: Arc<Mutex<Vec<Vec<String>>>>,
    }

    impl Destination for Flaky {
        async fn put(&self, records: Vec<OutRecord>) -> Result<Vec<Option<String>>, String> {
            self.requests
                .lock()
                .unwrap()
                .push(records.iter().map(|r| r.partition_key.clone()).collect());
            let mut results = Vec::new();
            for record in records {
                let mut seen = self.seen.lock().unwrap();
                let count = seen.entry(record.data.clone()).or_default();
                *count += 1;
                // Refuse every other record on its first tries: some of each batch go.
                let odd = record.data.last().copied().unwrap_or(0) % 2 == 1;
                if odd && *count <= self.refusals {
                    results.push(Some("ProvisionedThroughputExceededException".into()));
                } else {
                    self.accepted.lock().unwrap().push(record);
                    results.push(None);
                }
            }
            Ok(results)
        }
    }

    /// A writer driven by hand (no task), over a destination that accepts everything.
    fn idle_writer() -> Writer<Flaky> {
        Writer::new(
            Flaky::default(),
            SharedLsnFeedback::new_shared(),
            Metrics::new(),
            Duration::ZERO,
            Duration::ZERO,
        )
    }

    fn record(key: &str, n: u8) -> OutRecord {
        OutRecord {
            partition_key: key.into(),
            data: vec![b'r', n],
        }
    }

    async fn run_writer(destination: Flaky, items: Vec<Item>) -> Arc<SharedLsnFeedback> {
        let feedback = SharedLsnFeedback::new_shared();
        let writer = Writer::new(
            destination,
            feedback.clone(),
            Metrics::new(),
            Duration::from_millis(1),
            Duration::from_millis(5),
        );
        let (tx, rx) = mpsc::channel(10);
        let task = tokio::spawn(writer.run(rx));
        for item in items {
            tx.send(item).await.unwrap();
        }
        drop(tx);
        task.await.unwrap();
        feedback
    }

    #[tokio::test]
    async fn refused_records_are_retried_and_each_key_stays_in_order() {
        let destination = Flaky {
            refusals: 3,
            ..Default::default()
        };
        let mut items = Vec::new();
        for n in 0..60u8 {
            items.push(Item::Record(record(&format!("k{}", n % 4), n)));
            if n % 10 == 9 {
                items.push(Item::Commit {
                    end_lsn: u64::from(n),
                    commit_time: Utc::now(),
                });
            }
        }
        let feedback = run_writer(destination.clone(), items).await;
        let accepted = destination.accepted.lock().unwrap().clone();
        assert_eq!(accepted.len(), 60, "every record arrives once");
        for key in ["k0", "k1", "k2", "k3"] {
            let order: Vec<u8> = accepted
                .iter()
                .filter(|r| r.partition_key == key)
                .map(|r| r.data[1])
                .collect();
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(order, sorted, "{key} out of order");
        }
        for request in destination.requests.lock().unwrap().iter() {
            let unique: HashSet<&String> = request.iter().collect();
            assert_eq!(
                unique.len(),
                request.len(),
                "a key twice in one request: {request:?}"
            );
        }
        assert_eq!(feedback.get_feedback_lsn(), (59, 59));
    }

    #[tokio::test]
    async fn a_transaction_is_confirmed_only_when_all_before_it_is_accepted() {
        let mut writer = idle_writer();
        writer.push(Item::Record(record("a", 0)));
        writer.push(Item::Commit {
            end_lsn: 100,
            commit_time: Utc::now(),
        });
        writer.push(Item::Record(record("b", 2)));
        writer.push(Item::Commit {
            end_lsn: 200,
            commit_time: Utc::now(),
        });
        // Kinesis took the second transaction's record but not yet the first's.
        if let Entry::Record { accepted, .. } = &mut writer.pending[2] {
            *accepted = true;
        }
        writer.advance();
        assert_eq!(writer.feedback.get_feedback_lsn(), (0, 0));
        if let Entry::Record { accepted, .. } = &mut writer.pending[0] {
            *accepted = true;
        }
        writer.advance();
        assert_eq!(writer.feedback.get_feedback_lsn(), (200, 200));
        assert!(writer.pending.is_empty());
    }

    #[test]
    fn batches_respect_the_request_limits() {
        let mut writer = idle_writer();
        for n in 0..600u32 {
            writer.push(Item::Record(OutRecord {
                partition_key: format!("k{n}"),
                data: vec![0; 100],
            }));
        }
        assert_eq!(writer.next_batch().len(), MAX_BATCH_RECORDS);
        let mut writer = idle_writer();
        for n in 0..8u32 {
            writer.push(Item::Record(OutRecord {
                partition_key: format!("k{n}"),
                data: vec![0; 1000 * 1000],
            }));
        }
        assert_eq!(writer.next_batch().len(), 5, "5 MiB per request");
    }
}
