//! Queue access for Nudge's services: an SQS queue known by name (resolved to its URL
//! once), batch sends with per-entry results, long-poll receives, and the W3C
//! `traceparent` carried in a message attribute so that a consumer's span continues the
//! producer's trace.
//!
//! Workers keep their per-message logic free of SQS: it returns a [`Disposition`] and
//! the consumer loop applies it. So the logic is tested as a plain function, and this
//! adapter against LocalStack.

pub mod consumer;
mod dead_letter;
pub mod relay;
mod sqs;

pub use dead_letter::{DeadLetter, RedriveReport};

pub use sqs::{BatchFailure, OutgoingMessage, QueueDepth, QueueError, ReceivedMessage, SqsQueue};

/// The SQS message attribute that carries the trace context.
pub const TRACEPARENT_ATTRIBUTE: &str = "traceparent";

/// SQS takes at most ten entries per batch call.
pub const MAX_BATCH: usize = 10;

/// What a consumer decided about one received message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Done (or a duplicate of something done): delete it from the queue.
    Delete,
    /// Try again after this many seconds (visibility timeout change).
    RetryAfter(u32),
    /// It can never succeed: leave it, visible again at once, so that the queue's redrive
    /// policy moves it to the dead-letter queue after its maximum receive count.
    DeadLetter,
    /// Nothing was done because a dependency (the database) is unavailable. The
    /// consumer loop keeps the message in hand and stops receiving until
    /// [`consumer::Handler::ready`] says the dependency is back, then processes it
    /// again: an outage of minutes spends no receive count, so it never sends good
    /// messages to the dead-letter queue.
    Unavailable,
}
