//! `webhook-listener`'s configuration, from environment variables (docs/configuration.md).

use std::time::Duration;

use nudge_domain::config::ConfigError;
use nudge_domain::sealed::Keyring;
use nudge_domain::TargetPolicy;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// `webhook-listener`'s configuration, checked and typed once at load: nothing
/// downstream parses a string of it again.
#[derive(Debug)]
pub struct Config {
    /// Postgres URL; may hold a password, so it never prints.
    pub database_url: SecretString,
    pub database_pool_size: usize,
    pub http_host: String,
    pub http_port: u16,
    /// The URL the provider calls this service at, without a trailing `/`: signatures
    /// are computed over it, not over the address we listen on, which a load balancer
    /// hides.
    pub public_base_url: String,
    /// The platform's provider account's auth token: the key of its request signatures.
    pub twilio_auth_token: SecretString,
    /// Opens tenants' own provider tokens, to check their subaccounts' signatures;
    /// `None`: requests naming a tenant's account are refused.
    pub keyring: Option<Keyring>,
    /// Bodies larger than this are refused with 413.
    pub webhook_body_limit_bytes: usize,
    /// Queue names or URLs: inbound SMS, and outbound for the answers.
    pub inbound_sms_queue: String,
    pub outbound_sms_queue: String,
    /// How often the outbox relays look for work when nothing wakes them.
    pub outbox_relay_interval: Duration,
    /// Inbound messages processed at once (1 to 256).
    pub inbound_concurrency: usize,
    /// Where merchants' webhook and fulfilment URLs may point.
    pub webhook_targets: TargetPolicy,
    /// Seconds between a failed webhook attempt and the next, one per retry.
    pub webhook_retry_delays_seconds: Vec<u64>,
    /// How long a merchant's endpoint has to answer.
    pub webhook_timeout: Duration,
    /// How often the dispatcher looks for due deliveries.
    pub webhook_dispatch_interval: Duration,
}

/// The environment as it is read, before it is checked.
#[derive(Deserialize)]
struct Env {
    database_url: SecretString,
    #[serde(default = "defaults::pool_size")]
    database_pool_size: usize,
    #[serde(default = "defaults::host")]
    http_host: String,
    #[serde(default = "defaults::port")]
    http_port: u16,
    /// The URL the provider calls this service at (scheme, host, optional port and path
    /// prefix): signatures are computed over it, not over the address we listen on,
    /// which a load balancer hides.
    public_base_url: String,
    /// The platform's provider account's auth token: the key of its request signatures.
    twilio_auth_token: SecretString,
    /// Keys that open tenants' own provider tokens (`id:base64key,...`), to check the
    /// signatures of their subaccounts' requests (docs/tenancy.md). Unset: requests
    /// naming a tenant's account are refused.
    #[serde(default)]
    secrets_keyring: Option<SecretString>,
    /// Bodies larger than this are refused with 413 (Twilio's are a few KiB).
    #[serde(default = "defaults::body_limit")]
    webhook_body_limit_bytes: usize,
    /// Queue names (resolved with GetQueueUrl) or URLs: inbound SMS, and outbound for
    /// the answers inbound processing queues.
    #[serde(default = "defaults::inbound_queue")]
    inbound_sms_queue: String,
    #[serde(default = "defaults::outbound_queue")]
    outbound_sms_queue: String,
    /// How often the outbox relay looks for work when nothing wakes it (milliseconds).
    #[serde(default = "defaults::relay_interval_ms")]
    outbox_relay_interval_ms: u64,
    /// Inbound messages processed at once.
    #[serde(default = "defaults::inbound_concurrency")]
    inbound_concurrency: usize,
    /// `public` (production: https to public addresses only) or `any` (development:
    /// http and private addresses allowed) for merchants' webhook and fulfilment URLs.
    #[serde(default = "defaults::webhook_targets")]
    webhook_targets: String,
    /// Seconds between a failed webhook attempt and the next, one per retry; after the
    /// last the delivery is `failed`. Default: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    #[serde(default = "defaults::retry_delays")]
    webhook_retry_delays_seconds: String,
    /// How long a merchant's endpoint has to answer a webhook or a fulfilment call.
    #[serde(default = "defaults::webhook_timeout_ms")]
    webhook_timeout_ms: u64,
    /// How often the webhook dispatcher looks for due deliveries (milliseconds).
    #[serde(default = "defaults::dispatch_interval_ms")]
    webhook_dispatch_interval_ms: u64,
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
        super::DEFAULT_RETRY_DELAYS.map(|d| d.to_string()).join(",")
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
            keyring: None,
            webhook_body_limit_bytes: defaults::body_limit(),
            inbound_sms_queue: defaults::inbound_queue(),
            outbound_sms_queue: defaults::outbound_queue(),
            outbox_relay_interval: Duration::from_millis(defaults::relay_interval_ms()),
            inbound_concurrency: defaults::inbound_concurrency(),
            webhook_targets: TargetPolicy::STRICT,
            webhook_retry_delays_seconds: DEFAULT_RETRY_DELAYS.to_vec(),
            webhook_timeout: Duration::from_millis(defaults::webhook_timeout_ms()),
            webhook_dispatch_interval: Duration::from_millis(defaults::dispatch_interval_ms()),
        }
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(std::env::vars())
    }

    /// Reads and checks the configuration from the given variables.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let env: Env = nudge_domain::config::from_iter(vars)?;
        let base = env.public_base_url.trim_end_matches('/').to_owned();
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
                env.public_base_url
            )));
        }
        if !(1_024..=1_048_576).contains(&env.webhook_body_limit_bytes) {
            return Err(ConfigError::Invalid(
                "WEBHOOK_BODY_LIMIT_BYTES must be between 1024 and 1048576".into(),
            ));
        }
        if !(1..=256).contains(&env.inbound_concurrency) {
            return Err(ConfigError::Invalid(
                "INBOUND_CONCURRENCY must be from 1 to 256".into(),
            ));
        }
        if !(100..=60_000).contains(&env.webhook_timeout_ms) {
            return Err(ConfigError::Invalid(
                "WEBHOOK_TIMEOUT_MS must be from 100 to 60000".into(),
            ));
        }
        Ok(Self {
            webhook_targets: TargetPolicy::from_setting(&env.webhook_targets)
                .map_err(ConfigError::Invalid)?,
            webhook_retry_delays_seconds: parse_retry_delays(&env.webhook_retry_delays_seconds)?,
            keyring: Keyring::from_config(env.secrets_keyring.as_ref().map(|k| k.expose_secret()))?,
            database_url: env.database_url,
            database_pool_size: env.database_pool_size,
            http_host: env.http_host,
            http_port: env.http_port,
            public_base_url: base,
            twilio_auth_token: env.twilio_auth_token,
            webhook_body_limit_bytes: env.webhook_body_limit_bytes,
            inbound_sms_queue: env.inbound_sms_queue,
            outbound_sms_queue: env.outbound_sms_queue,
            outbox_relay_interval: Duration::from_millis(env.outbox_relay_interval_ms),
            inbound_concurrency: env.inbound_concurrency,
            webhook_timeout: Duration::from_millis(env.webhook_timeout_ms),
            webhook_dispatch_interval: Duration::from_millis(env.webhook_dispatch_interval_ms),
        })
    }
}

/// The default webhook retry schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
const DEFAULT_RETRY_DELAYS: [u64; 7] = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];

/// The webhook retry schedule (`WEBHOOK_RETRY_DELAYS_SECONDS`): 1 to 20 comma-separated
/// seconds, each at most a day.
pub fn parse_retry_delays(raw: &str) -> Result<Vec<u64>, ConfigError> {
    let delays: Result<Vec<u64>, _> = raw.split(',').map(|d| d.trim().parse::<u64>()).collect();
    match delays {
        Ok(delays) if (1..=20).contains(&delays.len()) && delays.iter().all(|d| *d <= 86_400) => {
            Ok(delays)
        }
        _ => Err(ConfigError::Invalid(format!(
            "WEBHOOK_RETRY_DELAYS_SECONDS must be 1 to 20 comma-separated seconds (each at most 86400), not '{raw}'"
        ))),
    }
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
        assert_eq!(config.webhook_targets, TargetPolicy::STRICT);
        assert_eq!(
            config.webhook_retry_delays_seconds,
            vec![5, 300, 1800, 7200, 18000, 36000, 36000]
        );
        let config = Config::from_vars(vars(&[
            base,
            ("WEBHOOK_TARGETS", "any"),
            ("WEBHOOK_RETRY_DELAYS_SECONDS", "1, 2"),
        ]))
        .unwrap();
        assert_eq!(config.webhook_targets, TargetPolicy::DEVELOPMENT);
        assert_eq!(config.webhook_retry_delays_seconds, vec![1, 2]);
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
