//! Lead searches: what the merchant asks for, checked, as the row to store (the API and
//! the console queue it; the searching itself is `lead-search`'s, docs/leads.md), and
//! the tenant's leads as CSV.

pub mod csv;

use nudge_db::models::LeadSearch;
use nudge_domain::{LeadQuery, LeadSearchId, TenantId};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::{check, Error, FieldError};

/// Results a search looks at when `max_results` is not given.
pub const DEFAULT_MAX_RESULTS: i32 = 100;
/// The most results one search may ask for (providers stop earlier: Google CSE at 100).
pub const MAX_RESULTS: i32 = 1_000;

/// `POST /v1/lead-searches`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLeadSearch {
    #[schema(value_type = LeadQuerySchema)]
    pub query: Option<Value>,
    /// Results to look at, 1 to 1,000 (default 100). The provider may stop earlier:
    /// Google Custom Search gives at most 100 results per query, Brave 200.
    pub max_results: Option<i32>,
}

/// What to look for: every list is a set of alternatives (any title, any company, any
/// location); keywords must all appear. At least one job title, company or keyword.
#[derive(ToSchema)]
#[allow(
    dead_code,
    reason = "documentation of nudge_domain::LeadQuery for OpenAPI"
)]
pub struct LeadQuerySchema {
    /// Up to 10, each 1 to 80 characters.
    job_titles: Option<Vec<String>>,
    companies: Option<Vec<String>>,
    locations: Option<Vec<String>>,
    keywords: Option<Vec<String>>,
}

/// A new search's row, `queued`, once the request is valid.
pub fn new_search(tenant: TenantId, request: CreateLeadSearch) -> Result<LeadSearch, Error> {
    let mut errors = Vec::new();
    let query = match request.query {
        None => {
            errors.push(FieldError::new("query", "is required"));
            None
        }
        Some(raw) => match serde_json::from_value::<LeadQuery>(raw) {
            Err(e) => {
                errors.push(FieldError::new("query", e.to_string()));
                None
            }
            Ok(query) => match query.validate() {
                Ok(query) => Some(query),
                Err(problems) => {
                    errors.extend(
                        problems
                            .into_iter()
                            .map(|p| FieldError::new(p.field, p.detail)),
                    );
                    None
                }
            },
        },
    };
    let max_results = request.max_results.unwrap_or(DEFAULT_MAX_RESULTS);
    if !(1..=MAX_RESULTS).contains(&max_results) {
        errors.push(FieldError::new(
            "max_results",
            format!("must be from 1 to {MAX_RESULTS}"),
        ));
    }
    check(errors)?;
    let query = query.ok_or_else(|| Error::invalid("query", "is required"))?;
    let query = serde_json::to_value(&query).map_err(|e| Error::Internal(e.into()))?;
    Ok(LeadSearch::queued(
        tenant.as_uuid(),
        LeadSearchId::new().as_uuid(),
        query,
        max_results,
    ))
}
