//! `sms-sender`'s configuration, from environment variables (docs/configuration.md).

use secrecy::SecretString;

use crate::throughput::Limits;
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
    /// Message segments per second per sender number, by kind (docs/configuration.md).
    #[serde(default = "defaults::rate_long_code")]
    pub sender_rate_long_code: f64,
    #[serde(default = "defaults::rate_toll_free")]
    pub sender_rate_toll_free: f64,
    #[serde(default = "defaults::rate_short_code")]
    pub sender_rate_short_code: f64,
    /// Per-number rates: `+15017122661=10,+18885550100=30`.
    #[serde(default)]
    pub sender_rate_overrides: Option<String>,
    /// Segments per second for the whole provider account.
    #[serde(default = "defaults::rate_account")]
    pub sender_rate_account: f64,
    /// Where `/metrics` and `/healthz` listen (`host:port`; port 0 picks one), or `off`.
    #[serde(default = "defaults::metrics_address")]
    pub sender_metrics_address: String,
    /// The S3 bucket of MMS images (the API stores them there).
    #[serde(default = "defaults::media_bucket")]
    pub media_bucket: String,
    /// Keys that open tenants' provider tokens (`id:base64key,...`; docs/tenancy.md).
    /// Unset: only numbers in the platform's account can send.
    #[serde(default)]
    pub secrets_keyring: Option<SecretString>,
}

mod defaults {
    pub fn pool_size() -> usize {
        10
    }
    pub fn media_bucket() -> String {
        "nudge-media".into()
    }
    pub fn outbound_queue() -> String {
        "outbound-sms".into()
    }
    pub fn twilio_base() -> String {
        "https://api.twilio.com".into()
    }
    /// Each message spends most of its time waiting (the database, the provider, SQS),
    /// so a replica keeps many in hand: 30 sent about a third more a second than 10 on
    /// the benchmark's machine, for about 3 MiB more at peak (docs/benchmarks.md).
    pub fn concurrency() -> usize {
        30
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
    pub fn rate_long_code() -> f64 {
        1.0
    }
    pub fn rate_toll_free() -> f64 {
        3.0
    }
    pub fn rate_short_code() -> f64 {
        100.0
    }
    pub fn rate_account() -> f64 {
        100.0
    }
    pub fn metrics_address() -> String {
        "0.0.0.0:9102".into()
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
        for (name, rate) in [
            ("SENDER_RATE_LONG_CODE", config.sender_rate_long_code),
            ("SENDER_RATE_TOLL_FREE", config.sender_rate_toll_free),
            ("SENDER_RATE_SHORT_CODE", config.sender_rate_short_code),
            ("SENDER_RATE_ACCOUNT", config.sender_rate_account),
        ] {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(nudge_domain::config::ConfigError::Invalid(format!(
                    "{name} must be a positive number of segments per second"
                )));
            }
        }
        config.limits()?;
        config.metrics_address()?;
        config.keyring()?;
        Ok(config)
    }

    /// `SECRETS_KEYRING`, parsed.
    pub fn keyring(
        &self,
    ) -> Result<Option<nudge_domain::sealed::Keyring>, nudge_domain::config::ConfigError> {
        use secrecy::ExposeSecret;
        nudge_domain::sealed::Keyring::from_config(
            self.secrets_keyring.as_ref().map(|k| k.expose_secret()),
        )
    }

    /// The metrics listener's address; `None` when metrics are off.
    pub fn metrics_address(
        &self,
    ) -> Result<Option<std::net::SocketAddr>, nudge_domain::config::ConfigError> {
        nudge_domain::config::optional_listen_address(
            "SENDER_METRICS_ADDRESS",
            &self.sender_metrics_address,
        )
    }

    /// The throughput limits, with the per-number overrides parsed.
    pub fn limits(&self) -> Result<Limits, nudge_domain::config::ConfigError> {
        let overrides = match &self.sender_rate_overrides {
            Some(raw) => Limits::parse_overrides(raw).map_err(|e| {
                nudge_domain::config::ConfigError::Invalid(format!("SENDER_RATE_OVERRIDES: {e}"))
            })?,
            None => Default::default(),
        };
        Ok(Limits {
            long_code: self.sender_rate_long_code,
            toll_free: self.sender_rate_toll_free,
            short_code: self.sender_rate_short_code,
            overrides,
            account: self.sender_rate_account,
        })
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
        let error = Config::from_vars(vars(&[("SENDER_RATE_LONG_CODE", "0")])).unwrap_err();
        assert!(
            error.to_string().contains("SENDER_RATE_LONG_CODE"),
            "{error}"
        );
        let error =
            Config::from_vars(vars(&[("SENDER_RATE_OVERRIDES", "+15017122661")])).unwrap_err();
        assert!(
            error.to_string().contains("SENDER_RATE_OVERRIDES"),
            "{error}"
        );
        let error = Config::from_vars(vars(&[("SENDER_CONCURRENCY", "0")])).unwrap_err();
        assert!(error.to_string().contains("SENDER_CONCURRENCY"), "{error}");
        let error =
            Config::from_vars(vars(&[("SENDER_METRICS_ADDRESS", "localhost")])).unwrap_err();
        assert!(
            error.to_string().contains("SENDER_METRICS_ADDRESS"),
            "{error}"
        );
        let off = Config::from_vars(vars(&[("SENDER_METRICS_ADDRESS", "off")])).unwrap();
        assert_eq!(off.metrics_address().unwrap(), None);
    }

    #[test]
    fn worker_ids_are_random_unless_given() {
        let config = Config::from_vars(vars(&[])).unwrap();
        assert_ne!(config.worker_id(), config.worker_id());
        let named = Config::from_vars(vars(&[("SENDER_WORKER_ID", "sender-a")])).unwrap();
        assert_eq!(named.worker_id(), "sender-a");
    }
}
