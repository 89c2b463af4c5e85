//! DEV ONLY: a local stand-in for the subset of Twilio's Messages API that Nudge uses,
//! so that tests and the demo can run the whole loop with no network. Never deployed.
//!
//! It follows `reference/twilio/twilio_api_v2010.json`: create and fetch a Message with
//! Twilio's response shape, basic auth with the account SID and auth token, Twilio's
//! error bodies and codes, and Twilio's magic test numbers. It records every request it
//! accepted; `GET /sandbox/messages` lists them. It posts signed status callbacks
//! (`sent`, then `delivered` or an error for its magic numbers) to each message's
//! `StatusCallback`, as Twilio does, and `POST /sandbox/inbound` makes a customer text
//! one of our numbers (a signed post to `SANDBOX_INBOUND_URL`). `faults` makes creates
//! answer late, cut off, or with a 500 after the message exists.
//!
//! It also stands in for the web search APIs of `lead-search` (`search`): Google
//! Custom Search, Brave Search and SearXNG, over one made-up corpus; and for the
//! console's OpenID Connect issuer (`oidc`, at `/oidc`), in place of Google.

pub mod callbacks;
pub mod faults;
pub mod inbound;
pub mod oidc;
pub mod search;
pub mod store;
pub mod twilio;

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use serde::Deserialize;

/// The sandbox's configuration (docs/configuration.md).
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    #[serde(default = "defaults::host")]
    pub sandbox_http_host: String,
    #[serde(default = "defaults::port")]
    pub sandbox_http_port: u16,
    #[serde(default = "defaults::account_sid")]
    pub sandbox_account_sid: String,
    #[serde(default = "defaults::auth_token")]
    pub sandbox_auth_token: String,
    /// More accounts the sandbox knows, as tenants' Twilio subaccounts:
    /// `ACxxx:token,ACyyy:token`. Each authenticates its own API calls and signs the
    /// callbacks of its own messages.
    #[serde(default)]
    pub sandbox_subaccounts: Option<String>,
    /// Where inbound SMS are posted (the listener's `/twilio/inbound`, as its public URL).
    pub sandbox_inbound_url: Option<String>,
    /// Milliseconds from acceptance to the final status callback (`delivered`...);
    /// real carriers take seconds, and a demo or a test may want to watch the wait.
    #[serde(default = "defaults::final_status_after_ms")]
    pub sandbox_final_status_after_ms: u64,
    /// The client its OpenID Connect issuer (`/oidc`) knows.
    #[serde(default = "defaults::oidc_client_id")]
    pub sandbox_oidc_client_id: String,
    #[serde(default = "defaults::oidc_client_secret")]
    pub sandbox_oidc_client_secret: String,
}

/// Where `POST /sandbox/inbound` posts.
#[derive(Debug, Clone)]
pub struct InboundTarget {
    pub url: Option<String>,
}

mod defaults {
    pub fn host() -> String {
        "127.0.0.1".into()
    }
    pub fn port() -> u16 {
        8090
    }
    pub fn account_sid() -> String {
        "AC00000000000000000000000000000000".into()
    }
    pub fn auth_token() -> String {
        "sandbox-auth-token".into()
    }
    pub fn final_status_after_ms() -> u64 {
        300
    }
    pub fn oidc_client_id() -> String {
        "nudge-console".into()
    }
    pub fn oidc_client_secret() -> String {
        "sandbox-oidc-secret".into()
    }
}

/// Credentials the sandbox accepts: the platform account's, and subaccounts'.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub account_sid: String,
    pub auth_token: String,
    pub subaccounts: Vec<(String, String)>,
}

impl Credentials {
    /// The auth token of a known account.
    pub fn token_of(&self, account_sid: &str) -> Option<&str> {
        if account_sid == self.account_sid {
            return Some(&self.auth_token);
        }
        self.subaccounts
            .iter()
            .find(|(sid, _)| sid == account_sid)
            .map(|(_, token)| token.as_str())
    }
}

/// `SANDBOX_SUBACCOUNTS`: `sid:token` pairs, comma-separated.
pub fn parse_subaccounts(raw: Option<&str>) -> std::io::Result<Vec<(String, String)>> {
    raw.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .split_once(':')
                .filter(|(sid, token)| sid.starts_with("AC") && !token.is_empty())
                .map(|(sid, token)| (sid.to_owned(), token.to_owned()))
                .ok_or_else(|| {
                    std::io::Error::other(format!(
                        "SANDBOX_SUBACCOUNTS: '{entry}' is not ACsid:token"
                    ))
                })
        })
        .collect()
}

pub struct Sandbox {
    pub port: u16,
    pub server: Server,
}

/// Binds and builds the sandbox server (port 0 picks a free port).
pub fn build(config: &Config) -> std::io::Result<Sandbox> {
    let listener =
        TcpListener::bind((config.sandbox_http_host.as_str(), config.sandbox_http_port))?;
    let port = listener.local_addr()?.port();
    let store = web::Data::new(store::Store::default());
    let credentials = web::Data::new(Credentials {
        account_sid: config.sandbox_account_sid.clone(),
        auth_token: config.sandbox_auth_token.clone(),
        subaccounts: parse_subaccounts(config.sandbox_subaccounts.as_deref())?,
    });
    let http = web::Data::new(
        reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .build()
            .map_err(std::io::Error::other)?,
    );
    let timing = web::Data::new(callbacks::Timing::final_after(
        std::time::Duration::from_millis(config.sandbox_final_status_after_ms),
    ));
    let search = web::Data::new(search::SearchState::default());
    let faults = web::Data::new(faults::Faults::default());
    let oidc_client = web::Data::new(oidc::OidcClient {
        client_id: config.sandbox_oidc_client_id.clone(),
        client_secret: config.sandbox_oidc_client_secret.clone(),
    });
    let oidc_state = web::Data::new(oidc::OidcState::default());
    let inbound_target = web::Data::new(InboundTarget {
        url: config.sandbox_inbound_url.clone(),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(store.clone())
            .app_data(http.clone())
            .app_data(credentials.clone())
            .app_data(timing.clone())
            .app_data(inbound_target.clone())
            .app_data(search.clone())
            .app_data(faults.clone())
            .app_data(oidc_client.clone())
            .app_data(oidc_state.clone())
            .configure(oidc::configure)
            .configure(twilio::configure)
            .configure(faults::configure)
            .configure(search::configure)
            .service(inbound::inject)
    })
    .listen(listener)?
    .run();
    Ok(Sandbox { port, server })
}

/// Starts a sandbox on a free local port in the current runtime, with the default
/// account; returns its base URL. For tests and benchmarks that need only its search
/// fakes or its Twilio API in-process.
pub fn spawn_local() -> std::io::Result<String> {
    let sandbox = build(&Config {
        sandbox_http_host: "127.0.0.1".into(),
        sandbox_http_port: 0,
        sandbox_account_sid: defaults::account_sid(),
        sandbox_auth_token: defaults::auth_token(),
        sandbox_subaccounts: None,
        sandbox_inbound_url: None,
        sandbox_final_status_after_ms: defaults::final_status_after_ms(),
        sandbox_oidc_client_id: defaults::oidc_client_id(),
        sandbox_oidc_client_secret: defaults::oidc_client_secret(),
    })?;
    tokio::spawn(sandbox.server);
    Ok(format!("http://127.0.0.1:{}", sandbox.port))
}
