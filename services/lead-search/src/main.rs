//! `lead-search` binary: loads config, picks the provider, runs the worker and the
//! outbox relay (searches resumed after a wait) until SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use lead_search::job::Searcher;
use lead_search::worker::{self, Worker};
use lead_search::{providers, Config};
use nudge_queue::SqsQueue;
use nudge_telemetry::background::Background;
use secrecy::ExposeSecret;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> ExitCode {
    let _telemetry = match nudge_telemetry::init("lead-search") {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("lead-search: {error}");
            return ExitCode::FAILURE;
        }
    };
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("lead-search: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let vars: Vec<(String, String)> = std::env::vars().collect();
    let config = Config::from_vars(&vars)?;
    let provider = providers::from_env(
        &config.lead_search_provider,
        &vars,
        Duration::from_millis(config.lead_search_provider_timeout_ms),
    )?;
    let aws = nudge_queue::load_aws_config().await;
    let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&aws), &config.lead_searches_queue);
    let pool = nudge_db::build_pool(
        config.database_url.expose_secret(),
        config.database_pool_size,
    )?;
    let mut background = Background::new();
    let stop = background.stop_token();
    let metrics = lead_search::metrics::Metrics::new();
    let metrics_server = match config.metrics_address()? {
        Some(address) => {
            let listener = std::net::TcpListener::bind(address).with_context(|| {
                format!("cannot listen on LEAD_SEARCH_METRICS_ADDRESS {address}")
            })?;
            tracing::info!(address = %listener.local_addr()?, "metrics at /metrics");
            Some(nudge_telemetry::metrics_server::serve(
                listener,
                metrics.clone(),
                stop.clone(),
            )?)
        }
        None => None,
    };
    let key_daily_queries = config
        .lead_search_key_daily_queries
        .unwrap_or_else(|| provider.default_daily_queries());
    let tenant_daily_queries = lead_search::config::tenant_budget(
        config.lead_search_tenant_daily_queries,
        key_daily_queries,
    )?;
    tracing::info!(
        provider = provider.name(),
        key = provider.key_fingerprint(),
        key_daily_queries,
        tenant_daily_queries,
        queue = %config.lead_searches_queue,
        "lead-search running"
    );
    background.spawn(
        "outbox relay",
        nudge_queue::relay::run(
            pool.clone(),
            nudge_db::lead_searches::LEAD_SEARCHES_QUEUE,
            queue.clone(),
            Arc::new(Notify::new()),
            Duration::from_millis(config.outbox_relay_interval_ms),
            stop.clone(),
        ),
    );
    background.spawn(
        "orphan sweeper",
        lead_search::sweeper::run(
            pool.clone(),
            Duration::from_secs(config.lead_search_orphan_after_seconds),
            Duration::from_secs(60),
            metrics.clone(),
            stop.clone(),
        ),
    );
    let worker = Arc::new(Worker {
        searcher: Searcher {
            pool,
            provider,
            worker_id: config.worker_id(),
            lease: Duration::from_secs(config.lead_search_lease_seconds),
            page_delay: Duration::from_millis(config.lead_search_page_delay_ms),
            tenant_daily_queries,
            key_daily_queries,
            max_failures: config.lead_search_max_failures,
            stop: stop.clone(),
            metrics,
        },
        queue,
        queue_name: config.lead_searches_queue.clone(),
    });
    tokio::spawn(stop_on_signal(stop.clone()));
    let work = worker::run(worker, config.lead_search_concurrency, stop.clone());
    tokio::pin!(work);
    // A background loop that fails stops the worker too (it hands back what it
    // holds), and the process exits non-zero for its orchestrator to restart it.
    let failed = tokio::select! {
        () = &mut work => None,
        failed = background.failed() => {
            stop.cancel();
            work.await;
            Some(failed)
        }
    };
    let stopped = background.stop().await;
    if let Some(server) = metrics_server {
        let _ = server.await;
    }
    if let Some(failed) = failed {
        return Err(failed.into());
    }
    stopped?;
    tracing::info!("lead-search stopped");
    Ok(())
}

async fn stop_on_signal(stop: CancellationToken) {
    nudge_telemetry::shutdown::requested().await;
    stop.cancel();
}
