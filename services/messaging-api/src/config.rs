//! `messaging-api`'s configuration, from environment variables (docs/configuration.md).

use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// Postgres URL; may hold a password, so it never prints.
    pub database_url: SecretString,
    #[serde(default = "defaults::pool_size")]
    pub database_pool_size: usize,
    #[serde(default = "defaults::host")]
    pub http_host: String,
    #[serde(default = "defaults::port")]
    pub http_port: u16,
    /// Queue name (resolved with GetQueueUrl) or full URL of the outbound queue.
    #[serde(default = "defaults::outbound_queue")]
    pub outbound_sms_queue: String,
    /// How often the outbox relay looks for work when nothing wakes it (milliseconds).
    #[serde(default = "defaults::relay_interval_ms")]
    pub outbox_relay_interval_ms: u64,
}

mod defaults {
    pub fn pool_size() -> usize {
        10
    }
    pub fn host() -> String {
        "0.0.0.0".into()
    }
    pub fn port() -> u16 {
        8080
    }
    pub fn outbound_queue() -> String {
        "outbound-sms".into()
    }
    pub fn relay_interval_ms() -> u64 {
        1_000
    }
}

impl Config {
    pub fn from_env() -> Result<Self, nudge_domain::config::ConfigError> {
        nudge_domain::config::from_env()
    }
}
