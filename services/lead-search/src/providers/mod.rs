//! Web search providers behind one small trait. Each module speaks one provider's
//! REST API and reads its own variables (`GOOGLE_CSE_*`, `BRAVE_SEARCH_*`,
//! `SEARXNG_*`); `LEAD_SEARCH_PROVIDER` picks one. Adding a provider is a new module
//! and one line in [`from_env`]; nothing else changes.

pub mod brave;
pub mod google;
pub mod searxng;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use nudge_domain::config::ConfigError;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

pub use crate::profile::SearchHit;

/// One page of results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchPage {
    pub hits: Vec<SearchHit>,
    /// Where the next page starts, in the provider's own terms (a result index, a page
    /// number); `None`: the provider has no more for this query, or will not go deeper.
    pub next: Option<i32>,
}

/// Why a page could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// Too many requests for now: try again after the delay (the provider's, if said).
    #[error("rate limited by the provider")]
    RateLimited { retry_after: Option<Duration> },
    /// The key's quota is spent until `resets_at` (if the provider says when).
    #[error("the provider's quota is spent")]
    QuotaExhausted { resets_at: Option<DateTime<Utc>> },
    /// A failure that may pass: a 5xx, a timeout, a connection refused.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    /// A failure that will not pass by retrying: a bad key, a refused query.
    #[error("provider refused the search: {0}")]
    Refused(String),
}

impl ProviderError {
    /// The metric label of the failure.
    pub fn label(&self) -> &'static str {
        match self {
            ProviderError::RateLimited { .. } => "rate_limited",
            ProviderError::QuotaExhausted { .. } => "quota_exhausted",
            ProviderError::Unavailable(_) => "unavailable",
            ProviderError::Refused(_) => "refused",
        }
    }
}

#[async_trait]
pub trait SearchProvider: Send + Sync {
    /// `google`, `brave`, `searxng`: stored on each search.
    fn name(&self) -> &'static str;

    /// Identifies the API key in budgets and logs without revealing it.
    fn key_fingerprint(&self) -> String;

    /// Queries a key may spend per day unless `LEAD_SEARCH_KEY_DAILY_QUERIES` says.
    fn default_daily_queries(&self) -> i32;

    /// The page of `query` that starts at `cursor` (0 for the first page). `wanted`:
    /// how many results the search still wants (a provider may return fewer per page).
    async fn search(
        &self,
        query: &str,
        cursor: i32,
        wanted: i32,
    ) -> Result<SearchPage, ProviderError>;
}

/// The provider and its key's fingerprint: never the key.
impl std::fmt::Debug for dyn SearchProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchProvider")
            .field("name", &self.name())
            .field("key", &self.key_fingerprint())
            .finish()
    }
}

/// The provider `LEAD_SEARCH_PROVIDER` names, configured from its own variables.
pub fn from_env(
    name: &str,
    vars: &[(String, String)],
    timeout: Duration,
) -> Result<Box<dyn SearchProvider>, ConfigError> {
    match name {
        "google" => Ok(Box::new(google::GoogleCse::new(
            prefixed(google::PREFIX, vars)?,
            timeout,
        )?)),
        "brave" => Ok(Box::new(brave::Brave::new(
            prefixed(brave::PREFIX, vars)?,
            timeout,
        )?)),
        "searxng" => Ok(Box::new(searxng::Searxng::new(
            prefixed(searxng::PREFIX, vars)?,
            timeout,
        )?)),
        other => Err(ConfigError::Invalid(format!(
            "LEAD_SEARCH_PROVIDER must be google, brave or searxng, not '{other}'"
        ))),
    }
}

/// A provider's settings from the variables that start with `prefix`.
fn prefixed<T: DeserializeOwned>(
    prefix: &str,
    vars: &[(String, String)],
) -> Result<T, ConfigError> {
    envy::prefixed(prefix)
        .from_iter(vars.iter().cloned())
        .map_err(|error| match error {
            envy::Error::MissingValue(field) => {
                ConfigError::Missing(format!("{prefix}{}", field.to_uppercase()))
            }
            envy::Error::Custom(message) => ConfigError::Invalid(format!("{prefix}*: {message}")),
        })
}

/// The first 12 hex digits of the secret's SHA-256: enough to tell keys apart.
pub fn fingerprint(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
        .chars()
        .take(12)
        .collect()
}

/// An HTTP client with the provider timeout, no redirects followed (a provider that
/// redirects is misconfigured, and the key must not travel elsewhere).
fn http_client(timeout: Duration) -> Result<reqwest::Client, ConfigError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("nudge-lead-search/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ConfigError::Invalid(format!("HTTP client: {e}")))
}

/// A base URL without its trailing slash, checked.
fn base_url(name: &str, value: &str) -> Result<String, ConfigError> {
    let parsed = url::Url::parse(value)
        .map_err(|e| ConfigError::Invalid(format!("{name} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ConfigError::Invalid(format!("{name} must be http(s)")));
    }
    Ok(value.trim_end_matches('/').to_owned())
}

/// What a transport error means: a timeout or a refused connection may pass. The URL
/// may carry the key (Google's `key=`), so it is left out of the message.
fn transport_error(error: reqwest::Error) -> ProviderError {
    let error = error.without_url();
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    ProviderError::Unavailable(excerpt(&message))
}

/// A provider's answer: its status, headers and body.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

/// The most of one answer read: a page of ten results is a few tens of KB.
const MAX_ANSWER_BYTES: usize = 2 * 1024 * 1024;

/// Sends the request and reads the whole answer, within [`MAX_ANSWER_BYTES`];
/// transport failures may pass.
async fn exchange(request: reqwest::RequestBuilder) -> Result<Answer, ProviderError> {
    let response = request.send().await.map_err(transport_error)?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = match nudge_http::read_limited(response, MAX_ANSWER_BYTES).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(nudge_http::ReadError::Transport(error)) => return Err(transport_error(error)),
        // An answer this large is no search result: refused like any broken one.
        Err(too_large) => return Err(ProviderError::Unavailable(too_large.to_string())),
    };
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// Seconds in a `Retry-After` header (the delta form; dates are rare on APIs).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// A short, printable excerpt of an error body for `last_error`.
fn excerpt(body: &str) -> String {
    body.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// Text without the HTML some providers put in titles and snippets (`<strong>` around
/// the matched words, `&amp;`).
pub fn plain_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_in_results_becomes_text() {
        assert_eq!(
            plain_text("<strong>Jane</strong> Doe &amp; Co &#39;s &lt;b&gt;"),
            "Jane Doe & Co 's <b>"
        );
    }

    #[test]
    fn fingerprints_do_not_reveal_the_key() {
        let key = "AIzaSyExampleKey1234567890";
        let fp = fingerprint(key);
        assert_eq!(fp.len(), 12);
        assert!(!key.contains(&fp));
        assert_ne!(fp, fingerprint("another key"));
    }

    #[test]
    fn the_provider_is_chosen_and_configured_from_its_own_variables() {
        let vars = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect()
        };
        let timeout = Duration::from_secs(5);
        let google = from_env(
            "google",
            &vars(&[("GOOGLE_CSE_API_KEY", "k"), ("GOOGLE_CSE_ENGINE_ID", "cx")]),
            timeout,
        )
        .unwrap();
        assert_eq!(google.name(), "google");
        let missing = from_env("google", &vars(&[("GOOGLE_CSE_API_KEY", "k")]), timeout)
            .err()
            .unwrap();
        assert_eq!(
            missing.to_string(),
            "missing environment variable GOOGLE_CSE_ENGINE_ID"
        );
        let brave = from_env("brave", &vars(&[("BRAVE_SEARCH_API_KEY", "k")]), timeout).unwrap();
        assert_eq!(brave.name(), "brave");
        let bad_url = from_env(
            "searxng",
            &vars(&[("SEARXNG_BASE_URL", "localhost")]),
            timeout,
        )
        .err()
        .unwrap();
        assert!(
            bad_url.to_string().contains("SEARXNG_BASE_URL"),
            "{bad_url}"
        );
        assert!(from_env("bing", &[], timeout).is_err());
    }
}

/// Search providers' answers are outside input: whatever bytes a provider (or whatever
/// answers in its place) sends, reading a page gives a page or an error, never a
/// panic, and what comes out is within the bounds the search relies on.
#[cfg(test)]
mod arbitrary_pages {
    use proptest::prelude::*;

    use crate::profile::{parse_hit, SearchHit};

    /// JSON-ish text: arbitrary strings, and documents of the providers' shapes with
    /// arbitrary values where numbers and strings go.
    fn bodies() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            (any::<i32>(), any::<String>(), 0usize..3).prop_map(|(index, text, items)| {
                let items: Vec<_> = (0..items)
                    .map(|_| serde_json::json!({"title": text, "link": text, "snippet": text}))
                    .collect();
                serde_json::json!({"items": items, "queries": {"nextPage": [{"startIndex": index}]}})
                    .to_string()
            }),
            (any::<bool>(), any::<String>(), 0usize..3).prop_map(|(more, text, results)| {
                let results: Vec<_> = (0..results)
                    .map(|_| serde_json::json!({"title": text, "url": text, "description": text}))
                    .collect();
                serde_json::json!({"query": {"more_results_available": more}, "web": {"results": results}})
                    .to_string()
            }),
            (any::<String>(), 0usize..3, 0usize..2).prop_map(|(text, results, failed)| {
                let results: Vec<_> = (0..results)
                    .map(|_| serde_json::json!({"title": text, "url": text, "content": text}))
                    .collect();
                let failed: Vec<_> = (0..failed).map(|_| serde_json::json!([text, text])).collect();
                serde_json::json!({"results": results, "unresponsive_engines": failed}).to_string()
            }),
        ]
    }

    proptest! {
        #[test]
        fn google_pages_never_panic_and_stay_within_its_hundred_results(body in bodies()) {
            if let Ok(page) = super::google::page_from(&body) {
                prop_assert!(page.next.is_none_or(|next| (0..100).contains(&next)));
                prop_assert!(page.next.is_none() || !page.hits.is_empty());
            }
        }

        #[test]
        fn brave_pages_never_panic_and_advance_one_page(body in bodies(), cursor in 0i32..=9) {
            if let Ok(page) = super::brave::page_from(&body, cursor) {
                prop_assert!(page.next.is_none_or(|next| next == cursor + 1));
            }
        }

        #[test]
        fn searxng_pages_never_panic_and_stop_at_the_last_page(
            body in bodies(),
            cursor in any::<i32>(),
            max_pages in 1i32..20,
        ) {
            if let Ok(page) = super::searxng::page_from(&body, cursor, max_pages) {
                prop_assert!(page.next.is_none_or(|next| next < max_pages));
            }
        }

        #[test]
        fn any_hit_is_a_lead_or_nothing(title in any::<String>(), url in any::<String>(), snippet in any::<String>()) {
            let _ = super::plain_text(&title);
            let _ = parse_hit(&SearchHit { title, url, snippet });
        }
    }
}
