//! `sms-sender`'s configuration, from environment variables (docs/configuration.md).

use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    pub database_url: SecretString,
    #[serde(default = "defaults::pool_size")]
    pub database_pool_size: usize,
    /// Queue name or full URL of the outbound queue.
    #[serde(default = "defaults::outbound_queue")]
    pub outbound_sms_queue: String,
    #[serde(default = "defaults::twilio_base")]
    pub twilio_api_base_url: String,
    pub twilio_account_sid: String,
    pub twilio_auth_token: SecretString,
    /// The webhook listener's public base URL; status callbacks go to
    /// `{PUBLIC_BASE_URL}/twilio/status`. Unset: no callbacks are requested.
    #[serde(default)]
    pub public_base_url: Option<String>,
    /// Messages processed at once by this replica.
    #[serde(default = "defaults::concurrency")]
    pub sender_concurrency: usize,
    /// Attempts (SQS receives) after which a message that keeps failing in a
    /// retryable way is marked `failed`. Keep it below the queue's maxReceiveCount.
    #[serde(default = "defaults::max_attempts")]
    pub sender_max_attempts: u32,
    #[serde(default = "defaults::provider_timeout_ms")]
    pub provider_timeout_ms: u64,
}

mod defaults {
    pub fn pool_size() -> usize {
        10
    }
    pub fn outbound_queue() -> String {
        "outbound-sms".into()
    }
    pub fn twilio_base() -> String {
        "https://api.twilio.com".into()
    }
    pub fn concurrency() -> usize {
        10
    }
    pub fn max_attempts() -> u32 {
        4
    }
    pub fn provider_timeout_ms() -> u64 {
        10_000
    }
}

impl Config {
    pub fn from_env() -> Result<Self, nudge_domain::config::ConfigError> {
        let config: Self = nudge_domain::config::from_env()?;
        if config.sender_concurrency == 0 {
            return Err(nudge_domain::config::ConfigError::Invalid(
                "SENDER_CONCURRENCY must be at least 1".into(),
            ));
        }
        Ok(config)
    }

    pub fn status_callback_url(&self) -> Option<String> {
        self.public_base_url
            .as_deref()
            .map(|base| format!("{}/twilio/status", base.trim_end_matches('/')))
    }
}
