//! Google Custom Search JSON API (`GET {base}/customsearch/v1?key&cx&q&start&num`), the
//! original system's provider. Google closed it to new customers and moves existing
//! ones off it by 1 January 2027: kept for those who still have a key.
//!
//! Limits (Google's docs): `num` is 1 to 10, and `start + num` may not pass 100, so a
//! query yields at most 100 results. Quotas reset at midnight Pacific time. Errors are
//! Google's JSON error (`{"error": {"code", "message", "status", "errors": [{"reason"}]}}`):
//! 429 `RESOURCE_EXHAUSTED` (or the older 403 with reason `dailyLimitExceeded`,
//! `rateLimitExceeded`, `userRateLimitExceeded`) is a quota; 400 and other 403s (a bad
//! key, the API not enabled for the project) are refusals.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Days, TimeZone, Utc};
use chrono_tz::America::Los_Angeles;
use nudge_domain::config::ConfigError;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{excerpt, ProviderError, SearchHit, SearchPage, SearchProvider};

pub const PREFIX: &str = "GOOGLE_CSE_";
/// Results per request, and the deepest result Google returns for a query.
pub const PAGE_SIZE: i32 = 10;
pub const MAX_RESULTS: i32 = 100;

#[derive(Deserialize)]
pub struct Settings {
    api_key: SecretString,
    /// The Programmable Search Engine id (`cx`).
    engine_id: String,
    #[serde(default = "default_base_url")]
    base_url: String,
}

fn default_base_url() -> String {
    "https://www.googleapis.com".into()
}

pub struct GoogleCse {
    http: reqwest::Client,
    endpoint: String,
    api_key: SecretString,
    engine_id: String,
}

impl GoogleCse {
    pub fn new(settings: Settings, timeout: Duration) -> Result<Self, ConfigError> {
        Ok(Self {
            http: super::http_client(timeout)?,
            endpoint: format!(
                "{}/customsearch/v1",
                super::base_url("GOOGLE_CSE_BASE_URL", &settings.base_url)?
            ),
            api_key: settings.api_key,
            engine_id: settings.engine_id,
        })
    }
}

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    items: Vec<Item>,
    #[serde(default)]
    queries: Queries,
}

#[derive(Deserialize, Default)]
struct Queries {
    #[serde(rename = "nextPage", default)]
    next_page: Vec<PageInfo>,
}

#[derive(Deserialize)]
struct PageInfo {
    #[serde(rename = "startIndex")]
    start_index: i32,
}

#[derive(Deserialize)]
struct Item {
    #[serde(default)]
    title: String,
    link: String,
    #[serde(default)]
    snippet: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: GoogleError,
}

#[derive(Deserialize)]
struct GoogleError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    errors: Vec<ErrorReason>,
}

#[derive(Deserialize)]
struct ErrorReason {
    #[serde(default)]
    reason: String,
}

#[async_trait]
impl SearchProvider for GoogleCse {
    fn name(&self) -> &'static str {
        "google"
    }

    fn key_fingerprint(&self) -> String {
        super::fingerprint(self.api_key.expose_secret())
    }

    fn default_daily_queries(&self) -> i32 {
        // The free tier; a billed project may raise it to 10,000.
        100
    }

    async fn search(
        &self,
        query: &str,
        cursor: i32,
        wanted: i32,
    ) -> Result<SearchPage, ProviderError> {
        // `start` is 1-based; the cursor is the 0-based index of the first result.
        let start = cursor + 1;
        let num = wanted.clamp(1, PAGE_SIZE).min(MAX_RESULTS - cursor);
        if num < 1 {
            return Ok(SearchPage::default());
        }
        let answer = super::exchange(self.http.get(&self.endpoint).query(&[
            ("key", self.api_key.expose_secret()),
            ("cx", self.engine_id.as_str()),
            ("q", query),
            ("start", &start.to_string()),
            ("num", &num.to_string()),
        ]))
        .await?;
        if !(200..300).contains(&answer.status) {
            return Err(classify(
                answer.status,
                &answer.body,
                super::retry_after(&answer.headers),
            ));
        }
        page_from(&answer.body)
    }
}

/// A page of Google's answer (a 2xx body): its hits, and where the next page starts
/// (Google's 1-based `startIndex`, as a 0-based cursor, within the 100 results it
/// serves). Whatever the body holds, an error or a page, never a panic.
pub(super) fn page_from(body: &str) -> Result<SearchPage, ProviderError> {
    let parsed: Response = serde_json::from_str(body)
        .map_err(|e| ProviderError::Unavailable(format!("unreadable Google response: {e}")))?;
    let got = i32::try_from(parsed.items.len()).unwrap_or(i32::MAX);
    let next = parsed
        .queries
        .next_page
        .first()
        .and_then(|page| page.start_index.checked_sub(1))
        .filter(|next| (0..MAX_RESULTS).contains(next) && got > 0);
    Ok(SearchPage {
        hits: parsed
            .items
            .into_iter()
            .map(|item| SearchHit {
                title: item.title,
                url: item.link,
                snippet: item.snippet,
            })
            .collect(),
        next,
    })
}

/// What a Google error answer means.
fn classify(status: u16, body: &str, retry_after: Option<Duration>) -> ProviderError {
    let error = serde_json::from_str::<ErrorBody>(body)
        .ok()
        .map(|b| b.error);
    let message = error
        .as_ref()
        .map(|e| e.message.clone())
        .unwrap_or_else(|| excerpt(body));
    let reasons: Vec<&str> = error
        .as_ref()
        .map(|e| e.errors.iter().map(|r| r.reason.as_str()).collect())
        .unwrap_or_default();
    let exhausted = error
        .as_ref()
        .is_some_and(|e| e.status == "RESOURCE_EXHAUSTED")
        || reasons.iter().any(|r| {
            matches!(
                *r,
                "dailyLimitExceeded"
                    | "rateLimitExceeded"
                    | "userRateLimitExceeded"
                    | "quotaExceeded"
            )
        });
    match status {
        429 | 403 if exhausted || status == 429 => {
            if message.to_lowercase().contains("per day") || reasons.contains(&"dailyLimitExceeded")
            {
                ProviderError::QuotaExhausted {
                    resets_at: Some(next_pacific_midnight(Utc::now())),
                }
            } else {
                ProviderError::RateLimited {
                    retry_after: retry_after.or(Some(Duration::from_secs(60))),
                }
            }
        }
        500..=599 => ProviderError::Unavailable(format!("Google answered {status}: {message}")),
        _ => ProviderError::Refused(format!("Google answered {status}: {message}")),
    }
}

/// Google's daily quotas reset at midnight Pacific time.
fn next_pacific_midnight(now: DateTime<Utc>) -> DateTime<Utc> {
    let local = now.with_timezone(&Los_Angeles).date_naive();
    let tomorrow = local.checked_add_days(Days::new(1)).unwrap_or(local);
    tomorrow
        .and_hms_opt(0, 0, 0)
        .and_then(|midnight| Los_Angeles.from_local_datetime(&midnight).earliest())
        .map(|midnight| midnight.with_timezone(&Utc))
        .unwrap_or(now + chrono::Duration::hours(24))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified_as_google_documents_them() {
        let daily = r#"{"error":{"code":429,"message":"Quota exceeded for quota metric 'Queries' and limit 'Queries per day' of service 'customsearch.googleapis.com' for consumer 'project_number:1'.","errors":[{"message":"Quota exceeded","domain":"global","reason":"rateLimitExceeded"}],"status":"RESOURCE_EXHAUSTED"}}"#;
        assert!(matches!(
            classify(429, daily, None),
            ProviderError::QuotaExhausted { resets_at: Some(_) }
        ));
        let per_minute = daily.replace("per day", "per minute");
        assert_eq!(
            classify(429, &per_minute, Some(Duration::from_secs(7))),
            ProviderError::RateLimited {
                retry_after: Some(Duration::from_secs(7))
            }
        );
        let legacy = r#"{"error":{"code":403,"message":"Daily Limit Exceeded","errors":[{"domain":"usageLimits","reason":"dailyLimitExceeded"}]}}"#;
        assert!(matches!(
            classify(403, legacy, None),
            ProviderError::QuotaExhausted { .. }
        ));
        let bad_key = r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","errors":[{"message":"API key not valid.","domain":"global","reason":"badRequest"}],"status":"INVALID_ARGUMENT"}}"#;
        assert!(
            matches!(classify(400, bad_key, None), ProviderError::Refused(m) if m.contains("API key not valid"))
        );
        let closed = r#"{"error":{"code":403,"message":"This project does not have the access to Custom Search JSON API.","errors":[{"reason":"forbidden"}],"status":"PERMISSION_DENIED"}}"#;
        assert!(matches!(
            classify(403, closed, None),
            ProviderError::Refused(_)
        ));
        assert!(matches!(
            classify(503, "upstream", None),
            ProviderError::Unavailable(_)
        ));
    }

    #[test]
    fn quotas_reset_at_midnight_in_california() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 20, 0, 0).unwrap();
        // 12:00 PST on Dec 1 -> midnight PST Dec 2 = 08:00 UTC.
        assert_eq!(
            next_pacific_midnight(now),
            Utc.with_ymd_and_hms(2026, 12, 2, 8, 0, 0).unwrap()
        );
        let summer = Utc.with_ymd_and_hms(2026, 7, 1, 6, 59, 0).unwrap();
        // 23:59 PDT on Jun 30 -> midnight PDT Jul 1 = 07:00 UTC.
        assert_eq!(
            next_pacific_midnight(summer),
            Utc.with_ymd_and_hms(2026, 7, 1, 7, 0, 0).unwrap()
        );
    }
}
