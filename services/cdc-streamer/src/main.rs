//! `cdc-streamer` binary: streams until SIGTERM or SIGINT, then hands back cleanly.
//!
//! `cdc-streamer resnapshot` drops the slot, so that the next start copies every table
//! again (docs/cdc.md).

use std::process::ExitCode;

use anyhow::Context;
use cdc_streamer::metrics::Metrics;
use cdc_streamer::Config;
use nudge_telemetry::metrics_server::MetricsListener;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> ExitCode {
    nudge_telemetry::main("cdc-streamer", run()).await
}

async fn run() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    match std::env::args().nth(1).as_deref() {
        None | Some("run") => {}
        Some("resnapshot") => {
            cdc_streamer::resnapshot(&config).await?;
            println!(
                "slot {} dropped: the next start copies every table again",
                config.cdc_slot
            );
            return Ok(());
        }
        Some(other) => anyhow::bail!("unknown command '{other}' (commands: run, resnapshot)"),
    }
    let aws = nudge_aws::load_config().await;
    let kinesis = aws_sdk_kinesis::Client::new(&aws);
    let metrics = Metrics::new();
    let stop = CancellationToken::new();
    let server = MetricsListener::bind("CDC_METRICS_ADDRESS", config.metrics_address()?)?
        .serve(metrics.clone(), stop.clone())?;
    tokio::spawn(stop_on_signal(stop.clone()));
    let result = cdc_streamer::run_until_stopped(&config, kinesis, metrics, stop.clone()).await;
    stop.cancel();
    if let Some(server) = server {
        let _ = server.await;
    }
    result.context("cdc-streamer stopped")
}

async fn stop_on_signal(stop: CancellationToken) {
    nudge_telemetry::shutdown::requested().await;
    tracing::info!("stopping: sending what is held to Kinesis, then confirming the slot");
    stop.cancel();
    // Bounded whatever happens (Kinesis unreachable, a wedged connection): what was not
    // confirmed is sent again after the restart.
    tokio::time::sleep(SHUTDOWN_BOUND).await;
    tracing::error!(?SHUTDOWN_BOUND, "did not stop in time: exiting");
    std::process::exit(1);
}

/// The longest a stop may take: the writer's drain (20 s) and some.
const SHUTDOWN_BOUND: std::time::Duration = std::time::Duration::from_secs(30);
