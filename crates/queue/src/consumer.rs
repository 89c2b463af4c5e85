//! The consumer loop every worker shares: long-poll, process up to `concurrency`
//! messages at once, apply each [`Disposition`] to the queue. On stop it receives no
//! more, hands back what a last poll brought, and waits (bounded) for the messages in
//! hand.

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
    let permits = Arc::new(Semaphore::new(concurrency));
    let max_batch = i32::try_from(concurrency.min(crate::MAX_BATCH)).unwrap_or(10);
    loop {
        let poll = queue.receive(max_batch, LONG_POLL);
        tokio::pin!(poll);
        let received = tokio::select! {
            received = &mut poll => received,
            () = stop.cancelled() => {
                // An abandoned long poll can still be answered, server-side, with
                // messages that then stay invisible for the whole visibility timeout.
                // Let it finish and hand back whatever it brings.
                if let Ok(messages) = poll.await {
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
            let handler = handler.clone();
            let queue = queue.clone();
            tokio::spawn(async move {
                handle(handler.as_ref(), &queue, message).await;
                drop(permit);
            });
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
