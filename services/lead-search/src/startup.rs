//! How `lead-search` is put together and run: [`Application::build`] makes the worker,
//! the outbox relay and the orphan sweeper from a checked [`Config`];
//! [`Application::run_until_stopped`] runs them, watched, until the stop token. `main`,
//! the tests and the benchmark all start the service this one way.

use std::sync::Arc;
use std::time::Duration;

use nudge_aws::SdkConfig;
use nudge_db::DbPool;
use nudge_queue::SqsQueue;
use nudge_telemetry::background::Background;
use nudge_telemetry::metrics_server::MetricsListener;
use secrecy::ExposeSecret;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::job::Searcher;
use crate::metrics::Metrics;
use crate::worker::Worker;
use crate::Config;

/// How often the sweeper looks for searches a dead worker left behind.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

pub struct Application {
    worker: Arc<Worker>,
    pool: DbPool,
    concurrency: usize,
    outbox_relay_interval: Duration,
    orphan_after: Duration,
    metrics_listener: MetricsListener,
    stop: CancellationToken,
}

impl Application {
    /// Checks what can be checked before the first search (the metrics port); the
    /// database pool connects lazily.
    pub async fn build(config: Config, aws: &SdkConfig) -> anyhow::Result<Self> {
        let queue = SqsQueue::new(aws_sdk_sqs::Client::new(aws), &config.lead_searches_queue);
        let metrics_listener =
            MetricsListener::bind("LEAD_SEARCH_METRICS_ADDRESS", config.metrics_address)?;
        let pool = nudge_db::build_pool(
            config.database_url.expose_secret(),
            config.database_pool_size,
        )?;
        let stop = CancellationToken::new();
        tracing::info!(
            provider = config.provider.name(),
            key = config.provider.key_fingerprint(),
            key_daily_queries = config.key_daily_queries,
            tenant_daily_queries = config.tenant_daily_queries,
            queue = %config.lead_searches_queue,
            "lead-search configured"
        );
        let worker = Worker {
            searcher: Searcher {
                pool: pool.clone(),
                provider: config.provider,
                worker_id: config.worker_id,
                lease: config.lease,
                page_delay: config.page_delay,
                tenant_daily_queries: config.tenant_daily_queries,
                key_daily_queries: config.key_daily_queries,
                max_failures: config.max_failures,
                stop: stop.clone(),
                metrics: Metrics::new(),
            },
            queue,
            queue_name: config.lead_searches_queue,
        };
        Ok(Self {
            worker: Arc::new(worker),
            pool,
            concurrency: config.concurrency,
            outbox_relay_interval: config.outbox_relay_interval,
            orphan_after: config.orphan_after,
            metrics_listener,
            stop,
        })
    }

    /// The worker the consumer loop runs: tests run it alone, or abort it (a crash).
    pub fn worker(&self) -> Arc<Worker> {
        self.worker.clone()
    }

    /// Cancelling it stops everything the application runs (SIGTERM does, in `main`).
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Works searches until the stop token, beside the outbox relay (searches resumed
    /// after a wait) and the orphan sweeper. A background loop that fails stops the
    /// worker too (it hands back what it holds), and the result is that failure, for
    /// the process to exit non-zero and its orchestrator to restart it.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let metrics = self.worker.searcher.metrics.clone();
        let metrics_server = self
            .metrics_listener
            .serve(metrics.clone(), self.stop.clone())?;
        let mut background = Background::stopped_by(self.stop.clone());
        background.spawn(
            "outbox relay",
            nudge_queue::relay::run(
                self.pool.clone(),
                nudge_db::lead_searches::LEAD_SEARCHES_QUEUE,
                self.worker.queue.clone(),
                Arc::new(Notify::new()),
                self.outbox_relay_interval,
                self.stop.clone(),
            ),
        );
        background.spawn(
            "orphan sweeper",
            crate::sweeper::run(
                self.pool.clone(),
                self.orphan_after,
                SWEEP_EVERY,
                metrics,
                self.stop.clone(),
            ),
        );
        tracing::info!(concurrency = self.concurrency, "lead-search running");
        let work = crate::worker::run(self.worker, self.concurrency, self.stop.clone());
        let ran = background.run_beside(work).await;
        if let Some(server) = metrics_server {
            let _ = server.await;
        }
        Ok(ran?)
    }
}
