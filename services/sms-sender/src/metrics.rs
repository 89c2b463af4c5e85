//! The sender's Prometheus metrics, served at `/metrics` on `SENDER_METRICS_ADDRESS`
//! (docs/operations.md lists them with the alerts worth having).
//!
//! Counters and histograms are updated where the work happens; the queue's depth is
//! sampled from SQS's attributes every [`QUEUE_SAMPLE_EVERY`], since only SQS knows it.

use std::sync::Arc;
use std::time::Duration;

use nudge_queue::{QueueDepth, SqsQueue};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

/// How often the queue's depth is read from SQS.
pub const QUEUE_SAMPLE_EVERY: Duration = Duration::from_secs(15);

/// What became of one received queue message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The provider accepted it and the sid is recorded.
    Sent,
    /// Found at the provider after a crash, and adopted instead of resent.
    Adopted,
    /// A provider failure worth another attempt; back on the queue with a delay.
    Retry,
    /// No answer, or a 5xx: the provider may have it; reconciled before any new attempt.
    InDoubt,
    /// Failed for good (permanent error, or out of attempts).
    Failed,
    /// Cancelled at the moment of sending: the recipient's consent changed.
    Withdrawn,
    /// Held: inside the recipient's quiet hours now; sent when they end.
    Held,
    /// A redelivery of a message already processed; dropped.
    Duplicate,
    /// Cannot be processed at all; recorded and left for the dead-letter queue.
    Poison,
    /// Over the throughput limit; back on the queue.
    Throttled,
    /// Claimed by another worker, or not yet released by its schedule: looked at later.
    Deferred,
    /// The database could not be read or written; looked at later.
    DatabaseError,
    /// The provider has it, but recording the sid failed; reconciled later.
    Unrecorded,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Sent => "sent",
            Outcome::Adopted => "adopted",
            Outcome::Retry => "retry",
            Outcome::InDoubt => "in_doubt",
            Outcome::Failed => "failed",
            Outcome::Withdrawn => "withdrawn",
            Outcome::Held => "held",
            Outcome::Duplicate => "duplicate",
            Outcome::Poison => "poison",
            Outcome::Throttled => "throttled",
            Outcome::Deferred => "deferred",
            Outcome::DatabaseError => "database_error",
            Outcome::Unrecorded => "unrecorded",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
    /// Twilio's error code, `http_<status>` without one, `transport`, or empty.
    error_code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    operation: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    queue: String,
    state: &'static str,
}

/// The sender's metrics; cheap to clone (every part is shared).
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    outcomes: Family<OutcomeLabels, Counter>,
    provider_seconds: Family<ProviderLabels, Histogram>,
    in_flight: Gauge,
    queue_messages: Family<QueueLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("nudge_sender");
        let outcomes = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "messages",
            "Queue messages processed, by outcome and provider error code",
            outcomes.clone(),
        );
        // 5 ms to ~10 s: Twilio answers in tens of milliseconds, a timeout is seconds.
        let provider_seconds = Family::<ProviderLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 12))
        });
        registry.register(
            "provider_request_duration_seconds",
            "Time taken by calls to the provider's API, by operation and result",
            provider_seconds.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "in_flight",
            "Queue messages being processed by this replica now",
            in_flight.clone(),
        );
        let queue_messages = Family::<QueueLabels, Gauge>::default();
        registry.register(
            "queue_messages",
            "Messages on the queue and its dead-letter queue, by state (sampled from SQS)",
            queue_messages.clone(),
        );
        Self {
            registry: Arc::new(registry),
            outcomes,
            provider_seconds,
            in_flight,
            queue_messages,
        }
    }

    /// Counts one processed queue message.
    pub fn outcome(&self, outcome: Outcome, error_code: Option<String>) {
        self.outcomes
            .get_or_create(&OutcomeLabels {
                outcome: outcome.as_str(),
                error_code: error_code.unwrap_or_default(),
            })
            .inc();
    }

    /// Records one call to the provider.
    pub fn provider_call(&self, operation: &'static str, ok: bool, took: Duration) {
        self.provider_seconds
            .get_or_create(&ProviderLabels {
                operation,
                result: if ok { "ok" } else { "error" },
            })
            .observe(took.as_secs_f64());
    }

    /// Counts a message as in flight until the guard is dropped.
    pub fn in_flight(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    /// Sets the queue's sampled depth. `queue` is a name or a URL (labelled by name).
    pub fn queue_depth(&self, queue: &str, depth: QueueDepth) {
        let queue = queue.rsplit('/').next().unwrap_or(queue);
        for (state, count) in [
            ("visible", depth.visible),
            ("in_flight", depth.in_flight),
            ("delayed", depth.delayed),
        ] {
            self.queue_messages
                .get_or_create(&QueueLabels {
                    queue: queue.to_owned(),
                    state,
                })
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// Decrements the in-flight gauge when dropped, whatever path the work took.
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// `/metrics`, and `/healthz` (always 200 while the process runs).
impl nudge_telemetry::metrics_server::Scrape for Metrics {
    fn scrape(&self) -> String {
        self.encode()
    }
}

/// Samples the depth of `queue` and of its dead-letter queue until `stop`.
pub async fn sample_queues(metrics: Metrics, queue: SqsQueue, stop: CancellationToken) {
    let mut dead_letters: Option<SqsQueue> = None;
    loop {
        if dead_letters.is_none() {
            dead_letters = queue.dead_letter_queue().await.ok().flatten();
        }
        for queue in std::iter::once(&queue).chain(dead_letters.as_ref()) {
            match queue.depth().await {
                Ok(depth) => metrics.queue_depth(queue.name(), depth),
                Err(error) => tracing::debug!(%error, "could not sample the queue's depth"),
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(QUEUE_SAMPLE_EVERY) => {}
        }
    }
}
