//! `sms-sender`'s configuration, from environment variables (docs/configuration.md).

use std::net::SocketAddr;
use std::time::Duration;

use nudge_domain::config::ConfigError;
use nudge_domain::sealed::Keyring;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::throughput::Limits;

/// `sms-sender`'s configuration, checked and typed once at load: nothing downstream
/// parses a string of it again.
#[derive(Debug)]
pub struct Config {
    pub database_url: SecretString,
    pub database_pool_size: usize,
    /// Queue name or full URL of the outbound queue.
    pub outbound_sms_queue: String,
    /// The platform's Twilio account, and how long a call to it may take.
    pub twilio: TwilioSettings,
    /// Where Twilio sends status callbacks (`{PUBLIC_BASE_URL}/twilio/status`); `None`:
    /// none are requested.
    pub status_callback_url: Option<String>,
    /// Messages processed at once by this replica (at least 1).
    pub concurrency: usize,
    /// Attempts after which a message that keeps failing in a retryable way is `failed`.
    pub max_attempts: u32,
    /// This replica's name in the leases it takes.
    pub worker_id: String,
    /// How long a claim protects a message being sent (outlasts a provider call).
    pub lease: chrono::Duration,
    pub limits: Limits,
    /// Where `/metrics` and `/healthz` listen; `None`: off.
    pub metrics_address: Option<SocketAddr>,
    pub media_bucket: String,
    /// Opens tenants' provider tokens; `None`: only the platform's account sends.
    pub keyring: Option<Keyring>,
}

#[derive(Debug, Clone)]
pub struct TwilioSettings {
    pub api_base_url: String,
    pub account_sid: String,
    pub auth_token: SecretString,
    pub timeout: Duration,
}

/// The environment as it is read, before it is checked: private, so the rest of the
/// service only ever sees a checked [`Config`].
#[derive(Deserialize)]
struct Env {
    database_url: SecretString,
    #[serde(default = "defaults::pool_size")]
    database_pool_size: usize,
    /// Queue name or full URL of the outbound queue.
    #[serde(default = "defaults::outbound_queue")]
    outbound_sms_queue: String,
    #[serde(default = "defaults::twilio_base")]
    twilio_api_base_url: String,
    twilio_account_sid: String,
    twilio_auth_token: SecretString,
    /// The webhook listener's public base URL; status callbacks go to
    /// `{PUBLIC_BASE_URL}/twilio/status`. Unset: no callbacks are requested.
    #[serde(default)]
    public_base_url: Option<String>,
    /// Messages processed at once by this replica.
    #[serde(default = "defaults::concurrency")]
    sender_concurrency: usize,
    /// Attempts (SQS receives) after which a message that keeps failing in a
    /// retryable way is marked `failed`. Keep it below the queue's maxReceiveCount.
    #[serde(default = "defaults::max_attempts")]
    sender_max_attempts: u32,
    #[serde(default = "defaults::provider_timeout_ms")]
    provider_timeout_ms: u64,
    /// This replica's name in the leases it takes; default: host name, process id and
    /// a random suffix (unique per process start).
    #[serde(default)]
    sender_worker_id: Option<String>,
    /// How long a claim protects a message being sent. Must outlast a provider call:
    /// at least the provider timeout plus 5 seconds.
    #[serde(default = "defaults::lease_seconds")]
    sender_lease_seconds: u64,
    /// Message segments per second per sender number, by kind (docs/configuration.md).
    #[serde(default = "defaults::rate_long_code")]
    sender_rate_long_code: f64,
    #[serde(default = "defaults::rate_toll_free")]
    sender_rate_toll_free: f64,
    #[serde(default = "defaults::rate_short_code")]
    sender_rate_short_code: f64,
    /// Per-number rates: `+15017122661=10,+18885550100=30`.
    #[serde(default)]
    sender_rate_overrides: Option<String>,
    /// Segments per second for the whole provider account.
    #[serde(default = "defaults::rate_account")]
    sender_rate_account: f64,
    /// Where `/metrics` and `/healthz` listen (`host:port`; port 0 picks one), or `off`.
    #[serde(default = "defaults::metrics_address")]
    sender_metrics_address: String,
    /// The S3 bucket of MMS images (the API stores them there).
    #[serde(default = "defaults::media_bucket")]
    media_bucket: String,
    /// Keys that open tenants' provider tokens (`id:base64key,...`; docs/tenancy.md).
    /// Unset: only numbers in the platform's account can send.
    #[serde(default)]
    secrets_keyring: Option<SecretString>,
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
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(std::env::vars())
    }

    /// Reads and checks the configuration from the given variables.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let env: Env = nudge_domain::config::from_iter(vars)?;
        if env.sender_concurrency == 0 {
            return Err(ConfigError::Invalid(
                "SENDER_CONCURRENCY must be at least 1".into(),
            ));
        }
        if env.sender_lease_seconds.saturating_mul(1_000) < env.provider_timeout_ms + 5_000 {
            return Err(ConfigError::Invalid(format!(
                "SENDER_LEASE_SECONDS ({}) must be at least PROVIDER_TIMEOUT_MS + 5 s ({} ms)",
                env.sender_lease_seconds,
                env.provider_timeout_ms + 5_000
            )));
        }
        let lease = i64::try_from(env.sender_lease_seconds)
            .ok()
            .and_then(chrono::Duration::try_seconds)
            .ok_or_else(|| ConfigError::Invalid("SENDER_LEASE_SECONDS is too large".into()))?;
        Ok(Self {
            limits: env.limits()?,
            metrics_address: nudge_domain::config::optional_listen_address(
                "SENDER_METRICS_ADDRESS",
                &env.sender_metrics_address,
            )?,
            keyring: Keyring::from_config(env.secrets_keyring.as_ref().map(|k| k.expose_secret()))?,
            worker_id: env.sender_worker_id.unwrap_or_else(unique_worker_id),
            status_callback_url: env
                .public_base_url
                .as_deref()
                .map(|base| format!("{}/twilio/status", base.trim_end_matches('/'))),
            twilio: TwilioSettings {
                api_base_url: env.twilio_api_base_url,
                account_sid: env.twilio_account_sid,
                auth_token: env.twilio_auth_token,
                timeout: Duration::from_millis(env.provider_timeout_ms),
            },
            database_url: env.database_url,
            database_pool_size: env.database_pool_size,
            outbound_sms_queue: env.outbound_sms_queue,
            concurrency: env.sender_concurrency,
            max_attempts: env.sender_max_attempts,
            lease,
            media_bucket: env.media_bucket,
        })
    }
}

/// A replica's name made unique to this process: host name, process id, random suffix.
fn unique_worker_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "sender".into());
    let suffix: u32 = rand::random();
    format!("{host}-{}-{suffix:08x}", std::process::id())
}

impl Env {
    /// The throughput limits, each a positive rate, with the per-number overrides parsed.
    fn limits(&self) -> Result<Limits, ConfigError> {
        for (name, rate) in [
            ("SENDER_RATE_LONG_CODE", self.sender_rate_long_code),
            ("SENDER_RATE_TOLL_FREE", self.sender_rate_toll_free),
            ("SENDER_RATE_SHORT_CODE", self.sender_rate_short_code),
            ("SENDER_RATE_ACCOUNT", self.sender_rate_account),
        ] {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(ConfigError::Invalid(format!(
                    "{name} must be a positive number of segments per second"
                )));
            }
        }
        let overrides = match &self.sender_rate_overrides {
            Some(raw) => Limits::parse_overrides(raw)
                .map_err(|e| ConfigError::Invalid(format!("SENDER_RATE_OVERRIDES: {e}")))?,
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
        assert_eq!(config.lease, chrono::Duration::seconds(60));
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
        assert_eq!(off.metrics_address, None);
    }

    #[test]
    fn worker_ids_are_random_unless_given() {
        let first = Config::from_vars(vars(&[])).unwrap();
        let second = Config::from_vars(vars(&[])).unwrap();
        assert_ne!(first.worker_id, second.worker_id);
        let named = Config::from_vars(vars(&[("SENDER_WORKER_ID", "sender-a")])).unwrap();
        assert_eq!(named.worker_id, "sender-a");
    }
}
