//! `webhook-listener`'s configuration, from environment variables (docs/configuration.md).

use nudge_domain::config::ConfigError;
use nudge_domain::TargetPolicy;
use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    pub database_url: SecretString,
    #[serde(default = "defaults::pool_size")]
    pub database_pool_size: usize,
    #[serde(default = "defaults::host")]
    pub http_host: String,
    #[serde(default = "defaults::port")]
    pub http_port: u16,
    /// The URL the provider calls this service at (scheme, host, optional port and path
    /// prefix): signatures are computed over it, not over the address we listen on,
    /// which a load balancer hides.
    pub public_base_url: String,
    /// The platform's provider account's auth token: the key of its request signatures.
    pub twilio_auth_token: SecretString,
    /// Keys that open tenants' own provider tokens (`id:base64key,...`), to check the
    /// signatures of their subaccounts' requests (docs/tenancy.md). Unset: requests
    /// naming a tenant's account are refused.
    #[serde(default)]
    pub secrets_keyring: Option<SecretString>,
    /// Bodies larger than this are refused with 413 (Twilio's are a few KiB).
    #[serde(default = "defaults::body_limit")]
    pub webhook_body_limit_bytes: usize,
    /// Queue names (resolved with GetQueueUrl) or URLs: inbound SMS, and outbound for
    /// the answers inbound processing queues.
    #[serde(default = "defaults::inbound_queue")]
    pub inbound_sms_queue: String,
    #[serde(default = "defaults::outbound_queue")]
    pub outbound_sms_queue: String,
    /// How often the outbox relay looks for work when nothing wakes it (milliseconds).
    #[serde(default = "defaults::relay_interval_ms")]
    pub outbox_relay_interval_ms: u64,
    /// Inbound messages processed at once.
    #[serde(default = "defaults::inbound_concurrency")]
    pub inbound_concurrency: usize,
    /// `public` (production: https to public addresses only) or `any` (development:
    /// http and private addresses allowed) for merchants' webhook and fulfilment URLs.
    #[serde(default = "defaults::webhook_targets")]
    pub webhook_targets: String,
    /// Seconds between a failed webhook attempt and the next, one per retry; after the
    /// last the delivery is `failed`. Default: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    #[serde(default = "defaults::retry_delays")]
    pub webhook_retry_delays_seconds: String,
    /// How long a merchant's endpoint has to answer a webhook or a fulfilment call.
    #[serde(default = "defaults::webhook_timeout_ms")]
    pub webhook_timeout_ms: u64,
    /// How often the webhook dispatcher looks for due deliveries (milliseconds).
    #[serde(default = "defaults::dispatch_interval_ms")]
    pub webhook_dispatch_interval_ms: u64,
}

mod defaults {
    pub fn pool_size() -> usize {
        10
    }
    pub fn host() -> String {
        "0.0.0.0".into()
    }
    pub fn port() -> u16 {
        8081
    }
    pub fn body_limit() -> usize {
        64 * 1024
    }
    pub fn inbound_queue() -> String {
        "inbound-sms".into()
    }
    pub fn outbound_queue() -> String {
        "outbound-sms".into()
    }
    pub fn relay_interval_ms() -> u64 {
        1_000
    }
    pub fn inbound_concurrency() -> usize {
        8
    }
    pub fn webhook_targets() -> String {
        "public".into()
    }
    pub fn retry_delays() -> String {
        "5,300,1800,7200,18000,36000,36000".into()
    }
    pub fn webhook_timeout_ms() -> u64 {
        10_000
    }
    pub fn dispatch_interval_ms() -> u64 {
        1_000
    }
}

impl Config {
    /// The defaults, with what has none: for embedding the listener (tests, benches).
    pub fn new(database_url: &str, public_base_url: &str, twilio_auth_token: &str) -> Self {
        Self {
            database_url: SecretString::from(database_url),
            database_pool_size: defaults::pool_size(),
            http_host: defaults::host(),
            http_port: defaults::port(),
            public_base_url: public_base_url.trim_end_matches('/').to_owned(),
            twilio_auth_token: SecretString::from(twilio_auth_token),
            secrets_keyring: None,
            webhook_body_limit_bytes: defaults::body_limit(),
            inbound_sms_queue: defaults::inbound_queue(),
            outbound_sms_queue: defaults::outbound_queue(),
            outbox_relay_interval_ms: defaults::relay_interval_ms(),
            inbound_concurrency: defaults::inbound_concurrency(),
            webhook_targets: defaults::webhook_targets(),
            webhook_retry_delays_seconds: defaults::retry_delays(),
            webhook_timeout_ms: defaults::webhook_timeout_ms(),
            webhook_dispatch_interval_ms: defaults::dispatch_interval_ms(),
        }
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(std::env::vars())
    }

    /// Reads and checks the configuration from the given variables.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut config: Self = nudge_domain::config::from_iter(vars)?;
        let base = config.public_base_url.trim_end_matches('/').to_owned();
        let valid = (base.starts_with("https://") || base.starts_with("http://"))
            && !base.contains('?')
            && !base.contains('#')
            && base
                .split("://")
                .nth(1)
                .is_some_and(|rest| !rest.is_empty());
        if !valid {
            return Err(ConfigError::Invalid(format!(
                "PUBLIC_BASE_URL must be an http(s) URL without query or fragment, not '{}'",
                config.public_base_url
            )));
        }
        config.public_base_url = base;
        if !(1_024..=1_048_576).contains(&config.webhook_body_limit_bytes) {
            return Err(ConfigError::Invalid(
                "WEBHOOK_BODY_LIMIT_BYTES must be between 1024 and 1048576".into(),
            ));
        }
        config.target_policy()?;
        config.retry_delays()?;
        if !(1..=256).contains(&config.inbound_concurrency) {
            return Err(ConfigError::Invalid(
                "INBOUND_CONCURRENCY must be from 1 to 256".into(),
            ));
        }
        if !(100..=60_000).contains(&config.webhook_timeout_ms) {
            return Err(ConfigError::Invalid(
                "WEBHOOK_TIMEOUT_MS must be from 100 to 60000".into(),
            ));
        }
        Ok(config)
    }

    /// Where merchants' URLs may point (`WEBHOOK_TARGETS`).
    pub fn target_policy(&self) -> Result<TargetPolicy, ConfigError> {
        parse_target_policy(&self.webhook_targets)
    }

    /// The webhook retry schedule (`WEBHOOK_RETRY_DELAYS_SECONDS`).
    pub fn retry_delays(&self) -> Result<Vec<u64>, ConfigError> {
        let delays: Result<Vec<u64>, _> = self
            .webhook_retry_delays_seconds
            .split(',')
            .map(|d| d.trim().parse::<u64>())
            .collect();
        match delays {
            Ok(delays) if (1..=20).contains(&delays.len()) && delays.iter().all(|d| *d <= 86_400) => {
                Ok(delays)
            }
            _ => Err(ConfigError::Invalid(format!(
                "WEBHOOK_RETRY_DELAYS_SECONDS must be 1 to 20 comma-separated seconds (each at most 86400), not '{}'",
                self.webhook_retry_delays_seconds
            ))),
        }
    }
}

/// `public` or `any` (`WEBHOOK_TARGETS`, read the same way by messaging-api).
pub fn parse_target_policy(raw: &str) -> Result<TargetPolicy, ConfigError> {
    TargetPolicy::from_setting(raw).ok_or_else(|| {
        ConfigError::Invalid(format!(
            "WEBHOOK_TARGETS must be 'public' or 'any' (development), not '{}'",
            raw.trim()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        [
            ("DATABASE_URL", "postgres://localhost/nudge"),
            ("TWILIO_AUTH_TOKEN", "secret"),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    }

    #[test]
    fn the_public_url_is_required_and_checked() {
        let error = Config::from_vars(vars(&[])).unwrap_err();
        assert!(
            error.to_string().contains("public_base_url")
                || error.to_string().contains("PUBLIC_BASE_URL"),
            "{error}"
        );
        for bad in [
            "hooks.example.com",
            "ftp://hooks.example.com",
            "https://",
            "https://h.example.com/?a=1",
        ] {
            let error = Config::from_vars(vars(&[("PUBLIC_BASE_URL", bad)])).unwrap_err();
            assert!(
                error.to_string().contains("PUBLIC_BASE_URL"),
                "{bad}: {error}"
            );
        }
        let config = Config::from_vars(vars(&[(
            "PUBLIC_BASE_URL",
            "https://hooks.example.com/nudge/",
        )]))
        .unwrap();
        assert_eq!(config.public_base_url, "https://hooks.example.com/nudge");
        assert_eq!(config.http_port, 8081);
        let error = Config::from_vars(vars(&[
            ("PUBLIC_BASE_URL", "https://hooks.example.com"),
            ("WEBHOOK_BODY_LIMIT_BYTES", "10"),
        ]))
        .unwrap_err();
        assert!(
            error.to_string().contains("WEBHOOK_BODY_LIMIT_BYTES"),
            "{error}"
        );
    }

    #[test]
    fn webhook_targets_and_retries_are_checked() {
        let base = ("PUBLIC_BASE_URL", "https://hooks.example.com");
        let config = Config::from_vars(vars(&[base])).unwrap();
        assert_eq!(config.target_policy().unwrap(), TargetPolicy::STRICT);
        assert_eq!(
            config.retry_delays().unwrap(),
            vec![5, 300, 1800, 7200, 18000, 36000, 36000]
        );
        let config = Config::from_vars(vars(&[
            base,
            ("WEBHOOK_TARGETS", "any"),
            ("WEBHOOK_RETRY_DELAYS_SECONDS", "1, 2"),
        ]))
        .unwrap();
        assert_eq!(config.target_policy().unwrap(), TargetPolicy::DEVELOPMENT);
        assert_eq!(config.retry_delays().unwrap(), vec![1, 2]);
        for (name, bad) in [
            ("WEBHOOK_TARGETS", "everything"),
            ("WEBHOOK_RETRY_DELAYS_SECONDS", "5,soon"),
            ("WEBHOOK_RETRY_DELAYS_SECONDS", ""),
            ("INBOUND_CONCURRENCY", "0"),
            ("WEBHOOK_TIMEOUT_MS", "5"),
        ] {
            let error = Config::from_vars(vars(&[base, (name, bad)])).unwrap_err();
            assert!(error.to_string().contains(name), "{name}={bad}: {error}");
        }
    }
}
