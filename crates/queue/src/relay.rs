//! The outbox relay: moves rows of the `outbox` table to their SQS queues. Every service
//! that writes the outbox runs one for the queues it writes (the API for
//! `outbound-sms`, the webhook listener for `inbound-sms` and its replies on
//! `outbound-sms`); `FOR UPDATE SKIP LOCKED` keeps replicas and services off each
//! other's rows. A row is deleted only after SQS has taken it, so SQS being down delays
//! messages but never loses them, and requests keep being accepted meanwhile.

use std::sync::Arc;
use std::time::Duration;

use nudge_db::models::OutboxRow;
use nudge_db::outbox::{relay_batch, Refused, RelayOutcome};
use nudge_db::{DbError, DbPool};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{OutgoingMessage, SqsQueue, MAX_BATCH};

/// `SendMessageBatch` calls in flight at once, each with up to [`MAX_BATCH`] rows, all
/// from one transaction: one call at a time moved about 250 messages/s to LocalStack,
/// a tenth of what the API accepts (docs/performance.md).
pub const CALLS_IN_FLIGHT: usize = 10;

/// Rows one relay transaction takes.
const ROWS_PER_ROUND: usize = MAX_BATCH * CALLS_IN_FLIGHT;

/// Relays the outbox rows of `logical` (the outbox's queue name) to `queue`. Runs until
/// `stop` is cancelled; wakes on `wakeup` (a row was just written) or every `interval`.
pub async fn run(
    pool: DbPool,
    logical: &'static str,
    queue: SqsQueue,
    wakeup: Arc<Notify>,
    interval: Duration,
    stop: CancellationToken,
) {
    loop {
        let outcome = relay_once(&pool, logical, &queue).await;
        let full_batch =
            matches!(outcome, Ok(RelayOutcome { published, .. }) if published == ROWS_PER_ROUND);
        match outcome {
            Ok(RelayOutcome { published, failed }) if published + failed > 0 => {
                tracing::debug!(published, failed, "outbox batch relayed");
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, queue = logical, "outbox relay could not reach the database")
            }
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

/// Relays one round of up to [`ROWS_PER_ROUND`] rows of `logical` to `queue`: the rows
/// locked in one transaction, sent as up to [`CALLS_IN_FLIGHT`] `SendMessageBatch`
/// calls at once, and deleted together once SQS has taken them (a refused row, or a
/// call that failed, stays for a later round).
pub async fn relay_once(
    pool: &DbPool,
    logical: &str,
    queue: &SqsQueue,
) -> Result<RelayOutcome, DbError> {
    let mut conn = pool.get().await?;
    relay_batch(&mut conn, logical, ROWS_PER_ROUND as i64, async |rows| {
        let calls = rows.chunks(MAX_BATCH).map(|chunk| send_chunk(queue, chunk));
        futures_util::future::join_all(calls)
            .await
            .into_iter()
            .flatten()
            .collect()
    })
    .await
}

/// One `SendMessageBatch` of up to ten rows: the rows SQS did not take.
async fn send_chunk(queue: &SqsQueue, rows: &[OutboxRow]) -> Vec<Refused> {
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
}
