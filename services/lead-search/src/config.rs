//! `lead-search`'s configuration, from environment variables (docs/configuration.md).
//! The provider's own variables (`GOOGLE_CSE_*`, `BRAVE_SEARCH_*`, `SEARXNG_*`) are read
//! by its module (`crate::providers`).

use std::net::SocketAddr;
use std::time::Duration;

use nudge_domain::config::ConfigError;
use secrecy::SecretString;
use serde::Deserialize;

use crate::providers::{self, SearchProvider};

/// `lead-search`'s configuration, checked and typed once at load (the provider built
/// from its variables, the budgets resolved, durations as durations).
#[derive(Debug)]
pub struct Config {
    pub database_url: SecretString,
    pub database_pool_size: usize,
    /// Queue name or full URL of the lead-search queue.
    pub lead_searches_queue: String,
    /// The web search API, with its key and timeout.
    pub provider: Box<dyn SearchProvider>,
    /// Searches worked at once by this replica (1 to 64).
    pub concurrency: usize,
    /// Provider queries a tenant may spend per UTC day, unless an operator set its own.
    pub tenant_daily_queries: i32,
    /// Provider queries the key may spend per UTC day, all tenants together.
    pub key_daily_queries: i32,
    /// Pause between two pages of one search.
    pub page_delay: Duration,
    /// How long a worker's hold on a search lasts without progress (outlasts a page).
    pub lease: Duration,
    /// Provider outages a search rides out before it `failed`.
    pub max_failures: i32,
    /// A search left by a dead worker, with no queue message, is queued again after this.
    pub orphan_after: Duration,
    /// This replica's name in the leases it takes.
    pub worker_id: String,
    /// Where `/metrics` and `/healthz` listen; `None`: off.
    pub metrics_address: Option<SocketAddr>,
    /// How often the outbox relay (searches resumed after a wait) looks for work.
    pub outbox_relay_interval: Duration,
}

/// The environment as it is read, before it is checked.
#[derive(Deserialize)]
struct Env {
    database_url: SecretString,
    #[serde(default = "defaults::pool_size")]
    database_pool_size: usize,
    /// Queue name or full URL of the lead-search queue.
    #[serde(default = "defaults::queue")]
    lead_searches_queue: String,
    /// `google`, `brave` or `searxng`.
    lead_search_provider: String,
    /// Searches worked at once by this replica.
    #[serde(default = "defaults::concurrency")]
    lead_search_concurrency: usize,
    /// Provider queries a tenant may spend per UTC day; default a tenth of the key's
    /// (see [`tenant_budget`]).
    #[serde(default)]
    lead_search_tenant_daily_queries: Option<i32>,
    /// Provider queries the API key may spend per UTC day, all tenants together;
    /// default: the provider's (Google 100, Brave 66, SearXNG 1,000).
    #[serde(default)]
    lead_search_key_daily_queries: Option<i32>,
    #[serde(default = "defaults::provider_timeout_ms")]
    lead_search_provider_timeout_ms: u64,
    /// Pause between two pages of one search (providers limit requests per second).
    #[serde(default = "defaults::page_delay_ms")]
    lead_search_page_delay_ms: u64,
    /// How long a worker's hold on a search lasts without progress; after it another
    /// worker may take the search over (a crashed worker's). Renewed at every page.
    #[serde(default = "defaults::lease_seconds")]
    lead_search_lease_seconds: u64,
    /// Provider outages (5xx, timeouts) a search rides out before it `failed`.
    #[serde(default = "defaults::max_failures")]
    lead_search_max_failures: i32,
    /// A search whose worker died and whose queue message is gone too is queued again
    /// once its lease has lapsed this long (normally the message brings it back
    /// after the lease).
    #[serde(default = "defaults::orphan_after_seconds")]
    lead_search_orphan_after_seconds: u64,
    /// This replica's name in the leases it takes; default: host, pid and a random part.
    #[serde(default)]
    lead_search_worker_id: Option<String>,
    /// Where `/metrics` and `/healthz` listen (`host:port`; port 0 picks one), or `off`.
    #[serde(default = "defaults::metrics_address")]
    lead_search_metrics_address: String,
    /// How often the outbox relay (searches resumed after a wait) looks for work.
    #[serde(default = "defaults::relay_interval_ms")]
    outbox_relay_interval_ms: u64,
}

/// A tenant's default daily budget of provider queries, given the key's. The key is
/// shared by every tenant, so no tenant may spend most of it by default: the default is
/// a tenth of the key's (at least 1), and a configured default above half the key's is
/// refused. An operator can still give one tenant more (`admin set-limits`).
pub fn tenant_budget(configured: Option<i32>, key_daily_queries: i32) -> Result<i32, ConfigError> {
    match configured {
        None => Ok((key_daily_queries / 10).max(1)),
        Some(queries) if key_daily_queries > 1 && queries > key_daily_queries / 2 => {
            Err(ConfigError::Invalid(format!(
                "LEAD_SEARCH_TENANT_DAILY_QUERIES ({queries}) must be at most half the key's daily budget ({key_daily_queries}): one tenant must not be able to spend the shared key"
            )))
        }
        Some(queries) => Ok(queries),
    }
}

mod defaults {
    pub fn pool_size() -> usize {
        4
    }
    pub fn queue() -> String {
        "lead-searches".into()
    }
    pub fn concurrency() -> usize {
        2
    }
    pub fn provider_timeout_ms() -> u64 {
        15_000
    }
    pub fn page_delay_ms() -> u64 {
        1_000
    }
    pub fn lease_seconds() -> u64 {
        60
    }
    pub fn max_failures() -> i32 {
        8
    }
    pub fn orphan_after_seconds() -> u64 {
        300
    }
    pub fn metrics_address() -> String {
        "0.0.0.0:9104".into()
    }
    pub fn relay_interval_ms() -> u64 {
        1_000
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&std::env::vars().collect::<Vec<_>>())
    }

    /// Reads and checks the configuration from the given variables, the provider's
    /// (`GOOGLE_CSE_*`, `BRAVE_SEARCH_*`, `SEARXNG_*`) included.
    pub fn from_vars(vars: &[(String, String)]) -> Result<Self, ConfigError> {
        let env: Env = nudge_domain::config::from_iter(vars.iter().cloned())?;
        if !(1..=64).contains(&env.lead_search_concurrency) {
            return Err(ConfigError::Invalid(
                "LEAD_SEARCH_CONCURRENCY must be from 1 to 64".into(),
            ));
        }
        if env.lead_search_tenant_daily_queries.is_some_and(|q| q < 0)
            || env.lead_search_key_daily_queries.is_some_and(|q| q < 0)
        {
            return Err(ConfigError::Invalid(
                "daily query budgets must not be negative".into(),
            ));
        }
        if env.lead_search_max_failures < 1 {
            return Err(ConfigError::Invalid(
                "LEAD_SEARCH_MAX_FAILURES must be at least 1".into(),
            ));
        }
        // A page (the provider call and the pause after it) must fit in the lease, or
        // another worker could take the search over from a live one.
        let page_ms = env
            .lead_search_provider_timeout_ms
            .saturating_add(env.lead_search_page_delay_ms);
        if env.lead_search_lease_seconds.saturating_mul(1_000) < page_ms.saturating_add(2_000) {
            return Err(ConfigError::Invalid(format!(
                "LEAD_SEARCH_LEASE_SECONDS ({}) must outlast a page: the provider timeout plus the page delay plus 2 s ({} ms)",
                env.lead_search_lease_seconds,
                page_ms.saturating_add(2_000)
            )));
        }
        let metrics_address = nudge_domain::config::optional_listen_address(
            "LEAD_SEARCH_METRICS_ADDRESS",
            &env.lead_search_metrics_address,
        )?;
        let provider = providers::from_env(
            &env.lead_search_provider,
            vars,
            Duration::from_millis(env.lead_search_provider_timeout_ms),
        )?;
        let key_daily_queries = env
            .lead_search_key_daily_queries
            .unwrap_or_else(|| provider.default_daily_queries());
        let tenant_daily_queries =
            tenant_budget(env.lead_search_tenant_daily_queries, key_daily_queries)?;
        Ok(Self {
            database_url: env.database_url,
            database_pool_size: env.database_pool_size,
            lead_searches_queue: env.lead_searches_queue,
            provider,
            concurrency: env.lead_search_concurrency,
            tenant_daily_queries,
            key_daily_queries,
            page_delay: Duration::from_millis(env.lead_search_page_delay_ms),
            lease: Duration::from_secs(env.lead_search_lease_seconds),
            max_failures: env.lead_search_max_failures,
            orphan_after: Duration::from_secs(env.lead_search_orphan_after_seconds),
            worker_id: env.lead_search_worker_id.unwrap_or_else(unique_worker_id),
            metrics_address,
            outbox_relay_interval: Duration::from_millis(env.outbox_relay_interval_ms),
        })
    }
}

/// A replica's name made unique to this process: host, process id, a random part.
fn unique_worker_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "lead-search".into());
    format!(
        "{host}-{}-{:04x}",
        std::process::id(),
        rand::random::<u16>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn needs_a_provider_and_a_lease_that_outlasts_a_page() {
        let missing = Config::from_vars(&vars(&[("DATABASE_URL", "postgres://x")])).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "missing environment variable LEAD_SEARCH_PROVIDER"
        );
        let base = [
            ("DATABASE_URL", "postgres://x"),
            ("LEAD_SEARCH_PROVIDER", "brave"),
            ("BRAVE_SEARCH_API_KEY", "brave-key"),
        ];
        let config = Config::from_vars(&vars(&base)).unwrap();
        assert_eq!(super::tenant_budget(None, 100).unwrap(), 10);
        assert_eq!(super::tenant_budget(None, 5).unwrap(), 1);
        assert_eq!(super::tenant_budget(Some(40), 100).unwrap(), 40);
        assert!(super::tenant_budget(Some(100), 100).is_err());
        // Brave's key allows 66 queries a day: a tenant gets a tenth by default.
        assert_eq!(config.key_daily_queries, 66);
        assert_eq!(config.tenant_daily_queries, 6);
        let mut short = base.to_vec();
        short.push(("LEAD_SEARCH_LEASE_SECONDS", "10"));
        let error = Config::from_vars(&vars(&short)).unwrap_err();
        assert!(
            error.to_string().contains("LEAD_SEARCH_LEASE_SECONDS"),
            "{error}"
        );
    }
}
