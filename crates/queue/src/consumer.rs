//! The consumer loop every worker shares: long-poll, process up to `concurrency`
//! messages at once (one receive loop per ten), apply each [`Disposition`] to the
//! queue. On stop it receives no more, hands back what a last poll brought, and waits
//! (bounded) for the messages in hand.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::{Disposition, ReceivedMessage, SqsQueue};

/// SQS's longest long poll.
const LONG_POLL: Duration = Duration::from_secs(20);
/// How long a stopping worker waits for messages in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// A worker's per-message logic, free of SQS: it says what to do with the message.
pub trait Handler: Send + Sync + 'static {
    fn process(&self, message: &ReceivedMessage) -> impl Future<Output = Disposition> + Send;
}

pub async fn run<H: Handler>(
    handler: Arc<H>,
    queue: SqsQueue,
    concurrency: usize,
    stop: CancellationToken,
) {
    let concurrency = concurrency.max(1);
    let permits = Arc::new(Semaphore::new(concurrency));
    let max_batch = i32::try_from(concurrency.min(crate::MAX_BATCH)).unwrap_or(10);
    // One receive call brings at most ten messages and takes a round trip, so a worker
    // that may hold more than ten polls with more than one loop: otherwise its receives,
    // one after the other, would bound it below what it can process.
    let pollers: Vec<_> = (0..concurrency.div_ceil(crate::MAX_BATCH))
        .map(|_| {
            tokio::spawn(poll(
                handler.clone(),
                queue.clone(),
                permits.clone(),
                max_batch,
                stop.clone(),
            ))
        })
        .collect();
    for poller in pollers {
        if let Err(error) = poller.await {
            tracing::error!(%error, queue = queue.name(), "a receive loop ended abnormally");
        }
    }
    let all = u32::try_from(concurrency).unwrap_or(u32::MAX);
    if tokio::time::timeout(DRAIN_TIMEOUT, permits.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            queue = queue.name(),
            "stopped with messages still in flight; SQS will redeliver them"
        );
    }
}

/// One receive loop: it receives a batch, then starts each message as a place frees
/// up, then receives the next (so a busy worker has the next batch in hand when a
/// place frees up, and full batches cost SQS fewer calls).
async fn poll<H: Handler>(
    handler: Arc<H>,
    queue: SqsQueue,
    permits: Arc<Semaphore>,
    max: i32,
    stop: CancellationToken,
) {
    loop {
        let receive = queue.receive(max, LONG_POLL);
        tokio::pin!(receive);
        let received = tokio::select! {
            received = &mut receive => received,
            () = stop.cancelled() => {
                // An abandoned long poll can still be answered, server-side, with
                // messages that then stay invisible for the whole visibility timeout.
                // Let it finish and hand back whatever it brings.
                if let Ok(messages) = receive.await {
                    release(&queue, messages).await;
                }
                break;
            }
        };
        let messages = match received {
            Ok(messages) => messages,
            Err(error) => {
                tracing::warn!(%error, queue = queue.name(), "receive failed; backing off");
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_secs(2)) => continue,
                }
            }
        };
        for message in messages {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let (handler, queue) = (handler.clone(), queue.clone());
            tokio::spawn(async move {
                handle(handler.as_ref(), &queue, message).await;
                drop(permit);
            });
        }
    }
}

/// Processes one received message inside a span that continues the producer's trace,
/// then applies the disposition to the queue.
pub async fn handle<H: Handler>(handler: &H, queue: &SqsQueue, message: ReceivedMessage) {
    let span = tracing::info_span!(
        "queue_message",
        queue = queue.name(),
        message_id = tracing::field::Empty,
        sqs_message_id = %message.message_id,
        receive_count = message.receive_count,
    );
    if let Some(traceparent) = &message.traceparent {
        nudge_telemetry::set_remote_parent(&span, traceparent);
    }
    async {
        let disposition = handler.process(&message).await;
        let applied = match disposition {
            Disposition::Delete => queue.delete(&message.receipt_handle).await,
            Disposition::RetryAfter(seconds) => {
                queue
                    .change_visibility(&message.receipt_handle, seconds)
                    .await
            }
            Disposition::DeadLetter => queue.change_visibility(&message.receipt_handle, 0).await,
        };
        if let Err(error) = applied {
            // The message comes back after its visibility timeout; handlers are
            // idempotent, so the second look is harmless.
            tracing::warn!(%error, ?disposition, "could not apply the disposition");
        }
    }
    .instrument(span)
    .await;
}

/// What a worker does with a message it can never process (not an envelope of its type,
/// or naming nothing): records why in `queue_rejections` (which the DLQ tooling shows)
/// and leaves it visible, so that the queue's redrive policy moves it to the
/// dead-letter queue.
pub async fn reject(
    pool: &nudge_db::DbPool,
    queue_name: &str,
    received: &ReceivedMessage,
    reason: &str,
) -> Disposition {
    tracing::error!(sqs_message_id = %received.message_id, reason, "poison message");
    let recorded = async {
        let mut conn = pool.get().await?;
        nudge_db::rejections::record(
            &mut conn,
            queue_name,
            &received.message_id,
            reason,
            &received.body,
            i32::try_from(received.receive_count).unwrap_or(i32::MAX),
        )
        .await
    }
    .await;
    if let Err(error) = recorded {
        tracing::warn!(%error, "could not record the poison message");
    }
    Disposition::DeadLetter
}

/// Makes received but unprocessed messages visible again at once.
async fn release(queue: &SqsQueue, messages: Vec<ReceivedMessage>) {
    for message in messages {
        if let Err(error) = queue.change_visibility(&message.receipt_handle, 0).await {
            tracing::warn!(%error, "could not release a message; SQS will redeliver it later");
        }
    }
}
