//! The merchant console: web pages for people (not API keys), mounted by
//! `messaging-api` under `/console` (one process, one origin). Server-rendered HTML
//! (askama templates, no build step) that reads the database through the same
//! tenant-scoped queries as the API and does what merchants ask through the same use
//! cases (`nudge_usecases`); see docs/console.md for what is built so far and
//! docs/ARCHITECTURE.md for why.
//!
//! Layout: `config` (the `CONSOLE_*` variables, typed), `state` (what handlers share),
//! `routes` (accounts), `reset`, `team`, `join` (accepting an invitation),
//! `messages`, `send`, `media`, `conversations`, `customers`, `campaigns`, `leads`, `templates`, `oidc` (sign-in with a provider) and
//! `api_keys` (handlers), `roles` (who may do what), `session` (who is signed in,
//! CSRF), `password` (argon2id), `pages` (templates), `emails` and `mailer` (what is
//! sent and how), `error` (failures as pages).

mod api_keys;
pub mod assets;
mod campaigns;
pub mod config;
mod conversations;
mod customers;
pub mod emails;
pub mod error;
mod join;
mod leads;
pub mod mailer;
mod media;
mod messages;
mod oidc;
pub mod pages;
pub mod password;
mod reset;
pub mod roles;
mod routes;
mod send;
pub mod session;
mod state;
mod team;
mod templates;
mod thumbnail;

pub use config::Config;
pub use oidc::Provider as OidcProvider;
pub use routes::{configure, ROUTES};
pub use state::ConsoleState;

/// Shops offered in forms and filters (a tenant with more names them by id in the API).
const SHOPS_OFFERED: i64 = 100;

/// The tenant's shops as forms and filters offer them: id and name, newest first.
async fn shop_choices(
    conn: &mut nudge_db::AsyncPgConnection,
    tenant: nudge_domain::TenantId,
) -> Result<Vec<(String, String)>, nudge_db::DbError> {
    Ok(nudge_db::shops::list(
        conn,
        tenant,
        nudge_db::PageRequest {
            limit: SHOPS_OFFERED,
            before: None,
        },
    )
    .await?
    .items
    .into_iter()
    .map(|shop| (shop.id.to_string(), shop.name))
    .collect())
}

/// What the console's handlers need from the configuration.
#[derive(Clone)]
pub struct ConsoleSettings {
    /// Base of the links in emails.
    pub public_url: url::Url,
    /// Cookies are `Secure` when the console is served over https.
    pub secure_cookies: bool,
    /// Sign-in with an OpenID Connect provider, when configured.
    pub oidc: Option<std::sync::Arc<oidc::Provider>>,
}

impl ConsoleSettings {
    pub fn new(public_url: url::Url) -> Self {
        Self {
            secure_cookies: public_url.scheme() == "https",
            public_url,
            oidc: None,
        }
    }

    pub fn with_oidc(mut self, provider: Option<oidc::Provider>) -> Self {
        self.oidc = provider.map(std::sync::Arc::new);
        self
    }

    /// A cookie's name: over https `__Host-` first, which a browser accepts only from a
    /// secure origin, with `Path=/` and no `Domain`, so that neither a sibling
    /// subdomain nor a plain-http page can plant or shadow it. In development
    /// (`http://localhost`) such cookies cannot be set: the plain name.
    pub fn cookie_name(&self, name: &str) -> String {
        if self.secure_cookies {
            format!("__Host-{name}")
        } else {
            name.to_owned()
        }
    }

    /// A cookie's path: `/` when its name is `__Host-` (the prefix requires it), else
    /// the narrowest path that needs it.
    pub fn cookie_path<'a>(&self, path: &'a str) -> &'a str {
        if self.secure_cookies {
            "/"
        } else {
            path
        }
    }
}

/// An address as stored: trimmed and lower-cased, if it looks like one (something,
/// `@`, a domain with a dot; no spaces; at most 254 characters). Whether it receives
/// mail is what the confirmation link finds out.
pub fn normalize_email(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let plausible = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    plausible.then_some(email)
}

#[cfg(test)]
mod tests {
    use super::normalize_email;

    #[test]
    fn addresses_are_trimmed_lower_cased_and_plausible() {
        assert_eq!(
            normalize_email("  Jane.Doe@Shop.Example "),
            Some("jane.doe@shop.example".into())
        );
        for bad in [
            "",
            "jane",
            "@shop.example",
            "jane@",
            "jane@shop",
            "jane@@shop.example",
            "ja ne@shop.example",
            "jane@shop.example.",
        ] {
            assert_eq!(normalize_email(bad), None, "{bad}");
        }
        assert_eq!(
            normalize_email(&format!("{}@shop.example", "a".repeat(250))),
            None
        );
    }
}
