//! The console's configuration, from the `CONSOLE_*` environment variables
//! (docs/configuration.md), checked and typed once at load: messaging-api reads it with
//! its own and hands it to [`crate::ConsoleState`] and the mailer.

use nudge_domain::config::ConfigError;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The console's settings, typed.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where people reach the console, without a trailing slash (links in its emails
    /// use it); `https` makes its cookies `Secure`, plain `http` is for localhost only.
    pub public_url: url::Url,
    /// The console's sender address (an SES verified identity).
    pub email_from: String,
    /// How its email leaves.
    pub email: EmailTransportSetting,
    /// Sign-in with an OpenID Connect provider, when a client id is set.
    pub oidc: Option<OidcSettings>,
}

/// How the console's email leaves.
#[derive(Debug, Clone)]
pub enum EmailTransportSetting {
    Ses,
    /// The URL may hold a password: it never prints.
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

/// The variables as set; only [`Config`] leaves this module.
#[derive(Deserialize)]
struct Env {
    #[serde(default = "defaults::public_url")]
    console_public_url: String,
    #[serde(default = "defaults::email_from")]
    console_email_from: String,
    /// The OpenID Connect issuer (default Google's); sign-in with it is offered only when
    /// a client id is set.
    #[serde(default = "defaults::oidc_issuer")]
    console_oidc_issuer: String,
    console_oidc_client_id: Option<String>,
    console_oidc_client_secret: Option<SecretString>,
    /// The provider's name on the button ("Sign in with Google").
    #[serde(default = "defaults::oidc_name")]
    console_oidc_name: String,
    /// `ses` (Amazon SES, the AWS variables) or `smtp` (`CONSOLE_SMTP_URL`).
    #[serde(default = "defaults::email_transport")]
    console_email_transport: String,
    console_smtp_url: Option<SecretString>,
}

mod defaults {
    pub fn public_url() -> String {
        "http://localhost:8080".into()
    }
    pub fn email_from() -> String {
        "Nudge <no-reply@nudge.localhost>".into()
    }
    pub fn oidc_issuer() -> String {
        "https://accounts.google.com".into()
    }
    pub fn oidc_name() -> String {
        "Google".into()
    }
    pub fn email_transport() -> String {
        "ses".into()
    }
}

impl Config {
    /// Reads and checks the `CONSOLE_*` variables among `vars` (others are ignored).
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let env: Env = nudge_domain::config::from_iter(vars)?;
        Ok(Self {
            public_url: public_url(&env.console_public_url)?,
            email: email_transport(&env.console_email_transport, env.console_smtp_url)?,
            oidc: oidc(
                &env.console_oidc_issuer,
                env.console_oidc_client_id.as_deref(),
                env.console_oidc_client_secret,
                &env.console_oidc_name,
            )?,
            email_from: env.console_email_from,
        })
    }
}

fn is_local(url: &url::Url) -> bool {
    matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
}

/// The console's public base URL, without a trailing slash; `http` only for a local
/// host (development), where cookies cannot be `Secure`.
fn public_url(raw: &str) -> Result<url::Url, ConfigError> {
    let invalid = |why: &str| ConfigError::Invalid(format!("CONSOLE_PUBLIC_URL '{raw}': {why}"));
    let url = url::Url::parse(raw.trim_end_matches('/')).map_err(|e| invalid(&e.to_string()))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_local(&url) => Ok(url),
        "http" => Err(invalid(
            "must be https outside localhost (its cookies are Secure)",
        )),
        _ => Err(invalid("must be an http(s) URL")),
    }
}

/// How the console's email leaves, checked: SES, or SMTP with its URL.
fn email_transport(
    transport: &str,
    smtp_url: Option<SecretString>,
) -> Result<EmailTransportSetting, ConfigError> {
    match transport.trim() {
        "ses" => Ok(EmailTransportSetting::Ses),
        "smtp" => {
            let Some(url) = smtp_url else {
                return Err(ConfigError::Invalid(
                    "CONSOLE_EMAIL_TRANSPORT=smtp needs CONSOLE_SMTP_URL".into(),
                ));
            };
            let parsed = url::Url::parse(url.expose_secret())
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
            if parsed.scheme() == "smtp" && !required_starttls && !is_local(&parsed) {
                return Err(ConfigError::Invalid(
                    "CONSOLE_SMTP_URL must use TLS outside localhost: smtps://host:465, or smtp://host:587?tls=required".into(),
                ));
            }
            Ok(EmailTransportSetting::Smtp(url))
        }
        other => Err(ConfigError::Invalid(format!(
            "CONSOLE_EMAIL_TRANSPORT must be ses or smtp, not '{other}'"
        ))),
    }
}

/// The console's OpenID Connect client, or `None` when no client id is set. The issuer
/// must be https, except on a local host (development).
fn oidc(
    issuer: &str,
    client_id: Option<&str>,
    client_secret: Option<SecretString>,
    name: &str,
) -> Result<Option<OidcSettings>, ConfigError> {
    let Some(client_id) = client_id.map(str::trim).filter(|id| !id.is_empty()) else {
        return Ok(None);
    };
    let issuer = issuer.trim().trim_end_matches('/');
    let invalid =
        |why: &str| ConfigError::Invalid(format!("CONSOLE_OIDC_ISSUER '{issuer}': {why}"));
    let url = url::Url::parse(issuer).map_err(|e| invalid(&e.to_string()))?;
    match url.scheme() {
        "https" => {}
        "http" if is_local(&url) => {}
        _ => return Err(invalid("must be an https URL (http only on localhost)")),
    }
    Ok(Some(OidcSettings {
        issuer: issuer.to_owned(),
        client_id: client_id.to_owned(),
        client_secret,
        name: name.trim().to_owned(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_vars(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
    }

    #[test]
    fn oidc_is_off_without_a_client_and_needs_https_outside_localhost() {
        assert!(config(&[]).unwrap().oidc.is_none());
        let oidc = config(&[("CONSOLE_OIDC_CLIENT_ID", "abc")])
            .unwrap()
            .oidc
            .unwrap();
        assert_eq!(oidc.issuer, "https://accounts.google.com");
        assert_eq!(oidc.name, "Google");
        let error = config(&[
            ("CONSOLE_OIDC_CLIENT_ID", "abc"),
            ("CONSOLE_OIDC_ISSUER", "http://id.example.com"),
        ])
        .unwrap_err();
        assert!(error.to_string().contains("CONSOLE_OIDC_ISSUER"), "{error}");
        let local = config(&[
            ("CONSOLE_OIDC_CLIENT_ID", "abc"),
            ("CONSOLE_OIDC_ISSUER", "http://127.0.0.1:8090/oidc/"),
        ])
        .unwrap();
        assert_eq!(local.oidc.unwrap().issuer, "http://127.0.0.1:8090/oidc");
    }

    #[test]
    fn smtp_needs_a_url_which_is_never_repeated_in_errors() {
        assert!(matches!(
            config(&[]).unwrap().email,
            EmailTransportSetting::Ses
        ));
        let error = config(&[("CONSOLE_EMAIL_TRANSPORT", "smtp")]).unwrap_err();
        assert!(error.to_string().contains("CONSOLE_SMTP_URL"), "{error}");
        let error = config(&[
            ("CONSOLE_EMAIL_TRANSPORT", "smtp"),
            ("CONSOLE_SMTP_URL", "http://user:s3cret@mail.example.com"),
        ])
        .unwrap_err();
        assert!(!error.to_string().contains("s3cret"), "{error}");
        let smtp = config(&[
            ("CONSOLE_EMAIL_TRANSPORT", "smtp"),
            (
                "CONSOLE_SMTP_URL",
                "smtps://user:s3cret@mail.example.com:465",
            ),
        ])
        .unwrap();
        assert!(matches!(smtp.email, EmailTransportSetting::Smtp(_)));
        assert!(!format!("{smtp:?}").contains("s3cret"));
        let error = config(&[("CONSOLE_EMAIL_TRANSPORT", "pigeon")]).unwrap_err();
        assert!(error.to_string().contains("pigeon"), "{error}");
    }

    #[test]
    fn smtp_without_tls_is_refused_unless_the_relay_is_local() {
        let smtp = |url: &str| {
            config(&[
                ("CONSOLE_EMAIL_TRANSPORT", "smtp"),
                ("CONSOLE_SMTP_URL", url),
            ])
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
    fn the_console_is_https_outside_localhost() {
        let public = |url: &str| config(&[("CONSOLE_PUBLIC_URL", url)]);
        assert!(public("https://console.example.com").is_ok());
        assert_eq!(
            public("http://localhost:8080/")
                .unwrap()
                .public_url
                .as_str(),
            "http://localhost:8080/"
        );
        assert!(public("http://127.0.0.1:8080").is_ok());
        let error = public("http://console.example.com").unwrap_err();
        assert!(error.to_string().contains("CONSOLE_PUBLIC_URL"), "{error}");
        assert!(public("ftp://localhost").is_err());
        assert!(public("not a url").is_err());
    }
}
