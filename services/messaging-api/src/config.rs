//! `messaging-api`'s configuration, from environment variables (docs/configuration.md).

use nudge_domain::config::ConfigError;
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
    /// Queue name or full URL of the lead-search queue.
    #[serde(default = "defaults::lead_searches_queue")]
    pub lead_searches_queue: String,
    /// How often the outbox relay looks for work when nothing wakes it (milliseconds).
    #[serde(default = "defaults::relay_interval_ms")]
    pub outbox_relay_interval_ms: u64,
    /// Customers a campaign expands per transaction (1 to 1,000).
    #[serde(default = "defaults::campaign_page_size")]
    pub campaign_page_size: i64,
    /// A tenant's campaign messages that may wait for the sender at once (queued or
    /// being sent); past it, its campaigns pause until the sender catches up. This
    /// bounds how many campaign messages can be ahead of another tenant's send.
    #[serde(default = "defaults::campaign_max_unsent")]
    pub campaign_max_unsent: i64,
    /// Where merchants' webhook and fulfilment URLs may point: `public` (https to public
    /// addresses only; production) or `any` (development). The webhook listener, which
    /// calls them, reads the same variable.
    #[serde(default = "defaults::webhook_targets")]
    pub webhook_targets: String,
    /// Where people reach the console (links in its emails use it). `https://` makes
    /// its cookies `Secure`; plain `http://` is only accepted for localhost.
    #[serde(default = "defaults::console_public_url")]
    pub console_public_url: String,
    /// The console's sender address (an SES verified identity).
    #[serde(default = "defaults::console_email_from")]
    pub console_email_from: String,
    /// Sign-in with an OpenID Connect provider: off unless a client id is set. The
    /// issuer's discovery document is read from
    /// `{issuer}/.well-known/openid-configuration`.
    #[serde(default = "defaults::console_oidc_issuer")]
    pub console_oidc_issuer: String,
    #[serde(default)]
    pub console_oidc_client_id: Option<String>,
    /// The client's secret; never printed.
    #[serde(default)]
    pub console_oidc_client_secret: Option<SecretString>,
    /// The provider's name on the sign-in button.
    #[serde(default = "defaults::console_oidc_name")]
    pub console_oidc_name: String,
    /// How the console's email leaves: `ses` (Amazon SES, the AWS variables) or `smtp`
    /// (`CONSOLE_SMTP_URL`).
    #[serde(default = "defaults::console_email_transport")]
    pub console_email_transport: String,
    /// `smtps://user:password@host:465`, or `smtp://user:password@host:587?tls=required`
    /// for STARTTLS; holds a password, so it never prints.
    #[serde(default)]
    pub console_smtp_url: Option<SecretString>,
    /// The S3 bucket of MMS images (the sender reads the same).
    #[serde(default = "defaults::media_bucket")]
    pub media_bucket: String,
    /// The load balancers and proxies in front of the API (comma-separated CIDRs), whose
    /// `X-Forwarded-For` names the client. Empty: the TCP peer is the client
    /// (docs/security.md).
    #[serde(default)]
    pub trusted_proxies: String,
}

/// How the console's email leaves.
#[derive(Debug, Clone)]
pub enum EmailTransportSetting {
    Ses,
    Smtp(SecretString),
}

/// The console's OpenID Connect client, checked.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// Exactly as the provider writes it (ID tokens must carry this `iss`).
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    pub name: String,
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
    pub fn console_public_url() -> String {
        "http://localhost:8080".into()
    }
    pub fn console_email_from() -> String {
        "Nudge <no-reply@nudge.localhost>".into()
    }
    pub fn console_oidc_issuer() -> String {
        "https://accounts.google.com".into()
    }
    pub fn console_oidc_name() -> String {
        "Google".into()
    }
    pub fn console_email_transport() -> String {
        "ses".into()
    }
    pub fn media_bucket() -> String {
        "nudge-media".into()
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
        let config: Self = nudge_domain::config::from_iter(vars)?;
        if !(1..=1_000).contains(&config.campaign_page_size) {
            return Err(ConfigError::Invalid(format!(
                "CAMPAIGN_PAGE_SIZE must be from 1 to 1000, not {}",
                config.campaign_page_size
            )));
        }
        if config.campaign_max_unsent < config.campaign_page_size {
            return Err(ConfigError::Invalid(format!(
                "CAMPAIGN_MAX_UNSENT ({}) must be at least CAMPAIGN_PAGE_SIZE ({})",
                config.campaign_max_unsent, config.campaign_page_size
            )));
        }
        config.target_policy()?;
        config.trusted_proxies()?;
        config.console_public_url()?;
        config.console_oidc()?;
        config.console_email()?;
        Ok(config)
    }

    /// How the console's email leaves, checked: SES, or SMTP with its URL.
    pub fn console_email(&self) -> Result<EmailTransportSetting, ConfigError> {
        match self.console_email_transport.trim() {
            "ses" => Ok(EmailTransportSetting::Ses),
            "smtp" => {
                let Some(url) = &self.console_smtp_url else {
                    return Err(ConfigError::Invalid(
                        "CONSOLE_EMAIL_TRANSPORT=smtp needs CONSOLE_SMTP_URL".into(),
                    ));
                };
                let parsed = url::Url::parse(secrecy::ExposeSecret::expose_secret(url))
                    .ok()
                    .filter(|u| matches!(u.scheme(), "smtp" | "smtps") && u.host_str().is_some());
                // The URL may hold a password: the messages never repeat it.
                let Some(parsed) = parsed else {
                    return Err(ConfigError::Invalid(
                        "CONSOLE_SMTP_URL must be smtp://host:port or smtps://host:port (with user:password@ if the server needs them)".into(),
                    ));
                };
                // Emails carry sign-in links and the password travels with them: TLS
                // (smtps, or STARTTLS that must succeed) unless the relay is this host.
                let required_starttls = parsed
                    .query_pairs()
                    .any(|(key, value)| key == "tls" && value == "required");
                let local = matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
                if parsed.scheme() == "smtp" && !required_starttls && !local {
                    return Err(ConfigError::Invalid(
                        "CONSOLE_SMTP_URL must use TLS outside localhost: smtps://host:465, or smtp://host:587?tls=required".into(),
                    ));
                }
                Ok(EmailTransportSetting::Smtp(url.clone()))
            }
            other => Err(ConfigError::Invalid(format!(
                "CONSOLE_EMAIL_TRANSPORT must be ses or smtp, not '{other}'"
            ))),
        }
    }

    /// The console's OpenID Connect client, or `None` when no client id is set. The
    /// issuer must be https, except on a local host (development).
    pub fn console_oidc(&self) -> Result<Option<OidcSettings>, ConfigError> {
        let Some(client_id) = self
            .console_oidc_client_id
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty())
        else {
            return Ok(None);
        };
        let issuer = self.console_oidc_issuer.trim().trim_end_matches('/');
        let invalid =
            |why: &str| ConfigError::Invalid(format!("CONSOLE_OIDC_ISSUER '{issuer}': {why}"));
        let url = url::Url::parse(issuer).map_err(|e| invalid(&e.to_string()))?;
        let local = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
        match url.scheme() {
            "https" => {}
            "http" if local => {}
            _ => return Err(invalid("must be an https URL (http only on localhost)")),
        }
        Ok(Some(OidcSettings {
            issuer: issuer.to_owned(),
            client_id: client_id.to_owned(),
            client_secret: self.console_oidc_client_secret.clone(),
            name: self.console_oidc_name.trim().to_owned(),
        }))
    }

    /// The console's public base URL, without a trailing slash; `http` only for a
    /// local host (development), where cookies cannot be `Secure`.
    pub fn console_public_url(&self) -> Result<url::Url, ConfigError> {
        let invalid = |why: &str| {
            ConfigError::Invalid(format!(
                "CONSOLE_PUBLIC_URL '{}': {why}",
                self.console_public_url
            ))
        };
        let url = url::Url::parse(self.console_public_url.trim_end_matches('/'))
            .map_err(|e| invalid(&e.to_string()))?;
        let local = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
        match url.scheme() {
            "https" => Ok(url),
            "http" if local => Ok(url),
            "http" => Err(invalid(
                "must be https outside localhost (its cookies are Secure)",
            )),
            _ => Err(invalid("must be an http(s) URL")),
        }
    }

    /// The proxies whose `X-Forwarded-For` is believed.
    pub fn trusted_proxies(&self) -> Result<nudge_domain::TrustedProxies, ConfigError> {
        nudge_domain::TrustedProxies::parse(&self.trusted_proxies).map_err(ConfigError::Invalid)
    }

    pub fn target_policy(&self) -> Result<nudge_domain::TargetPolicy, ConfigError> {
        nudge_domain::TargetPolicy::from_setting(&self.webhook_targets).ok_or_else(|| {
            ConfigError::Invalid(format!(
                "WEBHOOK_TARGETS must be 'public' or 'any' (development), not '{}'",
                self.webhook_targets.trim()
            ))
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
    fn oidc_is_off_without_a_client_and_needs_https_outside_localhost() {
        let config = Config::from_vars(vars(&[])).unwrap();
        assert!(config.console_oidc().unwrap().is_none());
        let config = Config::from_vars(vars(&[("CONSOLE_OIDC_CLIENT_ID", "abc")])).unwrap();
        let oidc = config.console_oidc().unwrap().unwrap();
        assert_eq!(oidc.issuer, "https://accounts.google.com");
        assert_eq!(oidc.name, "Google");
        let error = Config::from_vars(vars(&[
            ("CONSOLE_OIDC_CLIENT_ID", "abc"),
            ("CONSOLE_OIDC_ISSUER", "http://id.example.com"),
        ]))
        .unwrap_err();
        assert!(error.to_string().contains("CONSOLE_OIDC_ISSUER"), "{error}");
        let local = Config::from_vars(vars(&[
            ("CONSOLE_OIDC_CLIENT_ID", "abc"),
            ("CONSOLE_OIDC_ISSUER", "http://127.0.0.1:8090/oidc/"),
        ]))
        .unwrap();
        assert_eq!(
            local.console_oidc().unwrap().unwrap().issuer,
            "http://127.0.0.1:8090/oidc"
        );
    }

    #[test]
    fn smtp_needs_a_url_which_is_never_repeated_in_errors() {
        let config = Config::from_vars(vars(&[])).unwrap();
        assert!(matches!(
            config.console_email().unwrap(),
            EmailTransportSetting::Ses
        ));
        let error = Config::from_vars(vars(&[("CONSOLE_EMAIL_TRANSPORT", "smtp")])).unwrap_err();
        assert!(error.to_string().contains("CONSOLE_SMTP_URL"), "{error}");
        let error = Config::from_vars(vars(&[
            ("CONSOLE_EMAIL_TRANSPORT", "smtp"),
            ("CONSOLE_SMTP_URL", "http://user:s3cret@mail.example.com"),
        ]))
        .unwrap_err();
        assert!(!error.to_string().contains("s3cret"), "{error}");
        let config = Config::from_vars(vars(&[
            ("CONSOLE_EMAIL_TRANSPORT", "smtp"),
            (
                "CONSOLE_SMTP_URL",
                "smtps://user:s3cret@mail.example.com:465",
            ),
        ]))
        .unwrap();
        assert!(matches!(
            config.console_email().unwrap(),
            EmailTransportSetting::Smtp(_)
        ));
        assert!(!format!("{config:?}").contains("s3cret"));
        let error = Config::from_vars(vars(&[("CONSOLE_EMAIL_TRANSPORT", "pigeon")])).unwrap_err();
        assert!(error.to_string().contains("pigeon"), "{error}");
    }

    #[test]
    fn smtp_without_tls_is_refused_unless_the_relay_is_local() {
        let smtp = |url: &str| {
            Config::from_vars(vars(&[
                ("CONSOLE_EMAIL_TRANSPORT", "smtp"),
                ("CONSOLE_SMTP_URL", url),
            ]))
        };
        for plain in [
            "smtp://user:s3cret@mail.example.com:587",
            "smtp://user:s3cret@mail.example.com:587?tls=opportunistic",
        ] {
            let error = smtp(plain).unwrap_err().to_string();
            assert!(error.contains("must use TLS"), "{plain}: {error}");
            assert!(!error.contains("s3cret"), "{error}");
        }
        for fine in [
            "smtp://user:s3cret@mail.example.com:587?tls=required",
            "smtps://mail.example.com:465",
            "smtp://127.0.0.1:1025",
            "smtp://localhost:25",
        ] {
            assert!(smtp(fine).is_ok(), "{fine}");
        }
    }

    #[test]
    fn trusted_proxies_are_cidrs() {
        let config =
            Config::from_vars(vars(&[("TRUSTED_PROXIES", "10.0.0.0/16,2600:1f18::/32")])).unwrap();
        assert!(!config.trusted_proxies().unwrap().is_empty());
        assert!(Config::from_vars(vars(&[]))
            .unwrap()
            .trusted_proxies()
            .unwrap()
            .is_empty());
        let error = Config::from_vars(vars(&[("TRUSTED_PROXIES", "alb.internal")])).unwrap_err();
        assert!(error.to_string().contains("TRUSTED_PROXIES"), "{error}");
    }

    #[test]
    fn defaults_apply_and_bad_values_are_named() {
        let config = Config::from_vars(vars(&[])).unwrap();
        assert_eq!(config.campaign_page_size, 200);
        let error = Config::from_vars(vars(&[("CAMPAIGN_PAGE_SIZE", "0")])).unwrap_err();
        assert!(error.to_string().contains("CAMPAIGN_PAGE_SIZE"), "{error}");
        let error = Config::from_vars(vars(&[("HTTP_PORT", "eighty")])).unwrap_err();
        assert!(error.to_string().contains("eighty"), "{error}");
    }

    #[test]
    fn the_console_is_https_outside_localhost() {
        let public = |url: &str| Config::from_vars(vars(&[("CONSOLE_PUBLIC_URL", url)]));
        assert!(public("https://console.example.com").is_ok());
        assert!(public("http://localhost:8080/").is_ok());
        assert!(public("http://127.0.0.1:8080").is_ok());
        let error = public("http://console.example.com").unwrap_err();
        assert!(error.to_string().contains("CONSOLE_PUBLIC_URL"), "{error}");
        assert!(public("ftp://localhost").is_err());
        assert!(public("not a url").is_err());
    }
}
