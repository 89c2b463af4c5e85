//! The lead-search worker on the shared consumer loop (`nudge_queue::consumer`): each
//! `lead_search.v1` message names a search; the [`Searcher`] works it.

use std::sync::Arc;

use nudge_domain::{Envelope, LeadSearchV1};
use nudge_queue::consumer::{self, Handler};
use nudge_queue::{Disposition, ReceivedMessage, SqsQueue};
use tokio_util::sync::CancellationToken;

use crate::job::{BeforePage, Outcome, Searcher};

/// A message received this often (crashes, stops, database errors) is replaced by a
/// fresh one before the queue's redrive policy (5 receives) would dead-letter a live
/// search.
const ROTATE_AFTER_RECEIVES: u32 = 3;

/// How much longer than the lease the message in hand stays invisible: if the worker
/// dies, the message comes back only once the lease has lapsed, and the next worker
/// takes the search over at once.
const VISIBILITY_MARGIN_SECONDS: u32 = 5;

pub struct Worker {
    pub searcher: Searcher,
    /// The queue the messages come from: the worker extends a message's visibility
    /// while it works the search, so SQS does not hand it to another worker.
    pub queue: SqsQueue,
    pub queue_name: String,
}

impl Handler for Worker {
    async fn process(&self, message: &ReceivedMessage) -> Disposition {
        let envelope = match Envelope::<LeadSearchV1>::from_json(&message.body) {
            Ok(envelope) => envelope,
            Err(error) => {
                return consumer::reject(
                    &self.searcher.pool,
                    &self.queue_name,
                    message,
                    &format!("poison: {error}"),
                )
                .await
            }
        };
        let id = envelope.payload.lead_search_id;
        tracing::Span::current().record("message_id", tracing::field::display(id));
        if message.receive_count >= ROTATE_AFTER_RECEIVES {
            return self.rotate(message, envelope.tenant_id, id).await;
        }
        let extend = ExtendVisibility {
            queue: &self.queue,
            receipt_handle: &message.receipt_handle,
            seconds: u32::try_from(self.searcher.lease.as_secs())
                .unwrap_or(60)
                .saturating_add(VISIBILITY_MARGIN_SECONDS),
        };
        let outcome = self.searcher.run(envelope.tenant_id, id, &extend).await;
        if outcome == Outcome::Missing {
            return consumer::reject(
                &self.searcher.pool,
                &self.queue_name,
                message,
                &format!(
                    "poison: no lead search {id} in tenant {}",
                    envelope.tenant_id
                ),
            )
            .await;
        }
        outcome.disposition(self.searcher.lease)
    }

    async fn ready(&self) -> bool {
        nudge_db::pool::answers(&self.searcher.pool).await
    }
}

impl Worker {
    /// Queues the search again with a fresh message and drops this one.
    async fn rotate(
        &self,
        message: &ReceivedMessage,
        tenant: nudge_domain::TenantId,
        id: nudge_domain::LeadSearchId,
    ) -> Disposition {
        let requeued = async {
            let mut conn = self.searcher.pool.get().await?;
            nudge_db::lead_searches::requeue(&mut conn, tenant, id).await
        }
        .await;
        match requeued {
            Ok(true) => {
                tracing::info!(
                    receives = message.receive_count,
                    "lead search queued again with a fresh message"
                );
                Disposition::Delete
            }
            // Ended, or no such search: nothing to carry on.
            Ok(false) => Disposition::Delete,
            Err(nudge_db::DbError::Unavailable(error)) => {
                tracing::warn!(%error, "could not queue the lead search again: the database is unavailable");
                Disposition::Unavailable
            }
            Err(error) => {
                tracing::warn!(%error, "could not queue the lead search again");
                Disposition::RetryAfter(30)
            }
        }
    }
}

/// Keeps the message in hand invisible for a lease more at every page.
struct ExtendVisibility<'a> {
    queue: &'a SqsQueue,
    receipt_handle: &'a str,
    seconds: u32,
}

impl BeforePage for ExtendVisibility<'_> {
    async fn before_page(&self) {
        if let Err(error) = self
            .queue
            .change_visibility(self.receipt_handle, self.seconds)
            .await
        {
            // The lease still guards the search: a second worker would find it busy.
            tracing::warn!(%error, "could not extend the message's visibility");
        }
    }
}

pub async fn run(worker: Arc<Worker>, concurrency: usize, stop: CancellationToken) {
    let queue = worker.queue.clone();
    consumer::run(worker, queue, concurrency, stop).await;
}
