//! `messaging-api`'s configuration, from environment variables (docs/configuration.md).

use std::time::Duration;

use nudge_domain::config::ConfigError;
use nudge_domain::{TargetPolicy, TrustedProxies};
use nudge_usecases::campaigns::expander::Pace;
use secrecy::SecretString;
use serde::Deserialize;

/// `messaging-api`'s configuration, checked and typed once at load: nothing downstream
/// parses a string of it again.
#[derive(Debug, Clone)]
pub struct Config {
    /// Postgres URL; may hold a password, so it never prints.
    pub database_url: SecretString,
    pub database_pool_size: usize,
    pub http_host: String,
    pub http_port: u16,
    /// Queue name (resolved with GetQueueUrl) or full URL of the outbound queue.
    pub outbound_sms_queue: String,
    /// Queue name or full URL of the lead-search queue.
    pub lead_searches_queue: String,
    /// How often the outbox relays and the campaign expander look for work when nothing
    /// wakes them.
    pub outbox_relay_interval: Duration,
    /// How fast campaigns expand.
    pub campaign_pace: Pace,
    /// Where merchants' webhook and fulfilment URLs may point.
    pub webhook_targets: TargetPolicy,
    /// The proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// The S3 bucket of MMS images (the sender reads the same).
    pub media_bucket: String,
    /// The console's settings (`CONSOLE_*`).
    pub console: nudge_console::Config,
    /// How long the per-replica shortcuts of a request's admission may lag the database.
    pub admission: Admission,
}

/// The hot path's shortcuts (docs/performance.md): each bounds how far one replica's
/// view may lag the shared truth in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// How long a key's owner (tenant, scopes, limits, approval) is reused without
    /// asking the database. Changes are pushed at once (LISTEN/NOTIFY); this bounds
    /// staleness only while that push is broken. Zero: every request asks.
    pub key_cache_ttl: Duration,
    /// How often the replica adds the requests it counted to the tenants' shared
    /// one-minute windows and learns the other replicas' counts.
    pub rate_flush_interval: Duration,
    /// How long a tenant's count of today's messages is reused (plus the replica's
    /// own sends since) before it is counted again. Zero: counted at every send.
    pub daily_count_refresh: Duration,
    /// Transactions of grouped single sends in flight at once (group commit,
    /// docs/performance.md). Zero: every send commits in a transaction of its own.
    pub group_committers: usize,
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
    #[serde(default = "defaults::outbound_queue")]
    outbound_sms_queue: String,
    #[serde(default = "defaults::lead_searches_queue")]
    lead_searches_queue: String,
    /// Milliseconds.
    #[serde(default = "defaults::relay_interval_ms")]
    outbox_relay_interval_ms: u64,
    /// Customers a campaign expands per transaction (1 to 1,000).
    #[serde(default = "defaults::campaign_page_size")]
    campaign_page_size: i64,
    /// A tenant's campaign messages that may wait for the sender at once (queued or
    /// being sent); past it, its campaigns pause until the sender catches up. This
    /// bounds how many campaign messages can be ahead of another tenant's send.
    #[serde(default = "defaults::campaign_max_unsent")]
    campaign_max_unsent: i64,
    /// `public` (https to public addresses only; production) or `any` (development).
    /// The webhook listener, which calls them, reads the same variable.
    #[serde(default = "defaults::webhook_targets")]
    webhook_targets: String,
    #[serde(default = "defaults::media_bucket")]
    media_bucket: String,
    /// The load balancers and proxies in front of the API (comma-separated CIDRs), whose
    /// `X-Forwarded-For` names the client. Empty: the TCP peer is the client
    /// (docs/security.md).
    #[serde(default)]
    trusted_proxies: String,
    /// Milliseconds (0 to 60,000).
    #[serde(default = "defaults::api_key_cache_ms")]
    api_key_cache_ms: u64,
    /// Milliseconds (10 to 5,000).
    #[serde(default = "defaults::rate_limit_flush_ms")]
    rate_limit_flush_ms: u64,
    /// Milliseconds (0 to 60,000).
    #[serde(default = "defaults::daily_count_refresh_ms")]
    daily_count_refresh_ms: u64,
    /// 0 to 16.
    #[serde(default = "defaults::send_group_committers")]
    send_group_committers: usize,
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
    pub fn lead_searches_queue() -> String {
        "lead-searches".into()
    }
    pub fn relay_interval_ms() -> u64 {
        1_000
    }
    pub fn campaign_page_size() -> i64 {
        200
    }
    pub fn campaign_max_unsent() -> i64 {
        5_000
    }
    pub fn webhook_targets() -> String {
        "public".into()
    }
    pub fn media_bucket() -> String {
        "nudge-media".into()
    }
    pub fn api_key_cache_ms() -> u64 {
        5_000
    }
    pub fn rate_limit_flush_ms() -> u64 {
        100
    }
    pub fn daily_count_refresh_ms() -> u64 {
        1_000
    }
    pub fn send_group_committers() -> usize {
        2
    }
}

/// A duration setting in milliseconds, within its bounds.
fn millis(
    name: &str,
    value: u64,
    bounds: std::ops::RangeInclusive<u64>,
) -> Result<Duration, ConfigError> {
    if bounds.contains(&value) {
        Ok(Duration::from_millis(value))
    } else {
        Err(ConfigError::Invalid(format!(
            "{name} must be from {} to {} (milliseconds), not {value}",
            bounds.start(),
            bounds.end()
        )))
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
        let vars: Vec<(String, String)> = vars.into_iter().collect();
        let env: Env = nudge_domain::config::from_iter(vars.clone())?;
        if !(1..=1_000).contains(&env.campaign_page_size) {
            return Err(ConfigError::Invalid(format!(
                "CAMPAIGN_PAGE_SIZE must be from 1 to 1000, not {}",
                env.campaign_page_size
            )));
        }
        if env.campaign_max_unsent < env.campaign_page_size {
            return Err(ConfigError::Invalid(format!(
                "CAMPAIGN_MAX_UNSENT ({}) must be at least CAMPAIGN_PAGE_SIZE ({})",
                env.campaign_max_unsent, env.campaign_page_size
            )));
        }
        Ok(Self {
            database_url: env.database_url,
            database_pool_size: env.database_pool_size,
            http_host: env.http_host,
            http_port: env.http_port,
            outbound_sms_queue: env.outbound_sms_queue,
            lead_searches_queue: env.lead_searches_queue,
            outbox_relay_interval: Duration::from_millis(env.outbox_relay_interval_ms),
            campaign_pace: Pace {
                page_size: env.campaign_page_size,
                max_unsent: env.campaign_max_unsent,
            },
            webhook_targets: TargetPolicy::from_setting(&env.webhook_targets)
                .map_err(ConfigError::Invalid)?,
            trusted_proxies: TrustedProxies::parse(&env.trusted_proxies)
                .map_err(ConfigError::Invalid)?,
            media_bucket: env.media_bucket,
            console: nudge_console::Config::from_vars(vars)?,
            admission: Admission {
                key_cache_ttl: millis("API_KEY_CACHE_MS", env.api_key_cache_ms, 0..=60_000)?,
                rate_flush_interval: millis(
                    "RATE_LIMIT_FLUSH_MS",
                    env.rate_limit_flush_ms,
                    10..=5_000,
                )?,
                daily_count_refresh: millis(
                    "DAILY_COUNT_REFRESH_MS",
                    env.daily_count_refresh_ms,
                    0..=60_000,
                )?,
                group_committers: if env.send_group_committers <= 16 {
                    env.send_group_committers
                } else {
                    return Err(ConfigError::Invalid(format!(
                        "SEND_GROUP_COMMITTERS must be from 0 to 16, not {}",
                        env.send_group_committers
                    )));
                },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        [("DATABASE_URL", "postgres://localhost/nudge")]
            .iter()
            .chain(extra)
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn trusted_proxies_are_cidrs() {
        let config =
            Config::from_vars(vars(&[("TRUSTED_PROXIES", "10.0.0.0/16,2600:1f18::/32")])).unwrap();
        assert!(!config.trusted_proxies.is_empty());
        assert!(Config::from_vars(vars(&[]))
            .unwrap()
            .trusted_proxies
            .is_empty());
        let error = Config::from_vars(vars(&[("TRUSTED_PROXIES", "alb.internal")])).unwrap_err();
        assert!(error.to_string().contains("TRUSTED_PROXIES"), "{error}");
    }

    #[test]
    fn defaults_apply_and_bad_values_are_named() {
        let config = Config::from_vars(vars(&[])).unwrap();
        assert_eq!(config.campaign_pace.page_size, 200);
        assert_eq!(config.outbox_relay_interval, Duration::from_secs(1));
        let error = Config::from_vars(vars(&[("CAMPAIGN_PAGE_SIZE", "0")])).unwrap_err();
        assert!(error.to_string().contains("CAMPAIGN_PAGE_SIZE"), "{error}");
        let error = Config::from_vars(vars(&[("HTTP_PORT", "eighty")])).unwrap_err();
        assert!(error.to_string().contains("eighty"), "{error}");
        assert_eq!(config.admission.key_cache_ttl, Duration::from_secs(5));
        assert_eq!(
            config.admission.rate_flush_interval,
            Duration::from_millis(100)
        );
        let error = Config::from_vars(vars(&[("RATE_LIMIT_FLUSH_MS", "0")])).unwrap_err();
        assert!(error.to_string().contains("RATE_LIMIT_FLUSH_MS"), "{error}");
        let error = Config::from_vars(vars(&[("API_KEY_CACHE_MS", "3600000")])).unwrap_err();
        assert!(error.to_string().contains("API_KEY_CACHE_MS"), "{error}");
        let error = Config::from_vars(vars(&[("WEBHOOK_TARGETS", "all")])).unwrap_err();
        assert!(error.to_string().contains("WEBHOOK_TARGETS"), "{error}");
        assert_eq!(config.admission.group_committers, 2);
        let off = Config::from_vars(vars(&[("SEND_GROUP_COMMITTERS", "0")])).unwrap();
        assert_eq!(off.admission.group_committers, 0);
        let error = Config::from_vars(vars(&[("SEND_GROUP_COMMITTERS", "17")])).unwrap_err();
        assert!(
            error.to_string().contains("SEND_GROUP_COMMITTERS"),
            "{error}"
        );
    }

    #[test]
    fn the_console_settings_are_read_with_the_rest() {
        let error = Config::from_vars(vars(&[(
            "CONSOLE_PUBLIC_URL",
            "http://console.example.com",
        )]))
        .unwrap_err();
        assert!(error.to_string().contains("CONSOLE_PUBLIC_URL"), "{error}");
    }
}
