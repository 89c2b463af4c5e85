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
    /// This replica's name in the leases it takes; default: host name, process id and
    /// a random suffix (unique per process start).
    #[serde(default)]
    pub sender_worker_id: Option<String>,
    /// How long a claim protects a message being sent. Must outlast a provider call:
    /// at least the provider timeout plus 5 seconds.
    #[serde(default = "defaults::lease_seconds")]
    pub sender_lease_seconds: u64,
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
    pub fn lease_seconds() -> u64 {
        60
    }
}

impl Config {
    pub fn from_env() -> Result<Self, nudge_domain::config::ConfigError> {
        Self::from_vars(std::env::vars())
    }

    /// Reads and checks the configuration from the given variables.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, nudge_domain::config::ConfigError> {
        let config: Self = nudge_domain::config::from_iter(vars)?;
        if config.sender_concurrency == 0 {
            return Err(nudge_domain::config::ConfigError::Invalid(
                "SENDER_CONCURRENCY must be at least 1".into(),
            ));
        }
        if config.sender_lease_seconds.saturating_mul(1_000) < config.provider_timeout_ms + 5_000 {
            return Err(nudge_domain::config::ConfigError::Invalid(format!(
                "SENDER_LEASE_SECONDS ({}) must be at least PROVIDER_TIMEOUT_MS + 5 s ({} ms)",
                config.sender_lease_seconds,
                config.provider_timeout_ms + 5_000
            )));
        }
        Ok(config)
    }

    /// `SENDER_WORKER_ID`, or one made unique to this process.
    pub fn worker_id(&self) -> String {
        self.sender_worker_id.clone().unwrap_or_else(|| {
            let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "sender".into());
            let suffix: u32 = rand::random();
            format!("{host}-{}-{suffix:08x}", std::process::id())
        })
    }

    pub fn status_callback_url(&self) -> Option<String> {
        self.public_base_url
            .as_deref()
            .map(|base| format!("{}/twilio/status", base.trim_end_matches('/')))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        [
            ("DATABASE_URL", "postgres://localhost/nudge"),
            ("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000"),
            ("TWILIO_AUTH_TOKEN", "secret"),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    }

    #[test]
    fn a_lease_must_outlast_a_provider_call() {
        let config = Config::from_vars(vars(&[])).unwrap();
        assert_eq!(config.sender_lease_seconds, 60);
        let error = Config::from_vars(vars(&[("SENDER_LEASE_SECONDS", "12")])).unwrap_err();
        assert!(
            error.to_string().contains("SENDER_LEASE_SECONDS"),
            "{error}"
        );
        assert!(Config::from_vars(vars(&[
            ("SENDER_LEASE_SECONDS", "12"),
            ("PROVIDER_TIMEOUT_MS", "5000")
        ]))
        .is_ok());
        let error = Config::from_vars(vars(&[("SENDER_CONCURRENCY", "0")])).unwrap_err();
        assert!(error.to_string().contains("SENDER_CONCURRENCY"), "{error}");
    }

    #[test]
    fn worker_ids_are_random_unless_given() {
        let config = Config::from_vars(vars(&[])).unwrap();
        assert_ne!(config.worker_id(), config.worker_id());
        let named = Config::from_vars(vars(&[("SENDER_WORKER_ID", "sender-a")])).unwrap();
        assert_eq!(named.worker_id(), "sender-a");
    }
}
