//! `provider-sandbox` binary (DEV ONLY): serves the Twilio-shaped sandbox.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    nudge_telemetry::main("provider-sandbox", run()).await
}

async fn run() -> anyhow::Result<()> {
    let config: provider_sandbox::Config = nudge_domain::config::from_env()?;
    let sandbox = provider_sandbox::build(&config)?;
    tracing::info!(port = sandbox.port, account_sid = %config.sandbox_account_sid, "provider sandbox listening (dev only)");
    sandbox.server.await?;
    Ok(())
}
