//! `/v1/shops`: a tenant's shops, each with its sender number and IANA time zone.

use crate::error::Problem;
use actix_web::{delete, get, patch, post, web, HttpResponse};
use chrono::{NaiveTime, Utc};
use nudge_db::models::{Shop, ShopChanges};
use nudge_domain::{PhoneNumber, ShopId};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::Authenticated;
use crate::error::{ApiError, FieldError};
use crate::extract::{check, JsonBody, PageQuery, PathId};
use crate::startup::AppState;
use crate::views::{ListView, ShopView};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(show)
        .service(update)
        .service(remove);
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateShop {
    name: String,
    sender_number: String,
    #[serde(default = "default_time_zone")]
    time_zone: String,
    frequency_cap: Option<FrequencyCapBody>,
    quiet_hours: Option<QuietHoursBody>,
    /// Replace look-alike characters (curly quotes, long dashes...) with GSM-7 ones
    /// before counting parts, as Twilio's Smart Encoding does. Default `false`.
    #[serde(default)]
    smart_encoding: bool,
}

/// Local times, `HH:MM`; the window may cross midnight; equal times turn it off.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct QuietHoursBody {
    start: String,
    end: String,
}

impl QuietHoursBody {
    fn check(self, errors: &mut Vec<FieldError>) -> (NaiveTime, NaiveTime) {
        let mut parse = |field: &str, raw: &str| {
            NaiveTime::parse_from_str(raw, "%H:%M").unwrap_or_else(|_| {
                errors.push(FieldError::new(
                    field,
                    "must be a local time as HH:MM, e.g. 21:00",
                ));
                NaiveTime::MIN
            })
        };
        (
            parse("quiet_hours.start", &self.start),
            parse("quiet_hours.end", &self.end),
        )
    }
}

fn default_quiet_hours() -> (NaiveTime, NaiveTime) {
    (
        NaiveTime::from_hms_opt(21, 0, 0).unwrap_or(NaiveTime::MIN),
        NaiveTime::from_hms_opt(8, 0, 0).unwrap_or(NaiveTime::MIN),
    )
}

/// At most `count` marketing messages per recipient in any `window_hours`.
/// At most `count` (0 to 1,000) marketing messages per recipient in any `window_hours`
/// (1 to 720).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct FrequencyCapBody {
    count: i32,
    window_hours: i32,
}

impl FrequencyCapBody {
    fn check(self, errors: &mut Vec<FieldError>) -> (i32, i32) {
        if !(0..=1000).contains(&self.count) {
            errors.push(FieldError::new(
                "frequency_cap.count",
                "must be from 0 to 1000",
            ));
        }
        if !(1..=720).contains(&self.window_hours) {
            errors.push(FieldError::new(
                "frequency_cap.window_hours",
                "must be from 1 to 720",
            ));
        }
        (self.count, self.window_hours)
    }
}

const DEFAULT_CAP: (i32, i32) = (3, 24);

fn default_time_zone() -> String {
    "UTC".into()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateShop {
    name: Option<String>,
    sender_number: Option<String>,
    time_zone: Option<String>,
    frequency_cap: Option<FrequencyCapBody>,
    quiet_hours: Option<QuietHoursBody>,
    smart_encoding: Option<bool>,
    inbound: Option<InboundBody>,
}

/// How the shop answers customers' texts (docs/conversations.md).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct InboundBody {
    /// The answer to HELP and INFO, 1 to 320 characters; `""` restores Twilio's default.
    help_text: Option<String>,
    /// Words added to Twilio's opt-out defaults (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END,
    /// QUIT): one word each; replaces the shop's previous additions.
    opt_out_keywords: Option<Vec<String>>,
    /// Added to START, YES, UNSTOP.
    opt_in_keywords: Option<Vec<String>>,
    /// Added to HELP, INFO.
    help_keywords: Option<Vec<String>>,
}

/// The inbound part of a shop's changes, checked against what the shop already has
/// (a word may not mean two things across the lists).
fn inbound_changes(
    body: Option<InboundBody>,
    current: Option<&nudge_db::models::Shop>,
    changes: &mut ShopChanges,
    errors: &mut Vec<FieldError>,
) {
    let Some(body) = body else {
        return;
    };
    if let Some(text) = body.help_text {
        let text = text.trim().to_owned();
        if text.is_empty() {
            changes.help_text = Some(None);
        } else if text.chars().count() > 320 {
            errors.push(FieldError::new(
                "inbound.help_text",
                "must be at most 320 characters",
            ));
        } else {
            changes.help_text = Some(Some(text));
        }
    }
    if body.opt_out_keywords.is_none()
        && body.opt_in_keywords.is_none()
        && body.help_keywords.is_none()
    {
        return;
    }
    let stored = |value: Option<&serde_json::Value>| -> Vec<String> {
        value
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    };
    let opt_out = body
        .opt_out_keywords
        .unwrap_or_else(|| stored(current.map(|s| &s.opt_out_keywords)));
    let opt_in = body
        .opt_in_keywords
        .unwrap_or_else(|| stored(current.map(|s| &s.opt_in_keywords)));
    let help = body
        .help_keywords
        .unwrap_or_else(|| stored(current.map(|s| &s.help_keywords)));
    if opt_out.len() + opt_in.len() + help.len() > 50 {
        errors.push(FieldError::new(
            "inbound",
            "at most 50 added keywords in all",
        ));
        return;
    }
    match nudge_domain::ComplianceKeywords::new(&opt_out, &opt_in, &help) {
        Ok(keywords) => {
            changes.opt_out_keywords = Some(serde_json::json!(keywords.opt_out));
            changes.opt_in_keywords = Some(serde_json::json!(keywords.opt_in));
            changes.help_keywords = Some(serde_json::json!(keywords.help));
        }
        Err(error) => errors.push(FieldError::new("inbound", error.to_string())),
    }
}

fn check_name(name: &str, errors: &mut Vec<FieldError>) -> String {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        errors.push(FieldError::new("name", "must be 1 to 200 characters"));
    }
    name.to_owned()
}

fn check_sender(raw: &str, errors: &mut Vec<FieldError>) -> String {
    match PhoneNumber::parse(raw) {
        Ok(phone) => phone.to_string(),
        Err(e) => {
            errors.push(FieldError::new("sender_number", e.to_string()));
            String::new()
        }
    }
}

/// The one answer for a number the tenant does not own, whether another tenant owns it
/// or nobody does: a tenant learns nothing about who owns what.
const NOT_OWNED: &str =
    "is not one of this tenant's sender numbers (GET /v1/sender-numbers lists them)";

/// Adds the refusal when `number` (already checked to be E.164) is not the tenant's.
async fn check_owned(
    conn: &mut nudge_db::AsyncPgConnection,
    tenant: nudge_domain::TenantId,
    number: &str,
    errors: &mut Vec<FieldError>,
) -> Result<(), ApiError> {
    if !number.is_empty() && !nudge_db::sender_numbers::is_owned_by(conn, tenant, number).await? {
        errors.push(FieldError::new("sender_number", NOT_OWNED));
    }
    Ok(())
}

/// A write the ownership key refused (the number was removed between the check and
/// the write) is the same refusal as the check's.
fn not_owned_on_write(error: nudge_db::DbError) -> ApiError {
    match error {
        nudge_db::DbError::InUse(constraint)
            if constraint == nudge_db::sender_numbers::OWNED_CONSTRAINT =>
        {
            ApiError::Validation(vec![FieldError::new("sender_number", NOT_OWNED)])
        }
        other => other.into(),
    }
}

fn check_time_zone(raw: &str, errors: &mut Vec<FieldError>) -> String {
    if raw.parse::<chrono_tz::Tz>().is_err() {
        errors.push(FieldError::new(
            "time_zone",
            "must be an IANA time zone name, e.g. Europe/Paris",
        ));
    }
    raw.to_owned()
}

#[utoipa::path(
    tag = "shops",
    summary = "Create a shop",
    request_body = CreateShop,
    responses((status = 201, description = "The shop", body = ShopView))
)]
#[post("/shops")]
async fn create(
    auth: Authenticated,
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<CreateShop>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let name = check_name(&body.name, &mut errors);
    let sender_number = check_sender(&body.sender_number, &mut errors);
    let time_zone = check_time_zone(&body.time_zone, &mut errors);
    let (cap_count, cap_window) = body
        .frequency_cap
        .map_or(DEFAULT_CAP, |c| c.check(&mut errors));
    let (quiet_start, quiet_end) = body
        .quiet_hours
        .map_or_else(default_quiet_hours, |q| q.check(&mut errors));
    let mut conn = state.conn().await?;
    check_owned(&mut conn, auth.tenant, &sender_number, &mut errors).await?;
    check(errors)?;
    let now = Utc::now();
    let shop = Shop {
        id: ShopId::new().as_uuid(),
        tenant_id: auth.tenant.as_uuid(),
        name,
        sender_number: Some(sender_number),
        time_zone,
        created_at: now,
        updated_at: now,
        marketing_cap_count: cap_count,
        marketing_cap_window_hours: cap_window,
        quiet_hours_start: quiet_start,
        quiet_hours_end: quiet_end,
        smart_encoding: body.smart_encoding,
        help_text: None,
        opt_out_keywords: serde_json::json!([]),
        opt_in_keywords: serde_json::json!([]),
        help_keywords: serde_json::json!([]),
    };
    let shop = nudge_db::shops::insert(&mut conn, &shop)
        .await
        .map_err(not_owned_on_write)?;
    Ok(HttpResponse::Created().json(ShopView::from(shop)))
}

#[utoipa::path(
    tag = "shops",
    summary = "List shops",
    params(PageQuery),
    responses((status = 200, description = "A page of shops, newest first", body = ListView<ShopView>))
)]
#[get("/shops")]
async fn list(
    auth: Authenticated,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let mut conn = state.conn().await?;
    let page = nudge_db::shops::list(&mut conn, auth.tenant, page).await?;
    Ok(HttpResponse::Ok().json(ListView::from_page(page, ShopView::from)))
}

#[utoipa::path(
    tag = "shops",
    summary = "Show a shop",
    params(("id" = Uuid, Path, description = "The shop's id")),
    responses((status = 200, description = "The shop", body = ShopView))
)]
#[get("/shops/{id}")]
async fn show(
    auth: Authenticated,
    state: web::Data<AppState>,
    PathId(id): PathId<ShopId>,
) -> Result<HttpResponse, ApiError> {
    let conn = state.conn().await?;
    let shop = nudge_db::shops::find(&conn, auth.tenant, id)
        .await?
        .ok_or(ApiError::NotFound("shop"))?;
    Ok(HttpResponse::Ok().json(ShopView::from(shop)))
}

#[utoipa::path(
    tag = "shops",
    summary = "Change a shop",
    params(("id" = Uuid, Path, description = "The shop's id")),
    request_body = UpdateShop,
    responses((status = 200, description = "The changed shop", body = ShopView))
)]
#[patch("/shops/{id}")]
async fn update(
    auth: Authenticated,
    state: web::Data<AppState>,
    PathId(id): PathId<ShopId>,
    JsonBody(body): JsonBody<UpdateShop>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let cap = body.frequency_cap.map(|c| c.check(&mut errors));
    let quiet = body.quiet_hours.map(|q| q.check(&mut errors));
    let mut conn = state.conn().await?;
    let current = match &body.inbound {
        Some(_) => Some(
            nudge_db::shops::find(&conn, auth.tenant, id)
                .await?
                .ok_or(ApiError::NotFound("shop"))?,
        ),
        None => None,
    };
    let mut changes = ShopChanges {
        name: body.name.as_deref().map(|n| check_name(n, &mut errors)),
        sender_number: body
            .sender_number
            .as_deref()
            .map(|s| check_sender(s, &mut errors)),
        time_zone: body
            .time_zone
            .as_deref()
            .map(|t| check_time_zone(t, &mut errors)),
        marketing_cap_count: cap.map(|(count, _)| count),
        marketing_cap_window_hours: cap.map(|(_, window)| window),
        quiet_hours_start: quiet.map(|(start, _)| start),
        quiet_hours_end: quiet.map(|(_, end)| end),
        smart_encoding: body.smart_encoding,
        ..ShopChanges::default()
    };
    inbound_changes(body.inbound, current.as_ref(), &mut changes, &mut errors);
    if let Some(number) = &changes.sender_number {
        check_owned(&mut conn, auth.tenant, number, &mut errors).await?;
    }
    check(errors)?;
    let shop = if changes.is_empty() {
        nudge_db::shops::find(&conn, auth.tenant, id).await?
    } else {
        nudge_db::shops::update(&mut conn, auth.tenant, id, &changes)
            .await
            .map_err(not_owned_on_write)?
    };
    let shop = shop.ok_or(ApiError::NotFound("shop"))?;
    Ok(HttpResponse::Ok().json(ShopView::from(shop)))
}

#[utoipa::path(
    tag = "shops",
    summary = "Delete a shop",
    params(("id" = Uuid, Path, description = "The shop's id")),
    responses(
        (status = 204, description = "Deleted, with its customers"),
        (status = 409, description = "`conflict`: the shop has messages or campaigns", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/shops/{id}")]
async fn remove(
    auth: Authenticated,
    state: web::Data<AppState>,
    PathId(id): PathId<ShopId>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    match nudge_db::shops::delete(&mut conn, auth.tenant, id).await {
        Ok(true) => Ok(HttpResponse::NoContent().finish()),
        Ok(false) => Err(ApiError::NotFound("shop")),
        Err(nudge_db::DbError::InUse(_)) => Err(ApiError::Conflict(
            "the shop has messages in its log and cannot be deleted".into(),
        )),
        Err(other) => Err(other.into()),
    }
}
