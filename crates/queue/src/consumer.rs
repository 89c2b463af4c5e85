//! The consumer loop every worker shares: long-poll, process up to `concurrency`
//! messages at once (one receive loop per ten), apply each [`Disposition`] to the
//! queue. On stop it receives no more, hands back what a last poll brought, and waits
//! (bounded) for the messages in hand.
//!
//! While the handler's database is away ([`Disposition::Unavailable`]) the loop stops
//! receiving, and the messages in hand wait in hand (their visibility extended) until
//! a probe ([`Handler::ready`]) finds it back: SQS counts a receive each time a message
//! is handed out, so a worker that kept receiving through an outage of minutes would
//! push good messages to the dead-letter queue.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::{Disposition, ReceivedMessage, SqsQueue};

/// SQS's longest long poll.
const LONG_POLL: Duration = Duration::from_secs(20);
/// How long a stopping worker waits for messages in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// While a dependency is away: how often it is probed.
const PROBE_EVERY: Duration = Duration::from_secs(2);
/// While a dependency is away, a message in hand is kept invisible this long, renewed
/// at a third of it.
const HOLD_VISIBILITY_SECONDS: u32 = 60;
/// When a message held for an outage is let go (the worker stops, or no loop holds
/// it): seconds until it is visible again.
pub const UNAVAILABLE_RETRY_SECONDS: u32 = 10;

/// A worker's per-message logic, free of SQS: it says what to do with the message.
pub trait Handler: Send + Sync + 'static {
    fn process(&self, message: &ReceivedMessage) -> impl Future<Output = Disposition> + Send;

    /// Whether what `process` needs answers again (after it returned
    /// [`Disposition::Unavailable`]): for most workers, a round trip to the database.
    fn ready(&self) -> impl Future<Output = bool> + Send {
        async { true }
    }
}

/// Open while the handler's dependencies answer; see the module's documentation.
#[derive(Clone)]
struct Gate {
    open: Arc<watch::Sender<bool>>,
    /// Whether someone is probing now: one probe at a time, whoever holds a turn.
    probing: Arc<std::sync::atomic::AtomicBool>,
}

impl Gate {
    fn new() -> Self {
        Self {
            open: Arc::new(watch::Sender::new(true)),
            probing: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        }
    }

    /// Probes the dependency unless someone else is; reopens the gate when it answers.
    /// The receive loops and the held messages all probe, so that the gate reopens
    /// even when every receive loop is waiting for a place that held messages hold.
    async fn probe<H: Handler>(&self, handler: &H) {
        use std::sync::atomic::Ordering;
        if self
            .probing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        if handler.ready().await {
            tracing::info!("the dependency answers again: receiving");
            self.reopen();
        }
        self.probing.store(false, Ordering::Release);
    }

    fn is_open(&self) -> bool {
        *self.open.borrow()
    }

    fn close(&self) {
        self.open
            .send_if_modified(|open| std::mem::replace(open, false));
    }

    fn reopen(&self) {
        self.open
            .send_if_modified(|open| !std::mem::replace(open, true));
    }

    async fn opened(&self) {
        let mut open = self.open.subscribe();
        // The sender lives as long as `self`: `wait_for` cannot fail.
        let _ = open.wait_for(|open| *open).await;
    }
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
    let gate = Gate::new();
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
                gate.clone(),
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
    gate: Gate,
    stop: CancellationToken,
) {
    loop {
        if !gate.is_open() && !wait_for_dependency(handler.as_ref(), &gate, &stop).await {
            break;
        }
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
            let (gate, stop) = (gate.clone(), stop.clone());
            tokio::spawn(async move {
                handle_gated(handler.as_ref(), &queue, message, Some((&gate, &stop))).await;
                drop(permit);
            });
        }
    }
}

/// Probes the handler's dependency until it answers (the gate reopens) or the worker
/// stops; returns whether to carry on.
async fn wait_for_dependency<H: Handler>(
    handler: &H,
    gate: &Gate,
    stop: &CancellationToken,
) -> bool {
    tracing::warn!("a dependency is unavailable: receiving nothing until it answers");
    while !gate.is_open() {
        tokio::select! {
            () = stop.cancelled() => return false,
            () = gate.opened() => break,
            () = tokio::time::sleep(PROBE_EVERY) => {}
        }
        gate.probe(handler).await;
    }
    true
}

/// Processes one received message inside a span that continues the producer's trace,
/// then applies the disposition to the queue. A message that finds the database
/// away ([`Disposition::Unavailable`]) comes back after
/// [`UNAVAILABLE_RETRY_SECONDS`] (the loop in `run` holds it in hand instead).
pub async fn handle<H: Handler>(handler: &H, queue: &SqsQueue, message: ReceivedMessage) {
    handle_gated(handler, queue, message, None).await;
}

/// [`handle`], holding a message whose dependency is away until `gate` reopens
/// (unless `stop`), when given them.
async fn handle_gated<H: Handler>(
    handler: &H,
    queue: &SqsQueue,
    message: ReceivedMessage,
    hold: Option<(&Gate, &CancellationToken)>,
) {
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
        let mut disposition = handler.process(&message).await;
        while disposition == Disposition::Unavailable {
            let Some((gate, stop)) = hold else { break };
            gate.close();
            if !hold_until_open(handler, queue, &message, gate, stop).await {
                break;
            }
            disposition = handler.process(&message).await;
        }
        let applied = match disposition {
            Disposition::Delete => queue.delete(&message.receipt_handle).await,
            Disposition::RetryAfter(seconds) => {
                queue
                    .change_visibility(&message.receipt_handle, seconds)
                    .await
            }
            Disposition::DeadLetter => queue.change_visibility(&message.receipt_handle, 0).await,
            Disposition::Unavailable => {
                queue
                    .change_visibility(&message.receipt_handle, UNAVAILABLE_RETRY_SECONDS)
                    .await
            }
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

/// Keeps a message in hand, invisible, until the gate reopens (`true`) or the worker
/// stops (`false`), probing the dependency meanwhile.
async fn hold_until_open<H: Handler>(
    handler: &H,
    queue: &SqsQueue,
    message: &ReceivedMessage,
    gate: &Gate,
    stop: &CancellationToken,
) -> bool {
    tracing::warn!("the database is unavailable: holding the message until it answers");
    let renew_every = Duration::from_secs(u64::from(HOLD_VISIBILITY_SECONDS / 3));
    let mut renewed: Option<tokio::time::Instant> = None;
    while !gate.is_open() {
        // Renewed first: the receive's own visibility may be nearly spent.
        if renewed.is_none_or(|at| at.elapsed() >= renew_every) {
            renewed = Some(tokio::time::Instant::now());
            if let Err(error) = queue
                .change_visibility(&message.receipt_handle, HOLD_VISIBILITY_SECONDS)
                .await
            {
                // It may come back to another worker meanwhile: harmless, handlers
                // are idempotent.
                tracing::warn!(%error, "could not keep the held message invisible");
            }
        }
        tokio::select! {
            () = gate.opened() => return true,
            () = stop.cancelled() => return false,
            () = tokio::time::sleep(PROBE_EVERY) => gate.probe(handler).await,
        }
    }
    true
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
