//! `provider-sandbox` binary (DEV ONLY): serves the Twilio-shaped sandbox.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let _telemetry = match nudge_telemetry::init("provider-sandbox") {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("provider-sandbox: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = async {
        let config: provider_sandbox::Config = nudge_domain::config::from_env()?;
        let sandbox = provider_sandbox::build(&config)?;
        tracing::info!(port = sandbox.port, account_sid = %config.sandbox_account_sid, "provider sandbox listening (dev only)");
        sandbox.server.await?;
        anyhow::Ok(())
    }
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("provider-sandbox: {error:#}");
            ExitCode::FAILURE
        }
    }
}
