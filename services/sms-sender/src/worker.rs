//! The sender on the shared consumer loop (`nudge_queue::consumer`): long-poll, up to
//! `concurrency` messages at once, each disposition applied to the queue, a bounded
//! drain on stop.

use std::sync::Arc;

use nudge_queue::consumer::{self, Handler};
use nudge_queue::{Disposition, ReceivedMessage, SqsQueue};
use tokio_util::sync::CancellationToken;

use crate::process::Sender;

impl Handler for Sender {
    async fn process(&self, message: &ReceivedMessage) -> Disposition {
        let _in_flight = self.metrics.in_flight();
        Sender::process(self, message).await
    }

    async fn ready(&self) -> bool {
        nudge_db::pool::answers(&self.pool).await
    }
}

pub async fn run(
    sender: Arc<Sender>,
    queue: SqsQueue,
    concurrency: usize,
    stop: CancellationToken,
) {
    consumer::run(sender, queue, concurrency, stop).await;
}

/// Processes one received message and applies its disposition (tests call it directly).
pub async fn handle(sender: &Sender, queue: &SqsQueue, message: ReceivedMessage) {
    consumer::handle(sender, queue, message).await;
}
