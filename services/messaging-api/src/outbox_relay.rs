//! The outbox relay: moves accepted messages from the `outbox` table to SQS. It runs in
//! every API replica; `FOR UPDATE SKIP LOCKED` keeps replicas off each other's rows. A
//! row is deleted only after SQS has taken it, so SQS being down delays messages but
//! never loses them, and requests keep getting 202 meanwhile.

use std::sync::Arc;
use std::time::Duration;

use nudge_db::outbox::{relay_batch, Refused, RelayOutcome};
use nudge_db::{DbError, DbPool};
use nudge_queue::{OutgoingMessage, SqsQueue, MAX_BATCH};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::send::OUTBOUND_QUEUE;

/// Runs until `stop` is cancelled; wakes on `wakeup` (a message was just accepted) or
/// every `interval`.
pub async fn run(
    pool: DbPool,
    queue: SqsQueue,
    wakeup: Arc<Notify>,
    interval: Duration,
    stop: CancellationToken,
) {
    loop {
        let outcome = relay_once(&pool, &queue).await;
        let full_batch =
            matches!(outcome, Ok(RelayOutcome { published, .. }) if published == MAX_BATCH);
        match outcome {
            Ok(RelayOutcome { published, failed }) if published + failed > 0 => {
                tracing::debug!(published, failed, "outbox batch relayed");
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "outbox relay could not reach the database"),
        }
        if full_batch {
            continue; // more may be waiting
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = wakeup.notified() => {}
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// Relays one batch of up to ten rows.
pub async fn relay_once(pool: &DbPool, queue: &SqsQueue) -> Result<RelayOutcome, DbError> {
    let mut conn = pool.get().await?;
    relay_batch(&mut conn, OUTBOUND_QUEUE, MAX_BATCH as i64, async |rows| {
        let messages: Vec<OutgoingMessage> = rows
            .iter()
            .enumerate()
            .map(|(index, row)| OutgoingMessage {
                entry_id: index.to_string(),
                body: row.body.to_string(),
                traceparent: row.traceparent.clone(),
            })
            .collect();
        match queue.send_batch(&messages).await {
            Ok(failures) => failures
                .into_iter()
                .filter_map(|failure| {
                    let row = rows.get(failure.entry_id.parse::<usize>().ok()?)?;
                    tracing::warn!(outbox_id = %row.id, reason = %failure.reason, "SQS refused an outbox entry");
                    Some(Refused { id: row.id, error: failure.reason })
                })
                .collect(),
            Err(error) => {
                tracing::warn!(%error, rows = rows.len(), "SQS unavailable; outbox rows kept for retry");
                rows.iter()
                    .map(|row| Refused { id: row.id, error: error.to_string() })
                    .collect()
            }
        }
    })
    .await
}
