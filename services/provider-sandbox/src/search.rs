//! DEV ONLY: stand-ins for the web search APIs `lead-search` speaks, each with its
//! documented response shape and limits: Google Custom Search JSON API
//! (`GET /customsearch/v1`), Brave Search API (`GET /res/v1/web/search`) and SearXNG's
//! JSON output (`GET /search?format=json`).
//!
//! They search one made-up corpus of LinkedIn-like results (people with Latin and
//! non-Latin names, names with commas, missing companies; the same profile again under
//! a locale subdomain with tracking parameters; company pages that are not profiles).
//! A query's quoted phrases pick the people: each group of alternatives
//! (`("a" OR "b")`, or one phrase) must match their title, company or location; a query
//! that matches no one gets the whole corpus.
//!
//! Tests steer them: `POST /sandbox/search/faults` makes the next requests fail as the
//! provider would (429, spent quota, 503, slow), and `GET /sandbox/search/requests`
//! lists the requests served, to check paging.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(google)
        .service(brave)
        .service(searxng)
        .service(set_faults)
        .service(requests);
}

/// The key every fake refuses, to show a provider's "bad key" answer.
pub const INVALID_KEY: &str = "invalid";

#[derive(Default)]
pub struct SearchState {
    faults: Mutex<VecDeque<Fault>>,
    served: Mutex<Vec<Served>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Fault {
    RateLimited,
    QuotaExhausted,
    Unavailable,
    /// Answers after 3 s (longer than the tests' provider timeout).
    Slow,
}

/// `POST /sandbox/search/faults`: `{"rate_limited": 2, "unavailable": 1}`; queued in
/// that order, one per request, for every provider.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultRequest {
    #[serde(default)]
    rate_limited: usize,
    #[serde(default)]
    quota_exhausted: usize,
    #[serde(default)]
    unavailable: usize,
    #[serde(default)]
    slow: usize,
}

#[derive(Debug, Clone, Serialize)]
struct Served {
    provider: &'static str,
    q: String,
    /// The provider's position parameter: Google's `start`, Brave's `offset`,
    /// SearXNG's `pageno`.
    position: i64,
    /// `ok` or the fault served.
    outcome: String,
}

#[post("/sandbox/search/faults")]
async fn set_faults(state: web::Data<SearchState>, body: web::Json<FaultRequest>) -> HttpResponse {
    let mut faults = state.faults.lock().unwrap_or_else(|e| e.into_inner());
    for (fault, count) in [
        (Fault::RateLimited, body.rate_limited),
        (Fault::QuotaExhausted, body.quota_exhausted),
        (Fault::Unavailable, body.unavailable),
        (Fault::Slow, body.slow),
    ] {
        faults.extend(std::iter::repeat_n(fault, count));
    }
    HttpResponse::NoContent().finish()
}

#[get("/sandbox/search/requests")]
async fn requests(state: web::Data<SearchState>) -> HttpResponse {
    let served = state.served.lock().unwrap_or_else(|e| e.into_inner());
    HttpResponse::Ok().json(json!({ "requests": *served }))
}

/// Takes the next fault (if any), records the request, and sleeps for a slow one.
async fn serve(
    state: &SearchState,
    provider: &'static str,
    q: &str,
    position: i64,
) -> Option<Fault> {
    let fault = state
        .faults
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .pop_front();
    state
        .served
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Served {
            provider,
            q: q.to_owned(),
            position,
            outcome: fault.map_or("ok".into(), |f| format!("{f:?}")),
        });
    if fault == Some(Fault::Slow) {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    fault
}

// ---------------------------------------------------------------- the corpus

const FIRST: [&str; 12] = [
    "Jane", "Omar", "Priya", "Lukas", "Sofia", "Kenji", "Amara", "Mateo", "Chloé", "Ivan", "Aisha",
    "Noah",
];
const LAST: [&str; 10] = [
    "Doe", "Haddad", "Sharma", "Becker", "Rossi", "Tanaka", "Okafor", "García", "Martin", "Petrov",
];
/// Names as people write them, beyond "First Last".
const SPECIAL_NAMES: [&str; 6] = [
    "李明",
    "Алексей Смирнов",
    "محمد علي",
    "Doe, John",
    "Anne-Marie Lévy, PhD",
    "O'Brien, Siobhán",
];
const TITLES: [&str; 6] = [
    "Head of Growth",
    "VP Marketing",
    "E-commerce Manager",
    "CRM Lead",
    "Customer Care Director",
    "Chief Digital Officer",
];
const COMPANIES: [&str; 7] = [
    "Acme Corp",
    "Globex",
    "Initech",
    "Umbrella Retail",
    "Soylent, Inc.",
    "Hooli",
    "",
];
const LOCATIONS: [&str; 6] = [
    "Berlin, Germany",
    "London, United Kingdom",
    "San Francisco Bay Area",
    "Paris, Île-de-France, France",
    "Lagos, Nigeria",
    "Tokyo, Japan",
];
const SUBDOMAINS: [&str; 5] = ["de", "uk", "fr", "ng", "jp"];

struct Person {
    name: String,
    slug: String,
    title: &'static str,
    company: &'static str,
    location: &'static str,
}

fn person(index: usize) -> Person {
    let name = if index % 25 == 24 {
        SPECIAL_NAMES[(index / 25) % SPECIAL_NAMES.len()].to_owned()
    } else {
        format!(
            "{} {}",
            FIRST[index % FIRST.len()],
            LAST[(index / FIRST.len()) % LAST.len()]
        )
    };
    let slug_base: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '-' })
        .collect();
    Person {
        slug: format!(
            "{}-{:04x}",
            slug_base.trim_matches('-'),
            index * 7919 % 65_536
        ),
        name,
        title: TITLES[index % TITLES.len()],
        company: COMPANIES[(index / 2) % COMPANIES.len()],
        location: LOCATIONS[(index / 3) % LOCATIONS.len()],
    }
}

/// People in the corpus.
pub const CORPUS_SIZE: usize = 240;

/// One result as every fake shows it.
struct Hit {
    title: String,
    url: String,
    snippet: String,
}

/// The quoted phrases of a query in groups: `("a" OR "b") "c"` is `[[a, b], [c]]`, a
/// group being alternatives and every group required (as `lead-search` builds them).
fn phrase_groups(q: &str) -> Vec<Vec<String>> {
    let mut groups = Vec::new();
    let mut current: Option<Vec<String>> = None;
    let mut phrase: Option<String> = None;
    for c in q.chars() {
        match (c, phrase.as_mut()) {
            ('"', Some(_)) => {
                let done = phrase.take().unwrap_or_default().to_lowercase();
                match current.as_mut() {
                    Some(group) => group.push(done),
                    None => groups.push(vec![done]),
                }
            }
            (c, Some(text)) => text.push(c),
            ('"', None) => phrase = Some(String::new()),
            ('(', None) => current = Some(Vec::new()),
            (')', None) => groups.extend(current.take()),
            _ => {}
        }
    }
    groups.retain(|group: &Vec<String>| !group.is_empty());
    groups
}

/// The results of a query: its matches, in corpus order, with every 8th result the
/// profile of an earlier one under a locale subdomain with tracking parameters, and
/// every 13th a company page.
fn results(q: &str) -> Vec<Hit> {
    let groups = phrase_groups(q);
    let people: Vec<Person> = (0..CORPUS_SIZE).map(person).collect();
    let matching: Vec<&Person> = people
        .iter()
        .filter(|p| {
            let text = format!("{} {} {}", p.title, p.company, p.location).to_lowercase();
            !groups.is_empty()
                && groups
                    .iter()
                    .all(|group| group.iter().any(|phrase| text.contains(phrase.as_str())))
        })
        .collect();
    let chosen: Vec<&Person> = if matching.is_empty() {
        people.iter().collect()
    } else {
        matching
    };
    let mut hits = Vec::new();
    for (i, p) in chosen.iter().enumerate() {
        hits.push(profile_hit(p, None));
        if i % 8 == 7 {
            let earlier = chosen[i / 2];
            hits.push(profile_hit(earlier, Some(SUBDOMAINS[i % SUBDOMAINS.len()])));
        }
        if i % 13 == 12 {
            hits.push(Hit {
                title: format!("{} | LinkedIn", p.company_or("Acme Corp")),
                url: format!(
                    "https://www.linkedin.com/company/{}",
                    p.company_or("acme")
                        .to_lowercase()
                        .replace([' ', ',', '.'], "-")
                ),
                snippet: "Company page · 10,000 followers on LinkedIn".into(),
            });
        }
    }
    hits
}

impl Person {
    fn company_or<'a>(&'a self, default: &'a str) -> &'a str {
        if self.company.is_empty() {
            default
        } else {
            self.company
        }
    }
}

fn profile_hit(p: &Person, subdomain: Option<&str>) -> Hit {
    let title = if p.company.is_empty() {
        format!("{} - {} | LinkedIn", p.name, p.title)
    } else {
        format!("{} - {} - {} | LinkedIn", p.name, p.title, p.company)
    };
    let url = match subdomain {
        None => format!("https://www.linkedin.com/in/{}", p.slug),
        Some(sub) => format!(
            "https://{sub}.linkedin.com/in/{}/?trk=public_profile_browsemap&originalSubdomain={sub}",
            p.slug
        ),
    };
    let experience = if p.company.is_empty() {
        String::new()
    } else {
        format!("Experience: {} · ", p.company)
    };
    Hit {
        title,
        url,
        snippet: format!(
            "{} · {experience}Location: {} · 500+ connections on LinkedIn.",
            p.title, p.location
        ),
    }
}

// ---------------------------------------------------------------- Google CSE

#[derive(Deserialize)]
struct GoogleQuery {
    key: Option<String>,
    cx: Option<String>,
    q: Option<String>,
    start: Option<i64>,
    num: Option<i64>,
}

fn google_error(status: u16, message: &str, reason: &str, code: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default()).json(
        json!({"error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
            "status": code,
        }}),
    )
}

#[get("/customsearch/v1")]
async fn google(state: web::Data<SearchState>, query: web::Query<GoogleQuery>) -> HttpResponse {
    let q = query.q.clone().unwrap_or_default();
    let start = query.start.unwrap_or(1);
    let num = query.num.unwrap_or(10);
    let fault = serve(&state, "google", &q, start).await;
    let key = query.key.as_deref().unwrap_or_default();
    if key.is_empty() {
        return google_error(
            403,
            "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
            "forbidden",
            "PERMISSION_DENIED",
        );
    }
    if key == INVALID_KEY {
        return google_error(
            400,
            "API key not valid. Please pass a valid API key.",
            "badRequest",
            "INVALID_ARGUMENT",
        );
    }
    if q.is_empty() || query.cx.as_deref().unwrap_or_default().is_empty() {
        return google_error(
            400,
            "Request contains an invalid argument.",
            "badRequest",
            "INVALID_ARGUMENT",
        );
    }
    if !(1..=10).contains(&num) || start < 1 || start + num > 101 {
        return google_error(
            400,
            "Request contains an invalid argument.",
            "badRequest",
            "INVALID_ARGUMENT",
        );
    }
    match fault {
        Some(Fault::RateLimited) => {
            return google_error(429, "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user' of service 'customsearch.googleapis.com' for consumer 'project_number:000000000000'.", "rateLimitExceeded", "RESOURCE_EXHAUSTED")
        }
        Some(Fault::QuotaExhausted) => {
            return google_error(429, "Quota exceeded for quota metric 'Queries' and limit 'Queries per day' of service 'customsearch.googleapis.com' for consumer 'project_number:000000000000'.", "rateLimitExceeded", "RESOURCE_EXHAUSTED")
        }
        Some(Fault::Unavailable) => {
            return google_error(503, "The service is currently unavailable.", "backendError", "UNAVAILABLE")
        }
        Some(Fault::Slow) | None => {}
    }
    let hits = results(&q);
    let total = hits.len() as i64;
    let first = usize::try_from(start - 1).unwrap_or(0);
    let page: Vec<Value> = hits
        .iter()
        .skip(first)
        .take(usize::try_from(num).unwrap_or(10))
        .map(|hit| {
            json!({
                "kind": "customsearch#result",
                "title": hit.title,
                "htmlTitle": hit.title,
                "link": hit.url,
                "displayLink": url_host(&hit.url),
                "snippet": hit.snippet,
                "htmlSnippet": hit.snippet,
                "formattedUrl": hit.url,
                "pagemap": {"metatags": [{"og:type": "profile"}]},
            })
        })
        .collect();
    let request = |start: i64| {
        json!({
            "title": format!("Google Custom Search - {q}"),
            "totalResults": total.to_string(),
            "searchTerms": q,
            "count": num,
            "startIndex": start,
            "inputEncoding": "utf8",
            "outputEncoding": "utf8",
            "safe": "off",
            "cx": query.cx,
        })
    };
    let mut queries = json!({ "request": [request(start)] });
    let next = start + num;
    if next <= 91 && next <= total {
        queries["nextPage"] = json!([request(next)]);
    }
    if start > 1 {
        queries["previousPage"] = json!([request((start - num).max(1))]);
    }
    let mut body = json!({
        "kind": "customsearch#search",
        "url": {"type": "application/json", "template": "https://www.googleapis.com/customsearch/v1?q={searchTerms}&num={count?}&start={startIndex?}&cx={cx?}&key={key?}"},
        "queries": queries,
        "context": {"title": "Nudge sandbox"},
        "searchInformation": {
            "searchTime": 0.21,
            "formattedSearchTime": "0.21",
            "totalResults": total.to_string(),
            "formattedTotalResults": total.to_string(),
        },
    });
    if !page.is_empty() {
        body["items"] = Value::Array(page);
    }
    HttpResponse::Ok().json(body)
}

fn url_host(url: &str) -> String {
    url.split('/').nth(2).unwrap_or_default().to_owned()
}

// ---------------------------------------------------------------- Brave

#[derive(Deserialize)]
struct BraveQuery {
    q: Option<String>,
    count: Option<i64>,
    offset: Option<i64>,
}

fn brave_error(status: u16, code: &str, detail: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default()).json(
        json!({
            "type": "ErrorResponse",
            "error": {"id": "00000000-sandbox", "status": status, "code": code, "detail": detail,
                      "meta": {"component": "sandbox"}},
            "time": chrono::Utc::now().timestamp(),
        }),
    )
}

#[get("/res/v1/web/search")]
async fn brave(
    state: web::Data<SearchState>,
    request: HttpRequest,
    query: web::Query<BraveQuery>,
) -> HttpResponse {
    let q = query.q.clone().unwrap_or_default();
    let count = query.count.unwrap_or(20);
    let offset = query.offset.unwrap_or(0);
    let fault = serve(&state, "brave", &q, offset).await;
    let token = request
        .headers()
        .get("X-Subscription-Token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if token.is_empty() || token == INVALID_KEY {
        return brave_error(
            401,
            "SUBSCRIPTION_TOKEN_INVALID",
            "The provided subscription token is invalid.",
        );
    }
    if q.is_empty() || !(1..=20).contains(&count) || !(0..=9).contains(&offset) {
        return brave_error(422, "VALIDATION", "Unable to validate request parameter(s)");
    }
    match fault {
        Some(Fault::RateLimited) => {
            return HttpResponse::TooManyRequests()
                .insert_header(("X-RateLimit-Limit", "1, 2000"))
                .insert_header(("X-RateLimit-Remaining", "0, 1990"))
                .insert_header(("X-RateLimit-Reset", "1, 1419704"))
                .json(json!({
                    "type": "ErrorResponse",
                    "error": {"id": "00000000-sandbox", "status": 429, "code": "RATE_LIMITED",
                              "detail": "Request rate limit exceeded for plan.",
                              "meta": {"plan": "Free", "rate_limit": 1, "rate_current": 2, "quota_limit": 2000, "quota_current": 10, "component": "rate_limiter"}},
                    "time": chrono::Utc::now().timestamp(),
                }))
        }
        Some(Fault::QuotaExhausted) => {
            return HttpResponse::TooManyRequests()
                .insert_header(("X-RateLimit-Limit", "1, 2000"))
                .insert_header(("X-RateLimit-Remaining", "0, 0"))
                .insert_header(("X-RateLimit-Reset", "1, 3600"))
                .json(json!({
                    "type": "ErrorResponse",
                    "error": {"id": "00000000-sandbox", "status": 429, "code": "RATE_LIMITED",
                              "detail": "Request rate limit exceeded for plan.",
                              "meta": {"plan": "Free", "rate_limit": 1, "rate_current": 1, "quota_limit": 2000, "quota_current": 2000, "component": "rate_limiter"}},
                    "time": chrono::Utc::now().timestamp(),
                }))
        }
        Some(Fault::Unavailable) => return brave_error(503, "SERVICE_UNAVAILABLE", "Service unavailable"),
        Some(Fault::Slow) | None => {}
    }
    let hits = results(&q);
    let first = usize::try_from(offset * count).unwrap_or(0);
    let page: Vec<Value> = hits
        .iter()
        .skip(first)
        .take(usize::try_from(count).unwrap_or(20))
        .map(|hit| {
            // Brave marks the matched words in descriptions.
            let description = hit.snippet.replacen("Location", "<strong>Location</strong>", 1);
            json!({
                "type": "search_result",
                "title": hit.title,
                "url": hit.url,
                "is_source_local": false,
                "is_source_both": false,
                "description": description,
                "profile": {"name": "LinkedIn", "url": hit.url, "long_name": "linkedin.com"},
                "language": "en",
                "family_friendly": true,
                "meta_url": {"scheme": "https", "netloc": "linkedin.com", "hostname": url_host(&hit.url), "path": "› in"},
            })
        })
        .collect();
    let more = first + page.len() < hits.len() && offset < 9;
    HttpResponse::Ok()
        .insert_header(("X-RateLimit-Limit", "1, 2000"))
        .insert_header(("X-RateLimit-Remaining", "0, 1990"))
        .insert_header(("X-RateLimit-Reset", "1, 1419704"))
        .json(json!({
            "type": "search",
            "query": {"original": q, "show_strict_warning": false, "is_navigational": false,
                      "spellcheck_off": true, "country": "us", "more_results_available": more},
            "mixed": {"type": "mixed", "main": [], "top": [], "side": []},
            "web": {"type": "search", "results": page, "family_friendly": true},
        }))
}

// ---------------------------------------------------------------- SearXNG

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_alternatives_and_all_are_required() {
        assert_eq!(
            phrase_groups(
                r#"site:linkedin.com/in ("Head of Growth" OR "VP Marketing") "Berlin" "x""#
            ),
            vec![
                vec!["head of growth".to_owned(), "vp marketing".to_owned()],
                vec!["berlin".to_owned()],
                vec!["x".to_owned()],
            ]
        );
        let berlin =
            results(r#"site:linkedin.com/in ("Head of Growth" OR "VP Marketing") "Berlin""#);
        let profiles: Vec<&Hit> = berlin.iter().filter(|h| h.url.contains("/in/")).collect();
        assert!(!profiles.is_empty());
        assert!(profiles.iter().all(|h| h.snippet.contains("Berlin")));
        assert!(profiles
            .iter()
            .all(|h| h.title.contains("Head of Growth") || h.title.contains("VP Marketing")));
        // Nothing matches: the whole corpus.
        assert!(results(r#""nothing like this""#).len() > CORPUS_SIZE);
    }
}

#[derive(Deserialize)]
struct SearxQuery {
    q: Option<String>,
    format: Option<String>,
    pageno: Option<i64>,
}

/// SearXNG's page size with the sandbox's one "engine".
const SEARX_PAGE: usize = 10;

#[get("/search")]
async fn searxng(state: web::Data<SearchState>, query: web::Query<SearxQuery>) -> HttpResponse {
    let q = query.q.clone().unwrap_or_default();
    let pageno = query.pageno.unwrap_or(1).max(1);
    let fault = serve(&state, "searxng", &q, pageno).await;
    if query.format.as_deref() != Some("json") {
        return HttpResponse::Forbidden().body("403 Forbidden");
    }
    match fault {
        Some(Fault::RateLimited | Fault::QuotaExhausted) => {
            return HttpResponse::TooManyRequests().body("Too Many Requests")
        }
        Some(Fault::Unavailable) => {
            return HttpResponse::Ok().json(json!({
                "query": q, "number_of_results": 0, "results": [], "answers": [],
                "corrections": [], "infoboxes": [], "suggestions": [],
                "unresponsive_engines": [["google", "too many requests"], ["bing", "timeout"]],
            }))
        }
        Some(Fault::Slow) | None => {}
    }
    let hits = results(&q);
    let first = usize::try_from(pageno - 1).unwrap_or(0) * SEARX_PAGE;
    let page: Vec<Value> = hits
        .iter()
        .enumerate()
        .skip(first)
        .take(SEARX_PAGE)
        .map(|(position, hit)| {
            json!({
                "url": hit.url,
                "title": hit.title,
                "content": hit.snippet,
                "engine": "google",
                "engines": ["google"],
                "positions": [position + 1],
                "score": 1.0,
                "category": "general",
                "parsed_url": ["https", url_host(&hit.url), "/in", "", "", ""],
            })
        })
        .collect();
    HttpResponse::Ok().json(json!({
        "query": q,
        "number_of_results": 0,
        "results": page,
        "answers": [],
        "corrections": [],
        "infoboxes": [],
        "suggestions": [],
        "unresponsive_engines": [],
    }))
}
