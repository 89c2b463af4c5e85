//! `webhook-listener`'s configuration, from environment variables (docs/configuration.md).

use nudge_domain::config::ConfigError;
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
    /// The provider account's auth token: the key of its request signatures.
    pub twilio_auth_token: SecretString,
    /// Bodies larger than this are refused with 413 (Twilio's are a few KiB).
    #[serde(default = "defaults::body_limit")]
    pub webhook_body_limit_bytes: usize,
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
}

impl Config {
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
        Ok(config)
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
}
