//! Brave Search API, web search (`GET {base}/res/v1/web/search?q&count&offset`, key in
//! `X-Subscription-Token`): a provider anyone can sign up for.
//!
//! Limits (Brave's docs): `count` at most 20, `offset` (in pages of `count`) at most 9,
//! so at most 200 results per query; `query.more_results_available` says whether a next
//! page exists. Rate limits come back as 429 with `X-RateLimit-Limit`,
//! `X-RateLimit-Remaining` and `X-RateLimit-Reset`, each a list for the per-second and
//! the monthly window (`1, 15000` / `0, 14800` / `1, 1419704`): a spent monthly window
//! is a quota (resumed when it resets), a spent per-second one a short wait.

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use nudge_domain::config::ConfigError;
use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{excerpt, plain_text, ProviderError, SearchHit, SearchPage, SearchProvider};

pub const PREFIX: &str = "BRAVE_SEARCH_";
pub const PAGE_SIZE: i32 = 20;
/// The largest `offset` (a page index).
pub const MAX_OFFSET: i32 = 9;

#[derive(Deserialize)]
pub struct Settings {
    api_key: SecretString,
    #[serde(default = "default_base_url")]
    base_url: String,
}

fn default_base_url() -> String {
    "https://api.search.brave.com".into()
}

pub struct Brave {
    http: reqwest::Client,
    endpoint: String,
    api_key: SecretString,
}

impl Brave {
    pub fn new(settings: Settings, timeout: Duration) -> Result<Self, ConfigError> {
        Ok(Self {
            http: super::http_client(timeout)?,
            endpoint: format!(
                "{}/res/v1/web/search",
                super::base_url("BRAVE_SEARCH_BASE_URL", &settings.base_url)?
            ),
            api_key: settings.api_key,
        })
    }
}

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    query: QueryInfo,
    #[serde(default)]
    web: Option<Web>,
}

#[derive(Deserialize, Default)]
struct QueryInfo {
    #[serde(default)]
    more_results_available: bool,
}

#[derive(Deserialize)]
struct Web {
    #[serde(default)]
    results: Vec<WebResult>,
}

#[derive(Deserialize)]
struct WebResult {
    #[serde(default)]
    title: String,
    url: String,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: BraveError,
}

#[derive(Deserialize)]
struct BraveError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    detail: String,
}

#[async_trait]
impl SearchProvider for Brave {
    fn name(&self) -> &'static str {
        "brave"
    }

    fn key_fingerprint(&self) -> String {
        super::fingerprint(self.api_key.expose_secret())
    }

    fn default_daily_queries(&self) -> i32 {
        // Brave's plans are monthly; about a free plan's month (2,000) over 30 days.
        66
    }

    async fn search(
        &self,
        query: &str,
        cursor: i32,
        _wanted: i32,
    ) -> Result<SearchPage, ProviderError> {
        // `count` stays fixed: `offset` counts pages of `count` results.
        if cursor > MAX_OFFSET {
            return Ok(SearchPage::default());
        }
        let answer = super::exchange(
            self.http
                .get(&self.endpoint)
                .header("X-Subscription-Token", self.api_key.expose_secret())
                .header(reqwest::header::ACCEPT, "application/json")
                .query(&[
                    ("q", query),
                    ("count", &PAGE_SIZE.to_string()),
                    ("offset", &cursor.to_string()),
                    ("result_filter", "web"),
                ]),
        )
        .await?;
        if !(200..300).contains(&answer.status) {
            return Err(classify(answer.status, &answer.body, &answer.headers));
        }
        page_from(&answer.body, cursor)
    }
}

/// A page of Brave's answer (a 2xx body) fetched at `cursor`: its hits, and the next
/// offset while Brave says there are more. Never a panic, whatever the body.
pub(super) fn page_from(body: &str, cursor: i32) -> Result<SearchPage, ProviderError> {
    let parsed: Response = serde_json::from_str(body)
        .map_err(|e| ProviderError::Unavailable(format!("unreadable Brave response: {e}")))?;
    let results = parsed.web.map(|web| web.results).unwrap_or_default();
    let next = (parsed.query.more_results_available && !results.is_empty() && cursor < MAX_OFFSET)
        .then_some(cursor + 1);
    Ok(SearchPage {
        hits: results
            .into_iter()
            .map(|result| SearchHit {
                title: plain_text(&result.title),
                url: result.url,
                snippet: plain_text(&result.description),
            })
            .collect(),
        next,
    })
}

/// The n-th number of a comma-separated rate-limit header.
fn window(headers: &HeaderMap, name: &str, index: usize) -> Option<u64> {
    headers
        .get(name)?
        .to_str()
        .ok()?
        .split(',')
        .nth(index)?
        .trim()
        .parse()
        .ok()
}

fn classify(status: u16, body: &str, headers: &HeaderMap) -> ProviderError {
    let error = serde_json::from_str::<ErrorBody>(body)
        .ok()
        .map(|b| b.error);
    let message = error
        .as_ref()
        .map(|e| format!("{} {}", e.code, e.detail))
        .unwrap_or_else(|| excerpt(body));
    match status {
        429 => {
            let month_spent = window(headers, "X-RateLimit-Remaining", 1) == Some(0)
                || error.as_ref().is_some_and(|e| e.code.contains("QUOTA"));
            if month_spent {
                let reset = window(headers, "X-RateLimit-Reset", 1);
                ProviderError::QuotaExhausted {
                    resets_at: reset
                        .and_then(|s| i64::try_from(s).ok())
                        .map(|s| Utc::now() + chrono::Duration::seconds(s)),
                }
            } else {
                ProviderError::RateLimited {
                    retry_after: window(headers, "X-RateLimit-Reset", 0)
                        .map(|s| Duration::from_secs(s.max(1)))
                        .or_else(|| super::retry_after(headers)),
                }
            }
        }
        500..=599 => ProviderError::Unavailable(format!("Brave answered {status}: {message}")),
        _ => ProviderError::Refused(format!("Brave answered {status}: {message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(remaining: &str, reset: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("X-RateLimit-Limit", "1, 2000".parse().unwrap());
        headers.insert("X-RateLimit-Remaining", remaining.parse().unwrap());
        headers.insert("X-RateLimit-Reset", reset.parse().unwrap());
        headers
    }

    const RATE_LIMITED: &str = r#"{"type":"ErrorResponse","error":{"id":"c2b3","status":429,"code":"RATE_LIMITED","detail":"Request rate limit exceeded for plan.","meta":{"plan":"Free","rate_limit":1,"rate_current":2,"quota_limit":2000,"quota_current":10,"component":"rate_limiter"}},"time":1764547200}"#;

    #[test]
    fn a_spent_second_is_a_short_wait_and_a_spent_month_a_quota() {
        assert_eq!(
            classify(429, RATE_LIMITED, &headers("0, 1990", "1, 1419704")),
            ProviderError::RateLimited {
                retry_after: Some(Duration::from_secs(1))
            }
        );
        match classify(429, RATE_LIMITED, &headers("0, 0", "1, 86400")) {
            ProviderError::QuotaExhausted {
                resets_at: Some(at),
            } => {
                let hours = (at - Utc::now()).num_hours();
                assert!((23..=24).contains(&hours), "{at}");
            }
            other => panic!("{other:?}"),
        }
        let invalid = r#"{"type":"ErrorResponse","error":{"id":"x","status":401,"code":"SUBSCRIPTION_TOKEN_INVALID","detail":"The provided subscription token is invalid."},"time":1}"#;
        assert!(
            matches!(classify(401, invalid, &HeaderMap::new()), ProviderError::Refused(m) if m.contains("SUBSCRIPTION_TOKEN_INVALID"))
        );
        assert!(matches!(
            classify(502, "bad gateway", &HeaderMap::new()),
            ProviderError::Unavailable(_)
        ));
    }
}
