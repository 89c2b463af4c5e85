//! `sms-sender` binary: loads config, builds the sender, runs the worker until SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use nudge_queue::SqsQueue;
use secrecy::ExposeSecret;
use sms_sender::batches::Batches;
use sms_sender::metrics::Metrics;
use sms_sender::process::Sender;
use sms_sender::throughput::Throttle;
use sms_sender::twilio::TwilioClient;
use sms_sender::{worker, Config};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> ExitCode {
    let _telemetry = match nudge_telemetry::init("sms-sender") {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("sms-sender: {error}");
            return ExitCode::FAILURE;
        }
    };
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sms-sender: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let aws = nudge_queue::load_aws_config().await;
    let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&aws), &config.outbound_sms_queue);
    let metrics = Metrics::new();
    let stop = CancellationToken::new();
    let metrics_server = match config.metrics_address()? {
        Some(address) => {
            let listener = std::net::TcpListener::bind(address)
                .with_context(|| format!("cannot listen on SENDER_METRICS_ADDRESS {address}"))?;
            tracing::info!(address = %listener.local_addr()?, "metrics at /metrics");
            tokio::spawn(sms_sender::metrics::sample_queues(
                metrics.clone(),
                queue.clone(),
                stop.clone(),
            ));
            Some(sms_sender::metrics::serve(
                listener,
                metrics.clone(),
                stop.clone(),
            )?)
        }
        None => None,
    };
    let pool = nudge_db::build_pool(
        config.database_url.expose_secret(),
        config.database_pool_size,
    )?;
    let worker_id = config.worker_id();
    let lease = chrono::Duration::seconds(
        i64::try_from(config.sender_lease_seconds).unwrap_or(i64::MAX / 1_000),
    );
    let sender = Arc::new(Sender {
        batches: Batches::start(&pool, &worker_id, lease, config.sender_concurrency),
        throttle: Throttle::start(
            pool.clone(),
            config.limits()?,
            config.twilio_account_sid.clone(),
            config.sender_concurrency,
        ),
        accounts: sms_sender::accounts::Accounts::new(pool.clone(), config.keyring()?),
        pool,
        twilio: TwilioClient::new(
            &config.twilio_api_base_url,
            &config.twilio_account_sid,
            config.twilio_auth_token.clone(),
            Duration::from_millis(config.provider_timeout_ms),
        )?,
        status_callback: config.status_callback_url(),
        media: nudge_queue::media_store::MediaStore::new(&aws, &config.media_bucket),
        queue_name: config.outbound_sms_queue.clone(),
        max_attempts: config.sender_max_attempts,
        worker_id,
        lease,
        metrics,
    });
    tokio::spawn(stop_on_signal(stop.clone()));
    tracing::info!(queue = %config.outbound_sms_queue, concurrency = config.sender_concurrency, "sms-sender running");
    worker::run(sender, queue, config.sender_concurrency, stop.clone()).await;
    // The signal that stopped the worker stopped the metrics server and the sampler
    // too (one token); wait for the server to finish its last scrape.
    stop.cancel();
    if let Some(server) = metrics_server {
        let _ = server.await;
    }
    tracing::info!("sms-sender stopped");
    Ok(())
}

async fn stop_on_signal(stop: CancellationToken) {
    nudge_telemetry::shutdown::requested().await;
    stop.cancel();
}
