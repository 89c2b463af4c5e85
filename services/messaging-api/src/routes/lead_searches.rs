//! `/v1/lead-searches`: ask for leads (202: `lead-search` works the search in the
//! background), follow its progress, cancel it. docs/leads.md.

use actix_web::{get, post, web, HttpResponse};
use nudge_db::lead_searches::{Cancel, STATUSES};
use nudge_domain::LeadSearchId;
use serde::Deserialize;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::Authenticated;
use crate::error::{ApiError, FieldError};
use crate::extract::{check, JsonBody, PageQuery, PathId};
use crate::leads::LeadSearchView;
use crate::startup::AppState;
use crate::views::ListView;
use nudge_usecases::leads::{new_search, CreateLeadSearch};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(show)
        .service(cancel);
}

#[utoipa::path(
    tag = "leads",
    summary = "Search for business leads",
    description = "Accepted (`202`) and worked in the background by `lead-search`, which pages through a web search restricted to LinkedIn profiles; follow it with `GET /v1/lead-searches/{id}`. See docs/leads.md.",
    request_body = CreateLeadSearch,
    responses((status = 202, description = "The search, `queued`", body = LeadSearchView))
)]
#[post("/lead-searches")]
#[tracing::instrument(skip_all, fields(lead_search_id))]
async fn create(
    auth: Authenticated,
    state: web::Data<AppState>,
    JsonBody(request): JsonBody<CreateLeadSearch>,
) -> Result<HttpResponse, ApiError> {
    let search = new_search(auth.tenant, request)?;
    let mut conn = state.conn().await?;
    let stored =
        nudge_db::lead_searches::insert(&mut conn, &search, nudge_telemetry::current_traceparent())
            .await?;
    tracing::Span::current().record("lead_search_id", tracing::field::display(stored.id));
    tracing::info!("lead search accepted");
    state.lead_search_wakeup.notify_one();
    Ok(HttpResponse::Accepted().json(LeadSearchView::from(stored)))
}

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
    #[serde(flatten)]
    page: PageQuery,
}

#[utoipa::path(
    tag = "leads",
    summary = "List lead searches",
    params(
        ("status" = Option<String>, Query, description = "`queued`, `running`, `waiting`, `completed`, `cancelled` or `failed`"),
        PageQuery,
    ),
    responses((status = 200, description = "A page of searches, newest first", body = ListView<LeadSearchView>))
)]
#[get("/lead-searches")]
async fn list(
    auth: Authenticated,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    if let Some(status) = &query.status {
        if !STATUSES.contains(&status.as_str()) {
            errors.push(FieldError::new(
                "status",
                format!("must be one of {}", STATUSES.join(", ")),
            ));
        }
    }
    let page = query.page.to_request(&mut errors);
    check(errors)?;
    let mut conn = state.conn().await?;
    let page = nudge_db::lead_searches::list(&mut conn, auth.tenant, query.status.as_deref(), page)
        .await?;
    Ok(HttpResponse::Ok().json(ListView::from_page(page, LeadSearchView::from)))
}

#[utoipa::path(
    tag = "leads",
    summary = "Show a lead search and its progress",
    params(("id" = Uuid, Path, description = "The search's id")),
    responses((status = 200, description = "The search", body = LeadSearchView))
)]
#[get("/lead-searches/{id}")]
async fn show(
    auth: Authenticated,
    state: web::Data<AppState>,
    PathId(id): PathId<LeadSearchId>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    let search = nudge_db::lead_searches::find(&mut conn, auth.tenant, id)
        .await?
        .ok_or(ApiError::NotFound("lead search"))?;
    Ok(HttpResponse::Ok().json(LeadSearchView::from(search)))
}

#[utoipa::path(
    tag = "leads",
    summary = "Cancel a lead search",
    description = "Stops the search before its next page; the leads it found stay. Harmless to repeat; a search that has already completed or failed answers 409.",
    params(("id" = Uuid, Path, description = "The search's id")),
    responses((status = 200, description = "The cancelled search", body = LeadSearchView))
)]
#[post("/lead-searches/{id}/cancel")]
async fn cancel(
    auth: Authenticated,
    state: web::Data<AppState>,
    PathId(id): PathId<LeadSearchId>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    match nudge_db::lead_searches::cancel(&mut conn, auth.tenant, id).await? {
        Cancel::Cancelled(search) => {
            tracing::info!(lead_search_id = %id, "lead search cancelled");
            Ok(HttpResponse::Ok().json(LeadSearchView::from(*search)))
        }
        Cancel::AlreadyEnded(search) => Err(ApiError::NotCancellable(format!(
            "the search has already ended ({})",
            search.status
        ))),
        Cancel::Missing => Err(ApiError::NotFound("lead search")),
    }
}
