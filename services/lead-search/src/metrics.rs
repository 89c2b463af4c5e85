//! The worker's Prometheus metrics, served at `/metrics` (with `/healthz`) on
//! `LEAD_SEARCH_METRICS_ADDRESS`; docs/operations.md lists them with the alerts worth
//! having.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    provider: String,
    /// `ok`, `rate_limited`, `quota_exhausted`, `unavailable` or `refused`.
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Histogram,
    results: Family<KindLabels, Counter>,
    waits: Family<KindLabels, Counter>,
    searches: Family<KindLabels, Counter>,
    pub orphans_requeued: Counter,
    pub in_progress: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("nudge_lead_search");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "provider_requests",
            "Provider requests by provider and outcome",
            requests.clone(),
        );
        let request_seconds = Histogram::new(exponential_buckets(0.025, 2.0, 10));
        registry.register(
            "provider_request_duration_seconds",
            "How long a provider request took",
            request_seconds.clone(),
        );
        let results = Family::<KindLabels, Counter>::default();
        registry.register(
            "results",
            "Results stored, by kind: new (a new lead), duplicate (a known lead), skipped (not a profile)",
            results.clone(),
        );
        let waits = Family::<KindLabels, Counter>::default();
        registry.register(
            "waits",
            "Searches put aside, by reason: rate_limited, quota_exhausted, budget, unavailable",
            waits.clone(),
        );
        let searches = Family::<KindLabels, Counter>::default();
        registry.register(
            "searches_ended",
            "Searches this worker ended, by status: completed, failed",
            searches.clone(),
        );
        let orphans_requeued = Counter::default();
        registry.register(
            "orphans_requeued",
            "Searches a dead worker left behind, queued again by the sweeper",
            orphans_requeued.clone(),
        );
        let in_progress = Gauge::default();
        registry.register(
            "in_progress",
            "Searches this worker is working now",
            in_progress.clone(),
        );
        Self {
            registry: Arc::new(registry),
            requests,
            request_seconds,
            results,
            waits,
            searches,
            orphans_requeued,
            in_progress,
        }
    }

    pub fn request(&self, provider: &str, outcome: &str, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                provider: provider.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
        self.request_seconds.observe(took.as_secs_f64());
    }

    pub fn results(&self, new: i32, duplicates: i32, skipped: i32) {
        for (kind, count) in [
            ("new", new),
            ("duplicate", duplicates),
            ("skipped", skipped),
        ] {
            let count = u64::try_from(count).unwrap_or(0);
            if count > 0 {
                self.results
                    .get_or_create(&KindLabels { kind: kind.into() })
                    .inc_by(count);
            }
        }
    }

    pub fn wait(&self, reason: &str) {
        self.waits
            .get_or_create(&KindLabels {
                kind: reason.into(),
            })
            .inc();
    }

    pub fn ended(&self, status: &str) {
        self.searches
            .get_or_create(&KindLabels {
                kind: status.into(),
            })
            .inc();
    }

    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

impl nudge_telemetry::metrics_server::Scrape for Metrics {
    fn scrape(&self) -> String {
        self.encode()
    }
}
