//! Loading a service's typed configuration from environment variables, once, at start.
//! A missing or malformed variable stops the service with a message that names it.

use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("missing environment variable {0}")]
    Missing(String),
    #[error("invalid environment variable: {0}")]
    Invalid(String),
}

/// Reads `T` from the process environment; field `database_url` is `DATABASE_URL`.
pub fn from_env<T: DeserializeOwned>() -> Result<T, ConfigError> {
    from_iter(std::env::vars())
}

/// Reads `T` from the given variables (tests pass their own).
pub fn from_iter<T, I>(vars: I) -> Result<T, ConfigError>
where
    T: DeserializeOwned,
    I: IntoIterator<Item = (String, String)>,
{
    envy::from_iter(vars).map_err(|error| match error {
        envy::Error::MissingValue(field) => ConfigError::Missing(field.to_uppercase()),
        envy::Error::Custom(message) => ConfigError::Invalid(message),
    })
}

/// A listening address that can be switched off: `host:port` (an IP address; port 0
/// picks one) or `off`. `name` is the variable, for the error.
pub fn optional_listen_address(
    name: &str,
    value: &str,
) -> Result<Option<std::net::SocketAddr>, ConfigError> {
    if value.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    value.parse().map(Some).map_err(|_| {
        ConfigError::Invalid(format!(
            "{name} must be host:port (an IP address) or 'off', not '{value}'"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Sample {
        database_url: String,
        #[serde(default)]
        http_port: Option<u16>,
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn names_the_missing_variable() {
        let error = from_iter::<Sample, _>(vars(&[])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "missing environment variable DATABASE_URL"
        );
    }

    #[test]
    fn names_the_malformed_variable() {
        let error = from_iter::<Sample, _>(vars(&[("DATABASE_URL", "x"), ("HTTP_PORT", "eighty")]))
            .unwrap_err();
        assert!(error.to_string().contains("HTTP_PORT"), "{error}");
    }

    #[test]
    fn reads_values() {
        let sample =
            from_iter::<Sample, _>(vars(&[("DATABASE_URL", "x"), ("HTTP_PORT", "81")])).unwrap();
        assert_eq!(sample.database_url, "x");
        assert_eq!(sample.http_port, Some(81));
    }
}
