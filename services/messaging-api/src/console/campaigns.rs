//! Campaigns in the console: the list, and each campaign's progress (its audience
//! expanded into messages, the messages by status, recipients skipped and why), which
//! updates itself while the campaign is expanding or its messages are on their way;
//! owners and marketers cancel one. Campaigns are created through the API for now.

use std::collections::BTreeMap;

use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpResponse};
use nudge_db::campaigns::{CampaignFilter, Cancel};
use nudge_db::models::Campaign;
use nudge_db::PageRequest;
use nudge_domain::CampaignId;
use serde::Deserialize;

use super::error::ConsoleError;
use super::pages::{html, CampaignPage, CampaignProgressFragment, CampaignRow, CampaignsPage, Nav};
use super::roles::Permission;
use super::session::{check_session_form, SignedIn};
use crate::startup::AppState;

const PER_PAGE: i64 = 50;

/// Message statuses after which nothing more happens to a message.
const SETTLED: [&str; 5] = ["delivered", "undelivered", "read", "failed", "cancelled"];

fn row(campaign: &Campaign) -> CampaignRow {
    CampaignRow {
        id: campaign.id.to_string(),
        name: campaign.name.clone(),
        status: campaign.status.clone(),
        category: campaign.category.clone(),
        recipients: campaign.recipients,
        audience: campaign.audience_estimate,
        created: campaign.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
    }
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    before: Option<uuid::Uuid>,
}

#[get("/campaigns")]
pub(super) async fn list(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let mut conn = state.conn_for_console().await?;
    let page = nudge_db::campaigns::list(
        &mut conn,
        signed_in.tenant(),
        &CampaignFilter {
            shop_id: None,
            status: None,
        },
        PageRequest {
            limit: PER_PAGE,
            before: query.before,
        },
    )
    .await?;
    html(
        StatusCode::OK,
        &CampaignsPage {
            campaigns: page.items.iter().map(row).collect(),
            next: page.next.map(|before| format!("before={before}")),
            signed_in: Some(Nav::of(&signed_in)),
        },
    )
}

async fn load(
    signed_in: &SignedIn,
    state: &AppState,
    id: uuid::Uuid,
) -> Result<(Campaign, BTreeMap<String, i64>), ConsoleError> {
    let id = CampaignId::from_uuid(id);
    let mut conn = state.conn_for_console().await?;
    // Another tenant's campaign is as absent as one that never was.
    let campaign = nudge_db::campaigns::find(&mut conn, signed_in.tenant(), id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let messages = nudge_db::campaigns::message_counts(&mut conn, signed_in.tenant(), id).await?;
    Ok((campaign, messages))
}

fn progress(campaign: &Campaign, messages: &BTreeMap<String, i64>) -> CampaignProgressFragment {
    let in_flight = messages
        .iter()
        .any(|(status, count)| *count > 0 && !SETTLED.contains(&status.as_str()));
    let skipped = campaign
        .skipped
        .as_object()
        .map(|reasons| {
            reasons
                .iter()
                .map(|(reason, count)| (reason.replace('_', " "), count.to_string()))
                .collect()
        })
        .unwrap_or_default();
    CampaignProgressFragment {
        id: campaign.id.to_string(),
        status: campaign.status.clone(),
        live: campaign.status == "expanding" || in_flight,
        audience: campaign.audience_estimate,
        recipients: campaign.recipients,
        queued: campaign.queued,
        scheduled: campaign.scheduled,
        skipped,
        messages: messages
            .iter()
            .map(|(status, count)| (status.clone(), *count))
            .collect(),
        waiting: campaign.waiting_reason.as_ref().map(|reason| {
            format!(
                "waiting ({}) until {}",
                reason.replace('_', " "),
                campaign.available_at.format("%Y-%m-%d %H:%M UTC")
            )
        }),
    }
}

#[get("/campaigns/{id}")]
pub(super) async fn show(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<uuid::Uuid>,
) -> Result<HttpResponse, ConsoleError> {
    let (campaign, messages) = load(&signed_in, &state, id.into_inner()).await?;
    html(
        StatusCode::OK,
        &CampaignPage {
            campaign: row(&campaign),
            progress: progress(&campaign, &messages),
            can_cancel: campaign.status != "cancelled"
                && signed_in
                    .role()
                    .is_some_and(|role| role.may(Permission::SendMessages)),
            signed_in: Some(Nav::of(&signed_in)),
        },
    )
}

/// The progress alone, for `live.js`.
#[get("/campaigns/{id}/progress")]
pub(super) async fn live_progress(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<uuid::Uuid>,
) -> Result<HttpResponse, ConsoleError> {
    let (campaign, messages) = load(&signed_in, &state, id.into_inner()).await?;
    html(StatusCode::OK, &progress(&campaign, &messages))
}

#[derive(Deserialize)]
pub(super) struct CsrfOnly {
    csrf: String,
}

/// Stops the expansion and takes back the messages not yet queued (as the API does).
#[post("/campaigns/{id}/cancel")]
pub(super) async fn cancel(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<uuid::Uuid>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, ConsoleError> {
    check_session_form(&signed_in, &form.csrf)?;
    signed_in.require(Permission::SendMessages)?;
    let id = id.into_inner();
    let mut conn = state.conn_for_console().await?;
    match nudge_db::campaigns::cancel(&mut conn, signed_in.tenant(), CampaignId::from_uuid(id))
        .await?
    {
        Cancel::Cancelled {
            messages_cancelled, ..
        } => {
            tracing::info!(campaign_id = %id, messages_cancelled, user_id = %signed_in.0.user.id, "campaign cancelled in the console");
            Ok(HttpResponse::SeeOther()
                .insert_header((header::LOCATION, format!("/console/campaigns/{id}")))
                .finish())
        }
        Cancel::Missing => Err(ConsoleError::NotFound),
    }
}
