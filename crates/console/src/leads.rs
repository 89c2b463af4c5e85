//! Leads in the console: the lead searches with their progress (updating itself while
//! a search runs), the leads (all, or one search's; filtered by text), and the CSV
//! download, through the same streamed export as `GET /v1/leads.csv`; and a form that
//! starts a search (the same rules as `POST /v1/lead-searches`). Owners and marketers
//! only: leads are marketing's.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use nudge_db::leads::LeadFilter;
use nudge_db::models::LeadSearch;
use nudge_db::PageRequest;
use nudge_domain::LeadSearchId;
use serde::Deserialize;

use super::error::ConsoleError;
use super::pages::{
    html, LeadRow, LeadSearchRow, LeadSearchesFragment, LeadsPage, Nav, SearchFormView,
};
use super::roles::Permission;
use super::session::{check_session_form, SignedIn};
use crate::ConsoleState;
use nudge_usecases::leads::{new_search, CreateLeadSearch};
use nudge_usecases::{Error as UseCaseError, Refusal};

/// Searches and leads shown (the newest; the CSV has every lead).
const SEARCHES: i64 = 20;
const LEADS: i64 = 100;

/// The filters, as typed: empty means any.
#[derive(Deserialize, Default)]
pub(super) struct LeadsQuery {
    #[serde(default)]
    search: String,
    #[serde(default)]
    q: String,
}

impl LeadsQuery {
    fn filter(&self) -> Result<LeadFilter, ConsoleError> {
        let search = match self.search.trim() {
            "" => None,
            raw => Some(
                raw.parse::<LeadSearchId>()
                    .map_err(|_| ConsoleError::NotFound)?,
            ),
        };
        let text = Some(self.q.trim())
            .filter(|q| !q.is_empty())
            .map(|q| q.chars().take(100).collect());
        Ok(LeadFilter {
            search,
            text,
            ..LeadFilter::default()
        })
    }
}

fn search_row(search: &LeadSearch) -> LeadSearchRow {
    let query = &search.query;
    let words: Vec<String> = ["job_titles", "keywords", "companies", "locations"]
        .iter()
        .filter_map(|field| query.get(*field)?.as_array().cloned())
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    LeadSearchRow {
        id: search.id.to_string(),
        query: words.join(", "),
        status: search.status.clone(),
        seen: search.results_seen,
        max: search.max_results,
        new_leads: search.leads_new,
        duplicates: search.duplicates,
        waiting: search.waiting_reason.clone(),
    }
}

/// Whether a search may still change.
fn running(status: &str) -> bool {
    matches!(status, "queued" | "running" | "waiting")
}

async fn searches(
    signed_in: &SignedIn,
    state: &ConsoleState,
) -> Result<LeadSearchesFragment, ConsoleError> {
    let mut conn = state.conn().await?;
    let page = nudge_db::lead_searches::list(
        &mut conn,
        signed_in.tenant(),
        None,
        PageRequest {
            limit: SEARCHES,
            before: None,
        },
    )
    .await?;
    Ok(LeadSearchesFragment {
        live: page.items.iter().any(|s| running(&s.status)),
        searches: page.items.iter().map(search_row).collect(),
    })
}

pub(super) async fn leads_page(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
    query: web::Query<LeadsQuery>,
) -> Result<HttpResponse, ConsoleError> {
    signed_in.require(Permission::ManageLeads)?;
    let filter = query.filter()?;
    let searches = searches(&signed_in, &state).await?;
    let mut conn = state.conn().await?;
    let leads = nudge_db::leads::list(
        &mut conn,
        signed_in.tenant(),
        &filter,
        PageRequest {
            limit: LEADS,
            before: None,
        },
    )
    .await?;
    let mut download = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in [("search", &query.search), ("q", &query.q)] {
        if !value.trim().is_empty() {
            download.append_pair(name, value.trim());
        }
    }
    html(
        StatusCode::OK,
        &LeadsPage {
            searches,
            leads: leads
                .items
                .iter()
                .map(|lead| LeadRow {
                    name: lead.name.clone(),
                    headline: lead.headline.clone().unwrap_or_default(),
                    company: lead.company.clone().unwrap_or_default(),
                    location: lead.location.clone().unwrap_or_default(),
                    profile_url: lead.profile_url.clone(),
                })
                .collect(),
            more: leads.next.is_some(),
            search: query.search.trim(),
            q: query.q.trim(),
            download: download.finish(),
            form_errors: Vec::new(),
            form: SearchFormView::default(),
            signed_in: Some(Nav::of(&signed_in)),
        },
    )
}

/// The searches alone, for `live.js` while one runs.
pub(super) async fn live_searches(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
) -> Result<HttpResponse, ConsoleError> {
    signed_in.require(Permission::ManageLeads)?;
    html(StatusCode::OK, &searches(&signed_in, &state).await?)
}

/// Every matching lead as CSV (the API's export).
pub(super) async fn csv_download(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
    query: web::Query<LeadsQuery>,
) -> Result<HttpResponse, ConsoleError> {
    signed_in.require(Permission::ManageLeads)?;
    let filter = query.filter()?;
    let chunks =
        nudge_usecases::leads::csv::export(&state.pool, signed_in.tenant(), filter).await?;
    use futures_util::TryStreamExt;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"leads.csv\"",
        ))
        .streaming(
            chunks
                .map_ok(actix_web::web::Bytes::from)
                .map_err(ConsoleError::from),
        ))
}

/// The search form, as typed: comma-separated alternatives.
#[derive(Deserialize)]
pub(super) struct SearchForm {
    csrf: String,
    #[serde(default)]
    job_titles: String,
    #[serde(default)]
    companies: String,
    #[serde(default)]
    locations: String,
    #[serde(default)]
    keywords: String,
    #[serde(default)]
    max_results: String,
}

fn list_of(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

pub(super) async fn start_search(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
    form: web::Form<SearchForm>,
) -> Result<HttpResponse, ConsoleError> {
    check_session_form(&signed_in, &form.csrf)?;
    signed_in.require(Permission::ManageLeads)?;
    let max_results = match form.max_results.trim() {
        "" => Ok(None),
        raw => raw.parse::<i32>().map(Some),
    };
    let request = max_results.map(|max_results| CreateLeadSearch {
        query: Some(serde_json::json!({
            "job_titles": list_of(&form.job_titles),
            "companies": list_of(&form.companies),
            "locations": list_of(&form.locations),
            "keywords": list_of(&form.keywords),
        })),
        max_results,
    });
    let errors: Vec<String> = match request.map(|r| new_search(signed_in.tenant(), r)) {
        Err(_) => vec!["Results to look at: a whole number from 1 to 1,000.".into()],
        Ok(Err(UseCaseError::Refused(Refusal::Invalid(fields)))) => fields
            .into_iter()
            .map(|f| {
                format!(
                    "{}: {}",
                    f.field.replace("query.", "").replace('_', " "),
                    f.detail
                )
            })
            .collect(),
        Ok(Err(other)) => return Err(other.into()),
        Ok(Ok(search)) => {
            let mut conn = state.conn().await?;
            let stored = nudge_db::lead_searches::insert(
                &mut conn,
                &search,
                nudge_telemetry::current_traceparent(),
            )
            .await?;
            tracing::info!(lead_search_id = %stored.id, user_id = %signed_in.0.user.id, "lead search started in the console");
            state.lead_search_wakeup.notify_one();
            return Ok(HttpResponse::SeeOther()
                .insert_header((
                    header::LOCATION,
                    format!("/console/leads?search={}", stored.id),
                ))
                .finish());
        }
    };
    let searches = searches(&signed_in, &state).await?;
    html(
        StatusCode::UNPROCESSABLE_ENTITY,
        &LeadsPage {
            searches,
            leads: Vec::new(),
            more: false,
            search: "",
            q: "",
            download: String::new(),
            form_errors: errors,
            form: SearchFormView {
                job_titles: form.job_titles.trim().to_owned(),
                companies: form.companies.trim().to_owned(),
                locations: form.locations.trim().to_owned(),
                keywords: form.keywords.trim().to_owned(),
                max_results: form.max_results.trim().to_owned(),
            },
            signed_in: Some(Nav::of(&signed_in)),
        },
    )
}
