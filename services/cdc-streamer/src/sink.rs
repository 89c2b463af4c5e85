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

/// Where a record is on its way to Kinesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    /// Waiting for a request (new, or refused and to be put again).
    Waiting,
    /// In a request whose answer has not come back.
    InFlight,
    Accepted,
}

enum Entry {
    Record {
        record: OutRecord,
        progress: Progress,
    },
    Commit {
        end_lsn: u64,
        commit_time: DateTime<Utc>,
    },
    Barrier(Option<oneshot::Sender<()>>),
}

/// A request's answer: which entries it carried (by sequence number) and what Kinesis
/// made of them.
struct Answer {
    carried: Vec<u64>,
    results: Result<Vec<Option<String>>, String>,
}

pub struct Writer<D> {
    destination: Arc<D>,
    /// Every entry not yet behind the confirmed position, in WAL order; `pending[0]`
    /// has sequence number `front`.
    pending: VecDeque<Entry>,
    front: u64,
    /// Records not yet accepted (waiting or in flight).
    unaccepted: usize,
    /// Records waiting for a request.
    waiting: usize,
    /// When the oldest waiting record began to wait for others to fill its batch.
    lingering_since: Option<Instant>,
    /// The waiting records cannot go until a request in flight answers (each one's key
    /// has an earlier record in flight).
    blocked: bool,
    /// No request starts before this (after refusals: the backoff).
    not_before: Option<Instant>,
    feedback: Arc<SharedLsnFeedback>,
    metrics: Metrics,
    linger: Duration,
    max_backoff: Duration,
    max_in_flight: usize,
    failures_in_a_row: u32,
}

impl<D: Destination + 'static> Writer<D> {
    pub fn new(
        destination: D,
        feedback: Arc<SharedLsnFeedback>,
        metrics: Metrics,
        linger: Duration,
        max_backoff: Duration,
        max_in_flight: usize,
    ) -> Self {
        Self {
            destination: Arc::new(destination),
            pending: VecDeque::new(),
            front: 0,
            unaccepted: 0,
            waiting: 0,
            lingering_since: None,
            blocked: false,
            not_before: None,
            feedback,
            metrics,
            linger,
            max_backoff,
            max_in_flight: max_in_flight.max(1),
            failures_in_a_row: 0,
        }
    }

    /// Runs until `items` is closed and everything received is accepted. Up to
    /// `max_in_flight` requests are out at once; a key's next record waits until the
    /// request carrying its previous one has answered, so each row stays in order.
    pub async fn run(mut self, mut items: mpsc::Receiver<Item>) {
        let mut open = true;
        let mut in_flight = futures_util::stream::FuturesUnordered::new();
        loop {
            if !open && self.unaccepted == 0 && in_flight.is_empty() {
                return;
            }
            let launch_at = self.launch_at(open);
            let may_launch = launch_at.is_some() && in_flight.len() < self.max_in_flight;
            tokio::select! {
                Some(answer) = futures_util::StreamExt::next(&mut in_flight), if !in_flight.is_empty() => {
                    self.settle(answer);
                }
                item = items.recv(), if open && self.pending.len() < MAX_PENDING => match item {
                    Some(item) => self.push(item),
                    None => open = false,
                },
                () = tokio::time::sleep_until(launch_at.unwrap_or_else(Instant::now)), if may_launch => {
                    match self.take_batch() {
                        Some((carried, records)) => {
                            let destination = self.destination.clone();
                            in_flight.push(async move {
                                let started = std::time::Instant::now();
                                let results = destination.put(records).await;
                                (Answer { carried, results }, started.elapsed())
                            });
                        }
                        None => self.blocked = true,
                    }
                }
            }
            self.advance();
        }
    }

    /// When the next request may start: once the oldest waiting record has lingered
    /// (at once when a request is full or the input has ended), not during a backoff,
    /// and not while every waiting record waits for a request in flight.
    fn launch_at(&self, open: bool) -> Option<Instant> {
        if self.waiting == 0 || self.blocked {
            return None;
        }
        let filled = self.waiting >= MAX_BATCH_RECORDS || !open;
        let lingered = self
            .lingering_since
            .map_or_else(Instant::now, |since| since + self.linger);
        let at = if filled { Instant::now() } else { lingered };
        Some(self.not_before.map_or(at, |not_before| at.max(not_before)))
    }

    fn push(&mut self, item: Item) {
        match item {
            Item::Record(record) => {
                self.unaccepted += 1;
                self.note_waiting(1);
                self.blocked = false;
                self.pending.push_back(Entry::Record {
                    record,
                    progress: Progress::Waiting,
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

    fn note_waiting(&mut self, more: usize) {
        if self.waiting == 0 && more > 0 {
            self.lingering_since = Some(Instant::now());
        }
        self.waiting += more;
    }

    /// The indexes of the next batch: waiting records in order, at most one per
    /// partition key and none whose key has a record in flight, within the request
    /// limits.
    fn next_batch(&self) -> Vec<usize> {
        let mut batch = Vec::new();
        // The keys that cannot go: those in flight, then each one already taken.
        let mut keys: HashSet<&str> = self
            .pending
            .iter()
            .filter_map(|entry| match entry {
                Entry::Record {
                    record,
                    progress: Progress::InFlight,
                } => Some(record.partition_key.as_str()),
                _ => None,
            })
            .collect();
        let mut bytes = 0;
        for (index, entry) in self.pending.iter().enumerate() {
            let Entry::Record {
                record,
                progress: Progress::Waiting,
            } = entry
            else {
                continue;
            };
            // The first waiting record of a key goes; every later one of that key
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

    /// Marks the next batch in flight: its entries' sequence numbers and its records.
    /// `None` when no waiting record may go now.
    fn take_batch(&mut self) -> Option<(Vec<u64>, Vec<OutRecord>)> {
        let batch = self.next_batch();
        if batch.is_empty() {
            return None;
        }
        let mut records = Vec::with_capacity(batch.len());
        for &index in &batch {
            if let Entry::Record { record, progress } = &mut self.pending[index] {
                *progress = Progress::InFlight;
                records.push(record.clone());
            }
        }
        self.waiting -= batch.len();
        // What is left waits for its own linger from now.
        self.lingering_since = (self.waiting > 0).then(Instant::now);
        let front = self.front;
        Some((
            batch
                .into_iter()
                .map(|index| front + index as u64)
                .collect(),
            records,
        ))
    }

    /// Applies a request's answer: accepted records are done, refused ones wait again
    /// (and the next request waits for the backoff).
    fn settle(&mut self, (answer, took): (Answer, Duration)) {
        self.metrics.put_seconds.observe(took.as_secs_f64());
        let size = answer.carried.len();
        let refused = match answer.results {
            Ok(results) => {
                self.metrics.batch_records.observe(size as f64);
                let mut refused = 0;
                for (seq, result) in answer.carried.into_iter().zip(results) {
                    match result {
                        None => {
                            if let Some(progress) = self.progress_of(seq) {
                                *progress = Progress::Accepted;
                                self.unaccepted -= 1;
                            }
                        }
                        Some(code) => {
                            if let Some(progress) = self.progress_of(seq) {
                                *progress = Progress::Waiting;
                            }
                            self.metrics.refused(&code);
                            refused += 1;
                        }
                    }
                }
                self.metrics.records_sent.inc_by((size - refused) as u64);
                refused
            }
            Err(error) => {
                tracing::warn!(%error, records = size, "PutRecords failed; retrying");
                self.metrics.put_errors.inc();
                for seq in answer.carried {
                    if let Some(progress) = self.progress_of(seq) {
                        *progress = Progress::Waiting;
                    }
                }
                size
            }
        };
        self.note_waiting(refused);
        self.blocked = false;
        if refused > 0 {
            self.failures_in_a_row = self.failures_in_a_row.saturating_add(1);
            self.not_before = Some(Instant::now() + self.backoff());
        } else {
            self.failures_in_a_row = 0;
            self.not_before = None;
        }
    }

    /// The progress of the record with sequence number `seq` (one in flight is always
    /// still pending: the front stops at it).
    fn progress_of(&mut self, seq: u64) -> Option<&mut Progress> {
        let index = usize::try_from(seq.checked_sub(self.front)?).ok()?;
        match self.pending.get_mut(index) {
            Some(Entry::Record { progress, .. }) => Some(progress),
            _ => None,
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
                    progress: Progress::Waiting | Progress::InFlight,
                    ..
                } => break,
                Entry::Record { .. } => {}
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
            self.front += 1;
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
            1,
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
            4,
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
        *writer.progress_of(2).unwrap() = Progress::Accepted;
        writer.advance();
        assert_eq!(writer.feedback.get_feedback_lsn(), (0, 0));
        *writer.progress_of(0).unwrap() = Progress::Accepted;
        writer.advance();
        assert_eq!(writer.feedback.get_feedback_lsn(), (200, 200));
        assert!(writer.pending.is_empty());
    }

    /// Accepts everything after a pause, noting how many requests were out at once and
    /// whether a key was ever in two of them.
    #[derive(Clone, Default)]
    struct Slow {
        keys_out: Arc<Mutex<Vec<String>>>,
        requests_out: Arc<Mutex<usize>>,
        most_at_once: Arc<Mutex<usize>>,
        overlapping_keys: Arc<Mutex<Vec<String>>>,
        accepted: Arc<Mutex<Vec<OutRecord>>>,
    }

    impl Destination for Slow {
        async fn put(&self, records: Vec<OutRecord>) -> Result<Vec<Option<String>>, String> {
            let keys: Vec<String> = records.iter().map(|r| r.partition_key.clone()).collect();
            {
                let mut out = self.keys_out.lock().unwrap();
                for key in &keys {
                    if out.contains(key) {
                        self.overlapping_keys.lock().unwrap().push(key.clone());
                    }
                }
                out.extend(keys.iter().cloned());
                let mut requests = self.requests_out.lock().unwrap();
                *requests += 1;
                let mut most = self.most_at_once.lock().unwrap();
                *most = (*most).max(*requests);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            {
                let mut out = self.keys_out.lock().unwrap();
                for key in &keys {
                    if let Some(at) = out.iter().position(|k| k == key) {
                        out.remove(at);
                    }
                }
                *self.requests_out.lock().unwrap() -= 1;
            }
            self.accepted
                .lock()
                .unwrap()
                .extend(records.iter().cloned());
            Ok(vec![None; records.len()])
        }
    }

    #[tokio::test]
    async fn requests_overlap_but_a_key_never_has_two_records_in_flight() {
        let destination = Slow::default();
        let feedback = SharedLsnFeedback::new_shared();
        let writer = Writer::new(
            destination.clone(),
            feedback.clone(),
            Metrics::new(),
            Duration::ZERO,
            Duration::from_millis(5),
            4,
        );
        let (tx, rx) = mpsc::channel(1);
        let task = tokio::spawn(writer.run(rx));
        // Records arrive one by one, faster than a request answers: each request
        // takes what waits, and a hot key's next record must wait for its previous one.
        for n in 0..40u8 {
            let key = if n % 2 == 0 {
                "hot".to_owned()
            } else {
                format!("k{n}")
            };
            tx.send(Item::Record(record(&key, n))).await.unwrap();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tx.send(Item::Commit {
            end_lsn: 40,
            commit_time: Utc::now(),
        })
        .await
        .unwrap();
        drop(tx);
        task.await.unwrap();
        assert!(
            destination.overlapping_keys.lock().unwrap().is_empty(),
            "a key in two requests at once: {:?}",
            destination.overlapping_keys.lock().unwrap()
        );
        assert!(
            *destination.most_at_once.lock().unwrap() > 1,
            "requests never overlapped"
        );
        let accepted = destination.accepted.lock().unwrap().clone();
        assert_eq!(accepted.len(), 40);
        let hot: Vec<u8> = accepted
            .iter()
            .filter(|r| r.partition_key == "hot")
            .map(|r| r.data[1])
            .collect();
        let mut sorted = hot.clone();
        sorted.sort_unstable();
        assert_eq!(hot, sorted, "the hot key out of order");
        assert_eq!(feedback.get_feedback_lsn(), (40, 40));
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
