//! How lead searches and leads are shown by the API. What a merchant may ask for is
//! `nudge_usecases::leads`; the searching itself is `lead-search`'s (docs/leads.md).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use nudge_db::models::{Lead, LeadSearch};
use nudge_usecases::leads::LeadQuerySchema;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// A lead search and its progress.
#[derive(Serialize, ToSchema)]
pub struct LeadSearchView {
    pub id: Uuid,
    #[schema(value_type = LeadQuerySchema)]
    pub query: Value,
    pub max_results: i32,
    /// `queued`, `running`, `waiting` (a provider's rate limit or a spent daily budget;
    /// see `waiting`), `completed`, `cancelled` or `failed` (see `last_error`).
    pub status: String,
    /// The search provider working it (`google`, `brave`, `searxng`), once started.
    pub provider: Option<String>,
    pub progress: LeadSearchProgress,
    /// Why and until when a `waiting` search waits.
    pub waiting: Option<LeadSearchWaiting>,
    /// The last provider failure (retried unless the search `failed`).
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct LeadSearchProgress {
    /// Result pages fetched from the provider.
    pub pages_fetched: i32,
    /// Results on those pages.
    pub results_seen: i32,
    /// Leads this search found first.
    pub leads_new: i32,
    /// Profiles the tenant already had (linked to this search too).
    pub duplicates: i32,
    /// Results that are not a LinkedIn profile.
    pub skipped: i32,
    /// Provider failures met (each retried).
    pub errors: i32,
}

#[derive(Serialize, ToSchema)]
pub struct LeadSearchWaiting {
    pub reason: String,
    pub until: Option<DateTime<Utc>>,
}

impl From<LeadSearch> for LeadSearchView {
    fn from(search: LeadSearch) -> Self {
        let waiting = search.waiting_reason.map(|reason| LeadSearchWaiting {
            reason,
            until: search.resume_at,
        });
        LeadSearchView {
            id: search.id,
            query: search.query,
            max_results: search.max_results,
            status: search.status,
            provider: search.provider,
            progress: LeadSearchProgress {
                pages_fetched: search.pages_fetched,
                results_seen: search.results_seen,
                leads_new: search.leads_new,
                duplicates: search.duplicates,
                skipped: search.skipped,
                errors: search.errors,
            },
            waiting,
            last_error: search.last_error,
            created_at: search.created_at,
            updated_at: search.updated_at,
            started_at: search.started_at,
            finished_at: search.finished_at,
        }
    }
}

/// A person found by lead searches.
#[derive(Serialize, ToSchema)]
pub struct LeadView {
    pub id: Uuid,
    pub name: String,
    pub headline: Option<String>,
    pub company: Option<String>,
    pub location: Option<String>,
    /// Canonical: `https://www.linkedin.com/in/<slug>`.
    pub profile_url: String,
    /// The searches that found this lead, oldest first.
    pub search_ids: Vec<Uuid>,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

impl LeadView {
    pub fn new(lead: Lead, searches: &BTreeMap<Uuid, Vec<Uuid>>) -> Self {
        LeadView {
            search_ids: searches.get(&lead.id).cloned().unwrap_or_default(),
            id: lead.id,
            name: lead.name,
            headline: lead.headline,
            company: lead.company,
            location: lead.location,
            profile_url: lead.profile_url,
            first_seen_at: lead.first_seen_at,
            last_seen_at: lead.last_seen_at,
        }
    }
}
