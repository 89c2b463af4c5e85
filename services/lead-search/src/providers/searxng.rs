//! A self-hosted SearXNG (`GET {base}/search?q&format=json&pageno`): no key, no fee;
//! the instance must allow the `json` format (`search.formats` in its settings.yml),
//! else it answers 403. Pages are numbered from 1; their size depends on the engines.
//! The instance's limiter answers 429 when asked too often.

use std::time::Duration;

use async_trait::async_trait;
use nudge_domain::config::ConfigError;
use serde::Deserialize;

use super::{excerpt, plain_text, ProviderError, SearchHit, SearchPage, SearchProvider};

pub const PREFIX: &str = "SEARXNG_";

#[derive(Deserialize)]
pub struct Settings {
    base_url: String,
    /// The deepest page asked for (SearXNG itself has no limit; its engines do).
    #[serde(default = "default_max_pages")]
    max_pages: i32,
}

fn default_max_pages() -> i32 {
    10
}

pub struct Searxng {
    http: reqwest::Client,
    endpoint: String,
    base_url: String,
    max_pages: i32,
}

impl Searxng {
    pub fn new(settings: Settings, timeout: Duration) -> Result<Self, ConfigError> {
        if !(1..=50).contains(&settings.max_pages) {
            return Err(ConfigError::Invalid(
                "SEARXNG_MAX_PAGES must be from 1 to 50".into(),
            ));
        }
        let base_url = super::base_url("SEARXNG_BASE_URL", &settings.base_url)?;
        Ok(Self {
            http: super::http_client(timeout)?,
            endpoint: format!("{base_url}/search"),
            base_url,
            max_pages: settings.max_pages,
        })
    }
}

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    results: Vec<SearxResult>,
    /// `[["engine", "reason"], ...]`: engines that failed this time.
    #[serde(default)]
    unresponsive_engines: Vec<Vec<String>>,
}

#[derive(Deserialize)]
struct SearxResult {
    url: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    content: String,
}

#[async_trait]
impl SearchProvider for Searxng {
    fn name(&self) -> &'static str {
        "searxng"
    }

    fn key_fingerprint(&self) -> String {
        // No key: the budget is the instance's.
        super::fingerprint(&self.base_url)
    }

    fn default_daily_queries(&self) -> i32 {
        1_000
    }

    async fn search(
        &self,
        query: &str,
        cursor: i32,
        _wanted: i32,
    ) -> Result<SearchPage, ProviderError> {
        let pageno = cursor + 1;
        if pageno > self.max_pages {
            return Ok(SearchPage::default());
        }
        let answer = super::exchange(
            self.http
                .get(&self.endpoint)
                .header(reqwest::header::ACCEPT, "application/json")
                .query(&[
                    ("q", query),
                    ("format", "json"),
                    ("pageno", &pageno.to_string()),
                    ("categories", "general"),
                ]),
        )
        .await?;
        let (status, body) = (answer.status, &answer.body);
        match status {
            200..=299 => {}
            429 => {
                return Err(ProviderError::RateLimited {
                    retry_after: super::retry_after(&answer.headers),
                })
            }
            403 => return Err(ProviderError::Refused(
                "SearXNG answered 403: enable the json format in its settings.yml (search.formats)"
                    .into(),
            )),
            500..=599 => {
                return Err(ProviderError::Unavailable(format!(
                    "SearXNG answered {status}: {}",
                    excerpt(body)
                )))
            }
            _ => {
                return Err(ProviderError::Refused(format!(
                    "SearXNG answered {status}: {}",
                    excerpt(body)
                )))
            }
        }
        page_from(body, cursor, self.max_pages)
    }
}

/// A page of SearXNG's answer (a 2xx body) for page `cursor + 1` of at most
/// `max_pages`: its hits and the next cursor; an error when every engine failed.
/// Never a panic, whatever the body.
pub(super) fn page_from(
    body: &str,
    cursor: i32,
    max_pages: i32,
) -> Result<SearchPage, ProviderError> {
    let parsed: Response = serde_json::from_str(body)
        .map_err(|e| ProviderError::Unavailable(format!("unreadable SearXNG response: {e}")))?;
    if parsed.results.is_empty() && !parsed.unresponsive_engines.is_empty() {
        // No answer is not "no more results": every engine failed this time.
        let engines: Vec<String> = parsed
            .unresponsive_engines
            .iter()
            .map(|pair| pair.join(": "))
            .collect();
        return Err(ProviderError::Unavailable(format!(
            "every SearXNG engine failed: {}",
            engines.join(", ")
        )));
    }
    let pageno = cursor.saturating_add(1);
    let next = (!parsed.results.is_empty() && pageno < max_pages).then_some(pageno);
    Ok(SearchPage {
        hits: parsed
            .results
            .into_iter()
            .map(|result| SearchHit {
                title: plain_text(&result.title),
                url: result.url,
                snippet: plain_text(&result.content),
            })
            .collect(),
        next,
    })
}
