//! The Postgres side: the initial snapshot, then the slot's changes, each turned into a
//! record and handed to the writer in WAL order, with every transaction's end after its
//! records so that the writer knows what it may confirm.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use nudge_domain::db_change::Op;
use pg_walstream::{
    format_lsn, EventType, LogicalReplicationStream, ReplicationError, RowData, SnapshotOutcome,
};
use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::catalog::{Catalog, Relation};
use crate::metrics::Metrics;
use crate::records::{Position, RecordBuilder};
use crate::sink::Item;
use crate::CdcError;

/// How often a long copy reports its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// While the writer is full, how often the replication connection still tells the
/// server it is alive (the server drops a silent client after `wal_sender_timeout`).
const KEEPALIVE_WHILE_BLOCKED: Duration = Duration::from_secs(5);
/// How often, between transactions, the server's position is confirmed.
const IDLE_CONFIRM_EVERY: Duration = Duration::from_millis(500);

pub struct Replicator {
    /// Cancelled on SIGTERM: the copy and the hand-over stop waiting on Kinesis.
    pub stop: CancellationToken,
    pub catalog: Catalog,
    pub builder: RecordBuilder,
    pub items: mpsc::Sender<Item>,
    pub metrics: Metrics,
}

/// The transaction being received.
struct Transaction {
    xid: u32,
    commit_lsn: u64,
    commit_time: DateTime<Utc>,
    seq: u32,
}

impl Replicator {
    /// Copies every published table through the slot's exported snapshot, as `r`
    /// records, and returns once Kinesis has accepted all of them. Creates the slot.
    pub async fn copy_snapshot(
        &mut self,
        stream: LogicalReplicationStream,
    ) -> Result<(LogicalReplicationStream, u64), CdcError> {
        let snapshot = match stream.snapshot().await.map_err(replication)? {
            SnapshotOutcome::Unavailable(stream) => {
                tracing::warn!("the slot already existed: no snapshot to copy");
                return Ok((stream, 0));
            }
            SnapshotOutcome::Available(snapshot) => snapshot,
        };
        let point = snapshot.consistent_point().value();
        let tables: Vec<String> = snapshot
            .tables()
            .iter()
            .map(|t| t.qualified_name())
            .collect();
        tracing::info!(tables = tables.len(), consistent_point = %format_lsn(point), "snapshot: copying the existing rows");
        self.metrics.snapshot_running.set(1);
        let started = Utc::now();
        let mut rows = snapshot.rows();
        let mut per_table: BTreeMap<String, u64> = BTreeMap::new();
        let mut total: u64 = 0;
        let mut last_report = tokio::time::Instant::now();
        while let Some(row) = rows.next_row().await.map_err(replication)? {
            let (relation, image) = self.image(row.relation.relation_id, &row.data).await?;
            let position = Position {
                lsn: point,
                commit_lsn: point,
                // Unique per snapshot row (a u32 wraps after four billion rows).
                seq: (total % (u64::from(u32::MAX) + 1)) as u32,
                txid: None,
                commit_time: started,
            };
            let record = self
                .builder
                .record(&relation, Op::Read, None, Some(image), position);
            self.send(Item::Record(record)).await?;
            total += 1;
            *per_table.entry(relation.table.clone()).or_default() += 1;
            self.metrics.snapshot_row(&relation.table);
            if last_report.elapsed() >= PROGRESS_EVERY {
                last_report = tokio::time::Instant::now();
                tracing::info!(rows = total, table = %relation.table, table_rows = per_table[&relation.table], "snapshot: copying");
            }
        }
        let stream = rows.finish().await.map_err(replication)?;
        let (accepted, all_accepted) = oneshot::channel();
        self.send(Item::Barrier(accepted)).await?;
        tokio::select! {
            accepted = all_accepted => accepted.map_err(|_| CdcError::WriterStopped)?,
            () = self.stop.cancelled() => return Err(CdcError::Stopped),
        }
        self.metrics.snapshot_running.set(0);
        tracing::info!(rows = total, per_table = ?per_table, "snapshot: copied, and in Kinesis");
        Ok((stream, total))
    }

    /// Streams changes until `stop` is cancelled or the stream fails for good.
    pub async fn stream_changes(
        &mut self,
        stream: &mut LogicalReplicationStream,
        stop: &CancellationToken,
    ) -> Result<(), CdcError> {
        let mut transaction: Option<Transaction> = None;
        // The end of the last transaction handed to the writer.
        let mut handed: u64 = 0;
        loop {
            // Between transactions, the wait for the next event is cut short now and
            // then to confirm the server's position (see `confirm_when_idle`).
            let tick = stop.child_token();
            let next = {
                let next = stream.next_event_with_retry(&tick);
                tokio::pin!(next);
                tokio::select! {
                    event = &mut next => event,
                    () = tokio::time::sleep(IDLE_CONFIRM_EVERY), if transaction.is_none() => {
                        tick.cancel();
                        next.await
                    }
                }
            };
            let event = match next {
                Ok(event) => event,
                Err(ReplicationError::Cancelled(_)) if stop.is_cancelled() => return Ok(()),
                Err(ReplicationError::Cancelled(_)) => {
                    confirm_when_idle(stream, handed).await;
                    continue;
                }
                Err(error) => return Err(replication(error)),
            };
            let lsn = event.lsn.value();
            match event.event_type {
                EventType::Begin {
                    transaction_id,
                    final_lsn,
                    commit_timestamp,
                } => {
                    // A transaction resent after a reconnect starts over here.
                    transaction = Some(Transaction {
                        xid: transaction_id,
                        commit_lsn: final_lsn.value(),
                        commit_time: commit_timestamp,
                        seq: 0,
                    });
                }
                EventType::Insert {
                    relation_oid, data, ..
                } => {
                    let (relation, after) = self.image(relation_oid, &data).await?;
                    let position = next_position(&mut transaction, lsn)?;
                    let record =
                        self.builder
                            .record(&relation, Op::Create, None, Some(after), position);
                    self.hand_over(stream, Item::Record(record)).await?;
                }
                EventType::Update {
                    relation_oid,
                    old_data,
                    new_data,
                    ..
                } => {
                    let (relation, after) = self.image(relation_oid, &new_data).await?;
                    let before = match old_data {
                        Some(old) => Some(self.image(relation_oid, &old).await?.1),
                        None => None,
                    };
                    let position = next_position(&mut transaction, lsn)?;
                    let record =
                        self.builder
                            .record(&relation, Op::Update, before, Some(after), position);
                    self.hand_over(stream, Item::Record(record)).await?;
                }
                EventType::Delete {
                    relation_oid,
                    old_data,
                    ..
                } => {
                    let (relation, before) = self.image(relation_oid, &old_data).await?;
                    let position = next_position(&mut transaction, lsn)?;
                    let record =
                        self.builder
                            .record(&relation, Op::Delete, Some(before), None, position);
                    self.hand_over(stream, Item::Record(record)).await?;
                }
                EventType::Truncate { tables, .. } => {
                    for table in tables {
                        let position = next_position(&mut transaction, lsn)?;
                        let record = self.builder.truncate(&table, position);
                        self.hand_over(stream, Item::Record(record)).await?;
                    }
                }
                EventType::Commit {
                    commit_timestamp,
                    end_lsn,
                    ..
                } => {
                    transaction = None;
                    handed = end_lsn.value();
                    let item = Item::Commit {
                        end_lsn: end_lsn.value(),
                        commit_time: commit_timestamp,
                    };
                    self.hand_over(stream, item).await?;
                    stream.maybe_send_feedback().await;
                }
                // Heartbeats: nothing to publish; their commit moves the slot on.
                EventType::Message { .. } => {}
                other => tracing::debug!(event = ?other, "replication event ignored"),
            }
        }
    }

    /// The typed image of a row, refreshing the table's columns once if the row has
    /// one the cached catalog does not know (an `ALTER TABLE` since it was read).
    async fn image(
        &mut self,
        oid: u32,
        data: &RowData,
    ) -> Result<(Arc<Relation>, Map<String, Value>), CdcError> {
        let relation = self.catalog.relation(oid).await?;
        let (image, unknown) = RecordBuilder::image(&relation, data);
        if !unknown {
            return Ok((relation, image));
        }
        self.catalog.forget(oid);
        let relation = self.catalog.relation(oid).await?;
        let (image, _) = RecordBuilder::image(&relation, data);
        Ok((relation, image))
    }

    /// Hands a snapshot item to the writer, waiting while it is full, unless stopped.
    async fn send(&self, item: Item) -> Result<(), CdcError> {
        tokio::select! {
            sent = self.items.send(item) => sent.map_err(|_| CdcError::WriterStopped),
            () = self.stop.cancelled() => Err(CdcError::Stopped),
        }
    }

    /// Hands an item to the writer, waiting while it is full, and meanwhile keeps
    /// the replication connection alive; unless stopped.
    async fn hand_over(
        &self,
        stream: &mut LogicalReplicationStream,
        item: Item,
    ) -> Result<(), CdcError> {
        loop {
            tokio::select! {
                permit = self.items.reserve() => {
                    permit.map_err(|_| CdcError::WriterStopped)?.send(item);
                    return Ok(());
                }
                () = self.stop.cancelled() => return Err(CdcError::Stopped),
                () = tokio::time::sleep(KEEPALIVE_WHILE_BLOCKED) => {
                    if let Err(error) = stream.send_feedback().await {
                        tracing::warn!(error = %crate::redact(&error.to_string()), "could not send feedback while Kinesis is behind");
                    }
                }
            }
        }
    }
}

/// While no transaction is open and the writer has confirmed every transaction handed
/// to it, nothing of ours is pending: the server's position (the last keepalive's
/// `wal_end`, its `sentPtr`) is confirmed, as pg_recvlogical does. Everything that
/// commits at or below it was already delivered ahead of that keepalive, and a
/// transaction still open across it commits above it. Without this, the slot's
/// confirmed position stays at the last published commit: a fast shutdown, which
/// waits for every WAL sender to confirm the server's end of WAL, never finishes,
/// and a quiet database's slot holds WAL that nobody needs.
async fn confirm_when_idle(stream: &mut LogicalReplicationStream, handed: u64) {
    let feedback = &stream.shared_lsn_feedback;
    let confirmed = feedback.get_applied_lsn();
    let position = stream.current_lsn();
    if confirmed < handed || position <= confirmed {
        // The writer still holds some of ours, or there is nothing new to confirm.
        return;
    }
    feedback.update_applied_lsn(position);
    if let Err(error) = stream.send_feedback().await {
        tracing::warn!(error = %crate::redact(&error.to_string()), "could not confirm the server's position");
    }
}

fn next_position(transaction: &mut Option<Transaction>, lsn: u64) -> Result<Position, CdcError> {
    let Some(transaction) = transaction.as_mut() else {
        return Err(CdcError::Replication(
            "a change arrived outside a transaction".into(),
        ));
    };
    let position = Position {
        lsn,
        commit_lsn: transaction.commit_lsn,
        seq: transaction.seq,
        txid: Some(transaction.xid),
        commit_time: transaction.commit_time,
    };
    transaction.seq = transaction.seq.wrapping_add(1);
    Ok(position)
}

fn replication(error: ReplicationError) -> CdcError {
    CdcError::Replication(crate::redact(&error.to_string()))
}
