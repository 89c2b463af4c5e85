//! `/v1/campaigns`: send a template to a segment of a shop's customers (202: accepted,
//! expansion follows in the background), follow its progress, cancel it.

use actix_web::{get, post, web, HttpResponse};
use nudge_db::campaigns::{CampaignFilter, Cancel};
use nudge_domain::{CampaignId, ShopId};
use serde::Deserialize;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::Authenticated;
use crate::error::{ApiError, FieldError};
use crate::extract::{check, JsonBody, PageQuery, PathId};
use crate::startup::AppState;
use crate::views::{CampaignView, ListView};
use nudge_usecases::campaigns::{create as create_campaign, CreateCampaign};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(show)
        .service(cancel);
}

#[utoipa::path(
    tag = "campaigns",
    summary = "Send a template to a segment of a shop's customers",
    description = "Accepted (`202`) and expanded into messages in the background; see docs/campaigns.md.",
    request_body = CreateCampaign,
    responses((status = 202, description = "The campaign, `expanding`", body = CampaignView))
)]
#[post("/campaigns")]
#[tracing::instrument(skip_all, fields(campaign_id))]
async fn create(
    auth: Authenticated,
    state: web::Data<AppState>,
    JsonBody(request): JsonBody<CreateCampaign>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    let campaign = create_campaign(&mut conn, auth.tenant, request).await?;
    tracing::Span::current().record("campaign_id", tracing::field::display(campaign.id));
    tracing::info!(audience = campaign.audience_estimate, "campaign accepted");
    state.campaign_wakeup.notify_one();
    Ok(HttpResponse::Accepted().json(CampaignView::new(campaign, None)))
}

const STATUSES: [&str; 3] = [
    nudge_db::campaigns::EXPANDING,
    nudge_db::campaigns::EXPANDED,
    nudge_db::campaigns::CANCELLED,
];

#[derive(Deserialize)]
struct ListQuery {
    shop_id: Option<String>,
    status: Option<String>,
    #[serde(flatten)]
    page: PageQuery,
}

#[utoipa::path(
    tag = "campaigns",
    summary = "List campaigns",
    params(
        ("shop_id" = Option<Uuid>, Query, description = "Only this shop's campaigns"),
        ("status" = Option<String>, Query, description = "`expanding`, `expanded` or `cancelled`"),
        PageQuery,
    ),
    responses((status = 200, description = "A page of campaigns, newest first", body = ListView<CampaignView>))
)]
#[get("/campaigns")]
async fn list(
    auth: Authenticated,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let shop_id = query.shop_id.as_deref().and_then(|raw| {
        let parsed = raw.parse::<ShopId>().ok();
        if parsed.is_none() {
            errors.push(FieldError::new("shop_id", "is not a shop id"));
        }
        parsed
    });
    let status = query.status.clone().filter(|status| {
        let known = STATUSES.contains(&status.as_str());
        if !known {
            errors.push(FieldError::new(
                "status",
                format!("must be one of {}", STATUSES.join(", ")),
            ));
        }
        known
    });
    let page = query.page.to_request(&mut errors);
    check(errors)?;
    let mut conn = state.conn().await?;
    let filter = CampaignFilter { shop_id, status };
    let page = nudge_db::campaigns::list(&mut conn, auth.tenant, &filter, page).await?;
    Ok(HttpResponse::Ok().json(ListView::from_page(page, |c| CampaignView::new(c, None))))
}

#[utoipa::path(
    tag = "campaigns",
    summary = "Show a campaign and its progress",
    params(("id" = Uuid, Path, description = "The campaign's id")),
    responses((status = 200, description = "The campaign, with its messages by status", body = CampaignView))
)]
#[get("/campaigns/{id}")]
async fn show(
    auth: Authenticated,
    state: web::Data<AppState>,
    PathId(id): PathId<CampaignId>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    let campaign = nudge_db::campaigns::find(&mut conn, auth.tenant, id)
        .await?
        .ok_or(ApiError::NotFound("campaign"))?;
    let messages = nudge_db::campaigns::message_counts(&mut conn, auth.tenant, id).await?;
    Ok(HttpResponse::Ok().json(CampaignView::new(campaign, Some(messages))))
}

/// Stops the expansion and cancels every message of the campaign that has not gone to
/// the queue. Cancelling a cancelled campaign is harmless (it takes back what is left).
#[utoipa::path(
    tag = "campaigns",
    summary = "Cancel a campaign",
    description = "Stops the expansion and cancels its messages that have not gone to the queue. Harmless to repeat.",
    params(("id" = Uuid, Path, description = "The campaign's id")),
    responses((status = 200, description = "The cancelled campaign", body = CampaignView))
)]
#[post("/campaigns/{id}/cancel")]
async fn cancel(
    auth: Authenticated,
    state: web::Data<AppState>,
    PathId(id): PathId<CampaignId>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    match nudge_db::campaigns::cancel(&mut conn, auth.tenant, id).await? {
        Cancel::Cancelled {
            campaign,
            messages_cancelled,
        } => {
            tracing::info!(campaign_id = %id, messages_cancelled, "campaign cancelled");
            let messages = nudge_db::campaigns::message_counts(&mut conn, auth.tenant, id).await?;
            Ok(HttpResponse::Ok().json(CampaignView::new(*campaign, Some(messages))))
        }
        Cancel::Missing => Err(ApiError::NotFound("campaign")),
    }
}
