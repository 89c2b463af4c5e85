//! Campaigns in the console: the list, a form to start one (owners and marketers;
//! through the same function as `POST /v1/campaigns`), and each campaign's progress
//! (its audience expanded into messages, the messages by status, recipients skipped and
//! why), which updates itself while the campaign is expanding or its messages are on
//! their way; owners and marketers cancel one.

use std::collections::BTreeMap;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use nudge_db::campaigns::{CampaignFilter, Cancel};
use nudge_db::models::Campaign;
use nudge_db::PageRequest;
use nudge_domain::CampaignId;
use serde::Deserialize;

use super::error::ConsoleError;
use super::pages::{
    html, CampaignFormPage, CampaignPage, CampaignProgressFragment, CampaignRow, CampaignsPage,
    Nav, SendError,
};
use super::roles::Permission;
use super::session::{check_session_form, CsrfForm, SignedIn};
use crate::ConsoleState;
use nudge_usecases::campaigns::CreateCampaign;
use nudge_usecases::{Error as UseCaseError, Refusal};

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

pub(super) async fn list(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let mut conn = state.conn().await?;
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
            can_create: signed_in
                .role()
                .is_some_and(|role| role.may(Permission::SendMessages)),
            next: page.next.map(|before| format!("before={before}")),
            signed_in: Some(Nav::of(&signed_in)),
        },
    )
}

async fn load(
    signed_in: &SignedIn,
    state: &ConsoleState,
    id: CampaignId,
) -> Result<(Campaign, BTreeMap<String, i64>), ConsoleError> {
    let mut conn = state.conn().await?;
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

pub(super) async fn show(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
    id: web::Path<CampaignId>,
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
pub(super) async fn live_progress(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
    id: web::Path<CampaignId>,
) -> Result<HttpResponse, ConsoleError> {
    let (campaign, messages) = load(&signed_in, &state, id.into_inner()).await?;
    html(StatusCode::OK, &progress(&campaign, &messages))
}

/// Stops the expansion and takes back the messages not yet queued (as the API does).
pub(super) async fn cancel(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
    id: web::Path<CampaignId>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ConsoleError> {
    check_session_form(&signed_in, &form.csrf)?;
    signed_in.require(Permission::SendMessages)?;
    let id = id.into_inner();
    let mut conn = state.conn().await?;
    match nudge_db::campaigns::cancel(&mut conn, signed_in.tenant(), id).await? {
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

/// The form, as typed.
#[derive(Deserialize, Default)]
pub(super) struct CampaignForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    shop: String,
    #[serde(default)]
    template: String,
    /// `opted_in` to reach opted-in customers only; empty: every customer (the send
    /// rules still skip whom they must).
    #[serde(default)]
    audience: String,
    /// `name: value` lines of customer attributes to match.
    #[serde(default)]
    attributes: String,
    /// `name: value` lines of values shared by every recipient.
    #[serde(default)]
    data: String,
    /// `YYYY-MM-DDTHH:MM` in UTC (`<input type="datetime-local">`); empty: now.
    #[serde(default)]
    send_at: String,
}

/// `name: value` lines as a JSON object of strings.
fn lines_to_object(text: &str) -> serde_json::Map<String, serde_json::Value> {
    text.lines()
        .filter_map(|line| {
            let (name, value) = line.split_once(':').or_else(|| line.split_once('='))?;
            let name = name.trim();
            (!name.is_empty()).then(|| {
                (
                    name.to_owned(),
                    serde_json::Value::String(value.trim().to_owned()),
                )
            })
        })
        .collect()
}

impl CampaignForm {
    /// The API's request for this form; what cannot be read is said as the API would.
    fn request(&self) -> Result<CreateCampaign, Vec<SendError>> {
        let send_at = match self.send_at.trim() {
            "" => None,
            raw => match chrono::NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M") {
                Ok(at) => Some(at.and_utc().to_rfc3339()),
                Err(_) => {
                    return Err(vec![SendError {
                        field: "send_at",
                        message: "Send at: enter a date and time like 2026-12-24T09:00 (UTC)."
                            .into(),
                    }])
                }
            },
        };
        let mut segment = serde_json::Map::new();
        let attributes = lines_to_object(&self.attributes);
        if !attributes.is_empty() {
            segment.insert("attributes".into(), serde_json::Value::Object(attributes));
        }
        if self.audience == "opted_in" {
            segment.insert("consent".into(), serde_json::json!(["opted_in"]));
        }
        let given = |raw: &str| Some(raw.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(CreateCampaign {
            shop_id: given(&self.shop),
            name: given(&self.name),
            template: given(&self.template),
            data: lines_to_object(&self.data),
            category: None,
            segment: (!segment.is_empty()).then_some(serde_json::Value::Object(segment)),
            send_at,
        })
    }
}

async fn render_form(
    signed_in: &SignedIn,
    state: &ConsoleState,
    status: StatusCode,
    form: &CampaignForm,
    errors: Vec<SendError>,
) -> Result<HttpResponse, ConsoleError> {
    let mut conn = state.conn().await?;
    let all = PageRequest {
        limit: 100,
        before: None,
    };
    let shops = super::shop_choices(&mut conn, signed_in.tenant()).await?;
    let templates = nudge_db::templates::list(&mut conn, signed_in.tenant(), all)
        .await?
        .items
        .into_iter()
        .map(|t| (t.id.to_string(), t.name))
        .collect();
    html(
        status,
        &CampaignFormPage {
            shops,
            templates,
            name: form.name.trim(),
            shop: form.shop.trim(),
            template: form.template.trim(),
            audience: form.audience.trim(),
            attributes: &form.attributes,
            data: &form.data,
            send_at: form.send_at.trim(),
            errors,
            signed_in: Some(Nav::of(signed_in)),
        },
    )
}

pub(super) async fn new_form(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
) -> Result<HttpResponse, ConsoleError> {
    signed_in.require(Permission::SendMessages)?;
    let form = CampaignForm {
        audience: "opted_in".into(),
        ..CampaignForm::default()
    };
    render_form(&signed_in, &state, StatusCode::OK, &form, Vec::new()).await
}

/// The form's field for a field the API names.
fn form_field(api_field: &str) -> &'static str {
    match api_field {
        "shop_id" => "shop",
        "name" => "name",
        "template" => "template",
        "segment" => "attributes",
        "send_at" => "send_at",
        "data" => "data",
        _ => "",
    }
}

pub(super) async fn create(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
    form: web::Form<CampaignForm>,
) -> Result<HttpResponse, ConsoleError> {
    check_session_form(&signed_in, &form.csrf)?;
    signed_in.require(Permission::SendMessages)?;
    let request = match form.request() {
        Ok(request) => request,
        Err(errors) => {
            return render_form(
                &signed_in,
                &state,
                StatusCode::UNPROCESSABLE_ENTITY,
                &form,
                errors,
            )
            .await
        }
    };
    let mut conn = state.conn().await?;
    match nudge_usecases::campaigns::create(&mut conn, signed_in.tenant(), request).await {
        Ok(campaign) => {
            tracing::info!(campaign_id = %campaign.id, user_id = %signed_in.0.user.id, audience = campaign.audience_estimate, "campaign started in the console");
            state.campaign_wakeup.notify_one();
            Ok(HttpResponse::SeeOther()
                .insert_header((
                    header::LOCATION,
                    format!("/console/campaigns/{}", campaign.id),
                ))
                .finish())
        }
        Err(UseCaseError::Refused(Refusal::Invalid(fields))) => {
            let errors = fields
                .into_iter()
                .map(|f| SendError {
                    field: form_field(&f.field),
                    message: format!("{}: {}", f.field.replace('_', " "), f.detail),
                })
                .collect();
            render_form(
                &signed_in,
                &state,
                StatusCode::UNPROCESSABLE_ENTITY,
                &form,
                errors,
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}
