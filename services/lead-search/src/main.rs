//! `lead-search` binary: loads config, builds the worker, the outbox relay (searches
//! resumed after a wait) and the orphan sweeper, and runs them until SIGTERM.

use std::process::ExitCode;

use lead_search::{Application, Config};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> ExitCode {
    nudge_telemetry::main("lead-search", run()).await
}

async fn run() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let aws = nudge_aws::load_config().await;
    let application = Application::build(config, &aws).await?;
    tokio::spawn(stop_on_signal(application.stop_token()));
    application.run_until_stopped().await?;
    tracing::info!("lead-search stopped");
    Ok(())
}

async fn stop_on_signal(stop: CancellationToken) {
    nudge_telemetry::shutdown::requested().await;
    stop.cancel();
}
