//! How `sms-sender` is put together and run: [`Application::build`] makes the object
//! graph from a checked [`Config`], [`Application::run_until_stopped`] runs it. `main`,
//! the tests and the benchmarks all start the service this one way.

use std::sync::Arc;

use nudge_aws::SdkConfig;
use nudge_queue::SqsQueue;
use nudge_telemetry::background::Background;
use nudge_telemetry::metrics_server::MetricsListener;
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

use crate::accounts::Accounts;
use crate::batches::Batches;
use crate::metrics::Metrics;
use crate::process::Sender;
use crate::throughput::Throttle;
use crate::twilio::TwilioClient;
use crate::Config;

pub struct Application {
    sender: Arc<Sender>,
    queue: SqsQueue,
    concurrency: usize,
    metrics_listener: MetricsListener,
    stop: CancellationToken,
}

impl Application {
    /// Connects nothing yet but checks everything that can be checked before the first
    /// message: the provider's URL, the metrics port. The database pool connects lazily.
    pub async fn build(config: Config, aws: &SdkConfig) -> anyhow::Result<Self> {
        let queue = SqsQueue::new(aws_sdk_sqs::Client::new(aws), &config.outbound_sms_queue);
        let metrics_listener =
            MetricsListener::bind("SENDER_METRICS_ADDRESS", config.metrics_address)?;
        let pool = nudge_db::build_pool(
            config.database_url.expose_secret(),
            config.database_pool_size,
        )?;
        let sender = Sender {
            batches: Batches::start(&pool, &config.worker_id, config.lease, config.concurrency),
            throttle: Throttle::start(
                pool.clone(),
                config.limits,
                config.twilio.account_sid.clone(),
                config.concurrency,
            ),
            accounts: Accounts::new(pool.clone(), config.keyring),
            pool,
            twilio: TwilioClient::new(
                &config.twilio.api_base_url,
                &config.twilio.account_sid,
                config.twilio.auth_token,
                config.twilio.timeout,
            )?,
            status_callback: config.status_callback_url,
            media: nudge_aws::media_store::MediaStore::new(aws, &config.media_bucket),
            queue_name: config.outbound_sms_queue,
            max_attempts: config.max_attempts,
            worker_id: config.worker_id,
            lease: config.lease,
            metrics: Metrics::new(),
        };
        Ok(Self {
            sender: Arc::new(sender),
            queue,
            concurrency: config.concurrency,
            metrics_listener,
            stop: CancellationToken::new(),
        })
    }

    /// The sender the worker runs: tests hand it single messages.
    pub fn sender(&self) -> Arc<Sender> {
        self.sender.clone()
    }

    /// Cancelling it stops everything the application runs (SIGTERM does, in `main`).
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Receives and sends until the stop token, then drains what is in hand (bounded)
    /// and waits for the metrics server's last scrape. The queue sampler runs beside
    /// the worker, watched: if it ends unasked (a panic), the worker stops too and the
    /// result is that failure, for the process to exit non-zero and be restarted.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let stop = self.stop;
        let metrics_server = self
            .metrics_listener
            .serve(self.sender.metrics.clone(), stop.clone())?;
        let mut background = Background::stopped_by(stop.clone());
        if metrics_server.is_some() {
            background.spawn(
                "queue sampler",
                crate::metrics::sample_queues(
                    self.sender.metrics.clone(),
                    self.queue.clone(),
                    stop.clone(),
                ),
            );
        }
        tracing::info!(queue = %self.sender.queue_name, concurrency = self.concurrency, "sms-sender running");
        let work = crate::worker::run(self.sender, self.queue, self.concurrency, stop.clone());
        let ran = background.run_beside(work).await;
        // The worker stopped on the token, so did the server: its last scrape.
        if let Some(server) = metrics_server {
            let _ = server.await;
        }
        Ok(ran?)
    }
}
