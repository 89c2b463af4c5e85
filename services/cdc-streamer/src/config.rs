//! `cdc-streamer`'s configuration, from environment variables (docs/configuration.md).

use std::time::Duration;

use nudge_domain::config::ConfigError;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::masking::{Masks, SECRET_TABLES};

/// Tables never streamed: the streamer's own bookkeeping and diesel's, and every table
/// of secrets ([`SECRET_TABLES`]).
pub const ALWAYS_EXCLUDED: &[&str] = &["cdc_snapshots", "__diesel_schema_migrations"];

#[derive(Clone, Deserialize)]
pub struct Config {
    /// The Nudge database. The role needs the REPLICATION attribute (on RDS:
    /// `rds_replication`) and must own the tables or be allowed to publish them.
    pub database_url: SecretString,
    #[serde(default = "defaults::slot")]
    pub cdc_slot: String,
    #[serde(default = "defaults::publication")]
    pub cdc_publication: String,
    /// Comma-separated tables to stream (schema `public`); unset: every table but
    /// the excluded ones.
    #[serde(default)]
    pub cdc_tables: Option<String>,
    /// Comma-separated tables never streamed. The default leaves out bookkeeping that
    /// changes on every request and means nothing to analytics. Tables of secrets are
    /// left out whatever this says.
    #[serde(default = "defaults::exclude")]
    pub cdc_exclude_tables: String,
    /// Stream name or ARN.
    #[serde(default = "defaults::stream")]
    pub cdc_stream: String,
    /// `initial`: copy the existing rows when the slot is created (and again after an
    /// interrupted copy); `never`: only stream changes from the slot's start.
    #[serde(default = "defaults::snapshot")]
    pub cdc_snapshot: String,
    /// Extra masks: `table.column=drop|hash`, comma-separated (docs/cdc.md).
    #[serde(default)]
    pub cdc_mask: Option<String>,
    /// The key of `hash` masks (HMAC-SHA256).
    #[serde(default)]
    pub cdc_hash_key: Option<SecretString>,
    /// How often a heartbeat is written to the WAL, so that a quiet database still
    /// moves the slot forward.
    #[serde(default = "defaults::heartbeat_ms")]
    pub cdc_heartbeat_interval_ms: u64,
    /// How long the first record of a batch waits for others before the batch is put.
    #[serde(default = "defaults::linger_ms")]
    pub cdc_batch_linger_ms: u64,
    /// Longest wait between two retries of records Kinesis refused.
    #[serde(default = "defaults::max_backoff_ms")]
    pub cdc_max_backoff_ms: u64,
    /// Where `/metrics` and `/healthz` listen (`host:port`; port 0 picks one), or `off`.
    #[serde(default = "defaults::metrics_address")]
    pub cdc_metrics_address: String,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("cdc_slot", &self.cdc_slot)
            .field("cdc_publication", &self.cdc_publication)
            .field("cdc_stream", &self.cdc_stream)
            .finish_non_exhaustive()
    }
}

mod defaults {
    pub fn slot() -> String {
        "nudge_cdc".into()
    }
    pub fn publication() -> String {
        "nudge_cdc".into()
    }
    pub fn exclude() -> String {
        "outbox,send_rate_buckets,tenant_request_usage,lead_search_budget".into()
    }
    pub fn stream() -> String {
        "db-changes".into()
    }
    pub fn snapshot() -> String {
        "initial".into()
    }
    pub fn heartbeat_ms() -> u64 {
        10_000
    }
    pub fn linger_ms() -> u64 {
        20
    }
    pub fn max_backoff_ms() -> u64 {
        5_000
    }
    pub fn metrics_address() -> String {
        "0.0.0.0:9103".into()
    }
}

/// Whether to copy the existing rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotMode {
    Initial,
    Never,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(std::env::vars())
    }

    /// Reads and checks the configuration from the given variables.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let config: Self = nudge_domain::config::from_iter(vars)?;
        for (name, value) in [
            ("CDC_SLOT", &config.cdc_slot),
            ("CDC_PUBLICATION", &config.cdc_publication),
        ] {
            // Slot names allow only these; keeping publications to the same makes
            // both safe to put in replication commands.
            if value.is_empty()
                || value.len() > 63
                || !value
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                return Err(ConfigError::Invalid(format!(
                    "{name} must be 1 to 63 lower-case letters, digits or underscores, not '{value}'"
                )));
            }
        }
        for table in config
            .included_tables()
            .unwrap_or_default()
            .iter()
            .chain(&config.excluded_tables())
        {
            if !is_identifier(table) {
                return Err(ConfigError::Invalid(format!(
                    "CDC_TABLES / CDC_EXCLUDE_TABLES: '{table}' is not a table name"
                )));
            }
        }
        if let Some(secret) = config
            .included_tables()
            .unwrap_or_default()
            .into_iter()
            .find(|table| SECRET_TABLES.contains(&table.as_str()))
        {
            return Err(ConfigError::Invalid(format!(
                "CDC_TABLES names '{secret}', which holds secrets and is never streamed"
            )));
        }
        config.snapshot_mode()?;
        config.masks()?;
        config.metrics_address()?;
        if config.cdc_heartbeat_interval_ms == 0 {
            return Err(ConfigError::Invalid(
                "CDC_HEARTBEAT_INTERVAL_MS must be at least 1".into(),
            ));
        }
        Ok(config)
    }

    pub fn snapshot_mode(&self) -> Result<SnapshotMode, ConfigError> {
        match self.cdc_snapshot.as_str() {
            "initial" => Ok(SnapshotMode::Initial),
            "never" => Ok(SnapshotMode::Never),
            other => Err(ConfigError::Invalid(format!(
                "CDC_SNAPSHOT must be 'initial' or 'never', not '{other}'"
            ))),
        }
    }

    pub fn masks(&self) -> Result<Masks, ConfigError> {
        Masks::parse(self.cdc_mask.as_deref(), self.cdc_hash_key.clone())
            .map_err(|e| ConfigError::Invalid(e.to_string()))
    }

    /// The tables asked for, or `None` for all.
    pub fn included_tables(&self) -> Option<Vec<String>> {
        self.cdc_tables.as_deref().map(split_list)
    }

    pub fn excluded_tables(&self) -> Vec<String> {
        let mut tables = split_list(&self.cdc_exclude_tables);
        tables.extend(
            ALWAYS_EXCLUDED
                .iter()
                .chain(SECRET_TABLES)
                .map(|t| (*t).to_owned()),
        );
        tables
    }

    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_millis(self.cdc_heartbeat_interval_ms)
    }

    /// The connection string for the replication connection: the database URL with
    /// `replication=database`, which makes the server start a WAL sender.
    pub fn replication_url(&self) -> String {
        let url = self.database_url.expose_secret();
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}replication=database")
    }

    /// The metrics listener's address; `None` when metrics are off.
    pub fn metrics_address(&self) -> Result<Option<std::net::SocketAddr>, ConfigError> {
        nudge_domain::config::optional_listen_address(
            "CDC_METRICS_ADDRESS",
            &self.cdc_metrics_address,
        )
    }
}

fn split_list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut all = vec![(
            "DATABASE_URL".to_owned(),
            "postgres://cdc:pw@db/nudge".to_owned(),
        )];
        all.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        all
    }

    #[test]
    fn defaults_are_usable() {
        let config = Config::from_vars(vars(&[])).unwrap();
        assert_eq!(config.cdc_stream, "db-changes");
        assert_eq!(config.snapshot_mode().unwrap(), SnapshotMode::Initial);
        assert_eq!(config.included_tables(), None);
        assert!(config.excluded_tables().contains(&"outbox".to_owned()));
        assert!(config
            .excluded_tables()
            .contains(&"cdc_snapshots".to_owned()));
        // Emptying the exclusions leaves the tables of secrets out all the same.
        let emptied = Config::from_vars(vars(&[("CDC_EXCLUDE_TABLES", "")])).unwrap();
        for table in SECRET_TABLES {
            assert!(
                emptied.excluded_tables().contains(&(*table).to_owned()),
                "{table}"
            );
        }
        assert_eq!(
            config.replication_url(),
            "postgres://cdc:pw@db/nudge?replication=database"
        );
    }

    #[test]
    fn bad_values_are_named() {
        for (name, value, expected) in [
            ("CDC_SLOT", "Nudge-CDC", "CDC_SLOT"),
            ("CDC_SNAPSHOT", "sometimes", "CDC_SNAPSHOT"),
            ("CDC_TABLES", "messages,drop table x", "not a table name"),
            ("CDC_TABLES", "messages,console_sessions", "holds secrets"),
            ("CDC_MASK", "customers.phone=hash", "CDC_HASH_KEY"),
            ("CDC_METRICS_ADDRESS", "localhost", "CDC_METRICS_ADDRESS"),
            (
                "CDC_HEARTBEAT_INTERVAL_MS",
                "0",
                "CDC_HEARTBEAT_INTERVAL_MS",
            ),
        ] {
            let error = Config::from_vars(vars(&[(name, value)]))
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{name}={value}: {error}");
        }
        assert!(Config::from_vars(Vec::<(String, String)>::new()).is_err());
    }

    #[test]
    fn debug_output_hides_the_database_password() {
        let config = Config::from_vars(vars(&[])).unwrap();
        assert!(!format!("{config:?}").contains("pw"));
    }
}
