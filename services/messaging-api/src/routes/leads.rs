//! `/v1/leads`: the people lead searches found, with filters and cursor pages, a CSV
//! export, and deletion (a lead is the tenant's data to erase). docs/leads.md.

use actix_web::{delete, get, web, HttpResponse};
use nudge_db::leads::LeadFilter;
use nudge_domain::{LeadId, LeadSearchId};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::Authenticated;
use crate::error::{ApiError, FieldError};
use crate::extract::{check, PageQuery, PathId};
use crate::leads::LeadView;
use crate::startup::AppState;
use crate::views::ListView;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(export)
        .service(list)
        .service(show)
        .service(remove);
}

/// Filters shared by the list and the export.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct FilterQuery {
    /// Only leads this search found.
    search_id: Option<String>,
    /// Part of the company, any case.
    company: Option<String>,
    /// Part of the location, any case.
    location: Option<String>,
    /// Part of the name or headline, any case.
    q: Option<String>,
}

impl FilterQuery {
    fn to_filter(&self, errors: &mut Vec<FieldError>) -> LeadFilter {
        let search = self.search_id.as_deref().and_then(|raw| {
            let parsed = raw.parse::<LeadSearchId>().ok();
            if parsed.is_none() {
                errors.push(FieldError::new("search_id", "is not a lead search id"));
            }
            parsed
        });
        let mut text = |name: &str, value: &Option<String>| {
            let value = value.as_deref().map(str::trim).filter(|v| !v.is_empty())?;
            if value.chars().count() > 100 {
                errors.push(FieldError::new(name, "must be at most 100 characters"));
                return None;
            }
            if value.chars().any(char::is_control) {
                errors.push(FieldError::new(name, "must not contain control characters"));
                return None;
            }
            Some(value.to_owned())
        };
        LeadFilter {
            search,
            company: text("company", &self.company),
            location: text("location", &self.location),
            text: text("q", &self.q),
        }
    }
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(flatten)]
    filter: FilterQuery,
    #[serde(flatten)]
    page: PageQuery,
}

#[utoipa::path(
    tag = "leads",
    summary = "List leads",
    params(FilterQuery, PageQuery),
    responses((status = 200, description = "A page of leads, newest first", body = ListView<LeadView>))
)]
#[get("/leads")]
async fn list(
    auth: Authenticated,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let filter = query.filter.to_filter(&mut errors);
    let page = query.page.to_request(&mut errors);
    check(errors)?;
    let mut conn = state.conn().await?;
    let page = nudge_db::leads::list(&mut conn, auth.tenant, &filter, page).await?;
    let ids: Vec<_> = page.items.iter().map(|lead| lead.id).collect();
    let searches = nudge_db::leads::searches_of(&mut conn, auth.tenant, &ids).await?;
    Ok(HttpResponse::Ok().json(ListView::from_page(page, |lead| {
        LeadView::new(lead, &searches)
    })))
}

#[utoipa::path(
    tag = "leads",
    summary = "Export leads as CSV",
    description = "Every lead that matches the filters, newest first, as `text/csv` (RFC 4180, CRLF lines, a header line). Cells that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab or carriage return) are prefixed with `'`.",
    params(FilterQuery),
    responses((status = 200, description = "The CSV file", content_type = "text/csv", body = String))
)]
#[get("/leads.csv")]
async fn export(
    auth: Authenticated,
    state: web::Data<AppState>,
    query: web::Query<FilterQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let filter = query.to_filter(&mut errors);
    check(errors)?;
    let chunks = nudge_usecases::leads::csv::export(&state.pool, auth.tenant, filter).await?;
    Ok(csv_download(chunks))
}

/// The leads' CSV as a download (`leads.csv`), streamed as the client reads it.
pub(crate) fn csv_download(
    chunks: impl futures_util::Stream<Item = Result<Vec<u8>, nudge_usecases::Error>> + 'static,
) -> HttpResponse {
    use futures_util::TryStreamExt;
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"leads.csv\"",
        ))
        .streaming(
            chunks
                .map_ok(actix_web::web::Bytes::from)
                .map_err(ApiError::from),
        )
}

#[utoipa::path(
    tag = "leads",
    summary = "Show a lead",
    params(("id" = Uuid, Path, description = "The lead's id")),
    responses((status = 200, description = "The lead, with the searches that found it", body = LeadView))
)]
#[get("/leads/{id}")]
async fn show(
    auth: Authenticated,
    state: web::Data<AppState>,
    PathId(id): PathId<LeadId>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    let lead = nudge_db::leads::find(&mut conn, auth.tenant, id)
        .await?
        .ok_or(ApiError::NotFound("lead"))?;
    let searches = nudge_db::leads::searches_of(&mut conn, auth.tenant, &[lead.id]).await?;
    Ok(HttpResponse::Ok().json(LeadView::new(lead, &searches)))
}

#[utoipa::path(
    tag = "leads",
    summary = "Delete a lead",
    description = "Erases the lead and its links to searches. A later search may find the person again.",
    params(("id" = Uuid, Path, description = "The lead's id")),
    responses((status = 204, description = "Deleted"))
)]
#[delete("/leads/{id}")]
async fn remove(
    auth: Authenticated,
    state: web::Data<AppState>,
    PathId(id): PathId<LeadId>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    if nudge_db::leads::delete(&mut conn, auth.tenant, id).await? {
        tracing::info!(lead_id = %id, "lead deleted");
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound("lead"))
    }
}
