//! The lead-search worker on the shared consumer loop (`nudge_queue::consumer`): each
//! `lead_search.v1` message names a search; the [`Searcher`] works it.

use std::sync::Arc;

use nudge_domain::{Envelope, LeadSearchV1};
use nudge_queue::consumer::{self, Handler};
use nudge_queue::{Disposition, ReceivedMessage, SqsQueue};
use tokio_util::sync::CancellationToken;

use crate::job::{BeforePage, Outcome, Searcher};

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
        let extend = ExtendVisibility {
            queue: &self.queue,
            receipt_handle: &message.receipt_handle,
            seconds: u32::try_from(self.searcher.lease.as_secs()).unwrap_or(60),
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
