//! `webhook-listener` binary: loads config, serves until SIGTERM.

use std::process::ExitCode;

use webhook_listener::{Application, Config};

#[tokio::main]
async fn main() -> ExitCode {
    nudge_telemetry::main("webhook-listener", run()).await
}

async fn run() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let aws = nudge_aws::load_config().await;
    let app = Application::build(config, &aws).await?;
    tracing::info!(port = app.port(), "webhook-listener listening");
    app.run_until_stopped().await?;
    Ok(())
}
