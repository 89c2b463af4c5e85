//! Accepting one message (`POST /v1/messages`): validate everything, render, count
//! segments, and store the message, its first event and its outbox row in one
//! transaction. Nothing is stored unless everything is valid.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use nudge_db::messages::{Accepted, FrequencyCap};
use nudge_db::models::{Customer, Message, OutboxRow, Shop};
use nudge_db::tenants::KeyOwner;
use nudge_db::AsyncPgConnection;
use nudge_domain::{
    count_segments, phone_time_zone, Consent, ConsentRefusal, CustomerId, Envelope,
    MessageCategory, MessageId, MessageKind, MessageStatus, OutboundSmsV1, PhoneNumber, QuietHours,
    RenderError, ShopId, Template, TemplateId, TenantId,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{ApiError, FieldError};
use crate::extract::check;
use crate::routes::check_category;

/// The logical queue outbound messages go to (the relay maps it to the real queue).
pub const OUTBOUND_QUEUE: &str = "outbound-sms";

/// Twilio refuses bodies over 1,600 characters.
const MAX_RENDERED_CHARS: usize = 1_600;

/// `POST /v1/messages`. Fields are optional here so that every problem is reported at
/// once; the rules are in [`accept`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    pub shop_id: Option<String>,
    pub to: Option<String>,
    pub customer_id: Option<String>,
    /// A template's id or name.
    pub template: Option<String>,
    /// A literal body (it may use `{{variables}}` too).
    pub body: Option<String>,
    #[serde(default)]
    pub data: Map<String, Value>,
    /// `transactional` or `marketing`; default: the template's, or marketing.
    pub category: Option<String>,
    /// When to send (RFC 3339), from 1 minute to 35 days ahead; default now.
    pub send_at: Option<String>,
}

const MIN_SCHEDULE_AHEAD_SECONDS: i64 = 60;
const MAX_SCHEDULE_AHEAD_DAYS: i64 = 35;

fn check_send_at(
    raw: &str,
    now: DateTime<Utc>,
    errors: &mut Vec<FieldError>,
) -> Option<DateTime<Utc>> {
    let Ok(at) = DateTime::parse_from_rfc3339(raw) else {
        errors.push(FieldError::new(
            "send_at",
            "must be an RFC 3339 time, e.g. 2026-11-24T09:30:00Z",
        ));
        return None;
    };
    let at = at.with_timezone(&Utc);
    if at < now + Duration::seconds(MIN_SCHEDULE_AHEAD_SECONDS)
        || at > now + Duration::days(MAX_SCHEDULE_AHEAD_DAYS)
    {
        errors.push(FieldError::new(
            "send_at",
            "must be from 1 minute to 35 days ahead",
        ));
        return None;
    }
    Some(at)
}

/// Validates and stores a send request; returns the stored (`queued`) message.
pub async fn accept(
    conn: &mut AsyncPgConnection,
    owner: KeyOwner,
    request: SendRequest,
    traceparent: Option<String>,
) -> Result<Message, ApiError> {
    let tenant = owner.tenant;
    let mut errors = Vec::new();
    let shop = find_shop(conn, tenant, request.shop_id.as_deref(), &mut errors).await?;
    let (to, customer) = recipient(conn, tenant, shop.as_ref(), &request, &mut errors).await?;
    let template = template(conn, tenant, &request, &mut errors).await?;
    let requested_category = request
        .category
        .as_deref()
        .map(|c| check_category(c, &mut errors));
    let now = Utc::now();
    let send_at = request
        .send_at
        .as_deref()
        .and_then(|raw| check_send_at(raw, now, &mut errors));
    check(errors)?;
    let (Some(shop), Some(to), Some(resolved)) = (shop, to, template) else {
        // Unreachable: each missing piece pushed an error above.
        return Err(ApiError::invalid("body", "incomplete request"));
    };
    let (template_id, template, template_category) =
        (resolved.id, resolved.template, resolved.category);

    let body = render(
        &template,
        template_id.is_some(),
        request.data,
        customer.as_ref(),
    )?;
    // The daily cap: approximate under concurrency (sends in flight at the same moment
    // may pass it together), which bounds spending without serialising a tenant's sends.
    let today = nudge_db::limits::messages_today(conn, tenant).await?;
    if today >= i64::from(owner.daily_message_cap) {
        let tomorrow = (now + Duration::days(1))
            .date_naive()
            .and_time(chrono::NaiveTime::MIN)
            .and_utc();
        return Err(ApiError::DailyMessageCapReached {
            cap: owner.daily_message_cap,
            retry_after: u64::try_from((tomorrow - now).num_seconds().max(1)).unwrap_or(86_400),
        });
    }
    // Consent after every validation: a bad request is fixed first, whoever it is for.
    let category = requested_category.unwrap_or(template_category);
    let consent = customer
        .as_ref()
        .and_then(|c| Consent::parse(&c.consent))
        .unwrap_or(Consent::Unknown);
    category
        .permitted_by(consent)
        .map_err(|refusal| match refusal {
            ConsentRefusal::OptedOut => ApiError::RecipientOptedOut(refusal.to_string()),
            ConsentRefusal::OptInRequired(_) => ApiError::ConsentRequired(format!(
                "{refusal}; send it as transactional only if it is an order or shipping update"
            )),
        })?;
    // Marketing that would land in the shop's quiet hours, in the recipient's local
    // time, waits for their end.
    let requested_at = send_at;
    let quiet_hold = if category == MessageCategory::Marketing {
        let zone = recipient_zone(customer.as_ref(), &to, &shop);
        let quiet = QuietHours {
            start: shop.quiet_hours_start,
            end: shop.quiet_hours_end,
        };
        quiet
            .hold_until(send_at.unwrap_or(now), zone)
            .map(|until| (until, zone))
    } else {
        None
    };
    let send_at = quiet_hold.map(|(until, _)| until).or(send_at);
    let first_event_detail = match (quiet_hold, requested_at) {
        (Some((until, zone)), requested) => serde_json::json!({
            "send_at": until,
            "reason": "quiet_hours",
            "time_zone": zone.name(),
            "requested_send_at": requested,
        }),
        (None, Some(at)) => serde_json::json!({ "send_at": at, "reason": "requested" }),
        (None, None) => serde_json::json!({}),
    };
    let segments = count_segments(&body);
    let message_id = MessageId::new();
    let envelope = Envelope::new(
        tenant,
        OutboundSmsV1 {
            message_id,
            shop_id: ShopId::from_uuid(shop.id),
            to: to.clone(),
        },
    );
    let status = if send_at.is_some() {
        MessageStatus::Scheduled
    } else {
        MessageStatus::Queued
    };
    let message = Message {
        id: message_id.as_uuid(),
        tenant_id: tenant.as_uuid(),
        shop_id: shop.id,
        customer_id: customer.as_ref().map(|c| c.id),
        template_id: template_id.map(|t| t.as_uuid()),
        to_number: to.to_string(),
        from_number: shop.sender_number.clone(),
        body,
        segments: i32::try_from(segments.segments).unwrap_or(i32::MAX),
        encoding: segments.encoding.as_str().to_owned(),
        status: status.as_str().to_owned(),
        provider_sid: None,
        error_code: None,
        error_message: None,
        attempts: 0,
        created_at: now,
        updated_at: now,
        sent_at: None,
        category: category.as_str().to_owned(),
        send_at,
    };
    let outbox_row = OutboxRow {
        id: envelope.id,
        tenant_id: tenant.as_uuid(),
        queue: OUTBOUND_QUEUE.to_owned(),
        message_type: OutboundSmsV1::TYPE.to_owned(),
        body: serde_json::to_value(
            envelope
                .to_raw()
                .map_err(|e| ApiError::Internal(e.into()))?,
        )
        .map_err(|e| ApiError::Internal(e.into()))?,
        traceparent,
        created_at: now,
        attempts: 0,
        last_error: None,
        // The schedule: the relay takes the row when it becomes available.
        available_at: send_at.unwrap_or(now),
        message_id: Some(message_id.as_uuid()),
    };
    let cap = (category == MessageCategory::Marketing).then(|| FrequencyCap {
        count: i64::from(shop.marketing_cap_count),
        window: Duration::hours(i64::from(shop.marketing_cap_window_hours)),
    });
    match nudge_db::messages::insert_accepted_within_cap(conn, &message, &outbox_row, cap, first_event_detail)
        .await?
    {
        Accepted::Stored(message) => Ok(*message),
        Accepted::CapReached { already } => Err(ApiError::FrequencyCapExceeded(format!(
            "the recipient already has {already} marketing message(s) from this shop within {} hours (the shop's cap is {})",
            shop.marketing_cap_window_hours, shop.marketing_cap_count
        ))),
    }
}

/// The time zone quiet hours are read in: the customer's, else the phone number's
/// country's (single-zone countries), else the shop's.
fn recipient_zone(customer: Option<&Customer>, to: &PhoneNumber, shop: &Shop) -> Tz {
    customer
        .and_then(|c| c.time_zone.as_deref())
        .and_then(|zone| zone.parse().ok())
        .or_else(|| phone_time_zone(to))
        .or_else(|| shop.time_zone.parse().ok())
        .unwrap_or(Tz::UTC)
}

async fn find_shop(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    raw: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Result<Option<Shop>, ApiError> {
    let Some(raw) = raw else {
        errors.push(FieldError::new("shop_id", "is required"));
        return Ok(None);
    };
    let shop = match raw.parse::<ShopId>() {
        Ok(id) => nudge_db::shops::find(conn, tenant, id).await?,
        Err(_) => None,
    };
    if shop.is_none() {
        errors.push(FieldError::new("shop_id", "no such shop"));
    }
    Ok(shop)
}

/// Exactly one of `to` and `customer_id`. A `to` that matches a customer of the shop
/// is linked to them, so their attributes can fill the template.
async fn recipient(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    shop: Option<&Shop>,
    request: &SendRequest,
    errors: &mut Vec<FieldError>,
) -> Result<(Option<PhoneNumber>, Option<Customer>), ApiError> {
    match (&request.to, &request.customer_id) {
        (Some(_), Some(_)) => {
            errors.push(FieldError::new(
                "to",
                "give either `to` or `customer_id`, not both",
            ));
            Ok((None, None))
        }
        (None, None) => {
            errors.push(FieldError::new("to", "`to` or `customer_id` is required"));
            Ok((None, None))
        }
        (Some(raw), None) => match PhoneNumber::parse(raw) {
            Ok(phone) => {
                let customer = match shop {
                    Some(shop) => {
                        nudge_db::customers::find_by_phone(
                            conn,
                            tenant,
                            ShopId::from_uuid(shop.id),
                            &phone,
                        )
                        .await?
                    }
                    None => None,
                };
                Ok((Some(phone), customer))
            }
            Err(e) => {
                errors.push(FieldError::new("to", e.to_string()));
                Ok((None, None))
            }
        },
        (None, Some(raw)) => {
            let customer = match raw.parse::<CustomerId>() {
                Ok(id) => nudge_db::customers::find(conn, tenant, id).await?,
                Err(_) => None,
            };
            let Some(customer) = customer else {
                errors.push(FieldError::new("customer_id", "no such customer"));
                return Ok((None, None));
            };
            if shop.is_some_and(|shop| shop.id != customer.shop_id) {
                errors.push(FieldError::new(
                    "customer_id",
                    "is a customer of another shop",
                ));
                return Ok((None, None));
            }
            match PhoneNumber::parse(&customer.phone) {
                Ok(phone) => Ok((Some(phone), Some(customer))),
                Err(e) => Err(ApiError::Internal(anyhow::anyhow!(
                    "customer {} has a stored phone that does not parse: {e}",
                    customer.id
                ))),
            }
        }
    }
}

/// The text to render: a stored template or the request's own body.
struct Resolved {
    id: Option<TemplateId>,
    template: Template,
    /// The template's category; a literal body is marketing unless the request says otherwise.
    category: MessageCategory,
}

/// Exactly one of `template` (id or name) and `body`.
async fn template(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    request: &SendRequest,
    errors: &mut Vec<FieldError>,
) -> Result<Option<Resolved>, ApiError> {
    match (&request.template, &request.body) {
        (Some(_), Some(_)) => {
            errors.push(FieldError::new(
                "template",
                "give either `template` or `body`, not both",
            ));
            Ok(None)
        }
        (None, None) => {
            errors.push(FieldError::new(
                "template",
                "`template` or `body` is required",
            ));
            Ok(None)
        }
        (None, Some(body)) => match Template::parse(body) {
            Ok(template) => Ok(Some(Resolved {
                id: None,
                template,
                category: MessageCategory::Marketing,
            })),
            Err(e) => {
                errors.push(FieldError::new("body", e.to_string()));
                Ok(None)
            }
        },
        (Some(reference), None) => {
            let row = match reference.parse::<TemplateId>() {
                Ok(id) => nudge_db::templates::find(conn, tenant, id).await?,
                Err(_) => nudge_db::templates::find_by_name(conn, tenant, reference).await?,
            };
            let Some(row) = row else {
                errors.push(FieldError::new(
                    "template",
                    "no template with this id or name",
                ));
                return Ok(None);
            };
            let template = Template::parse(&row.body).map_err(|e| {
                ApiError::Internal(anyhow::anyhow!(
                    "stored template {} does not parse: {e}",
                    row.id
                ))
            })?;
            let category = MessageCategory::parse(&row.category).ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!(
                    "template {} has category '{}'",
                    row.id,
                    row.category
                ))
            })?;
            Ok(Some(Resolved {
                id: Some(TemplateId::from_uuid(row.id)),
                template,
                category,
            }))
        }
    }
}

/// Renders with the request's data; a known customer is available as `customer`
/// (`{{customer.name}}`, `{{customer.phone}}`, and each attribute) unless the data
/// brings its own `customer`.
fn render(
    template: &Template,
    from_stored_template: bool,
    mut data: Map<String, Value>,
    customer: Option<&Customer>,
) -> Result<String, ApiError> {
    if let Some(customer) = customer {
        if !data.contains_key("customer") {
            let mut fields = match &customer.attributes {
                Value::Object(attributes) => attributes.clone(),
                _ => Map::new(),
            };
            fields.insert("phone".into(), Value::String(customer.phone.clone()));
            if let Some(name) = &customer.name {
                fields.insert("name".into(), Value::String(name.clone()));
            }
            data.insert("customer".into(), Value::Object(fields));
        }
    }
    let body = template.render(&data).map_err(|e| match e {
        RenderError::Missing(_) | RenderError::NotScalar(_) => {
            ApiError::invalid("data", e.to_string())
        }
    })?;
    let field = if from_stored_template { "data" } else { "body" };
    if body.trim().is_empty() {
        return Err(ApiError::invalid(field, "the rendered message is empty"));
    }
    if body.chars().count() > MAX_RENDERED_CHARS {
        return Err(ApiError::invalid(
            field,
            format!("the rendered message is longer than {MAX_RENDERED_CHARS} characters"),
        ));
    }
    Ok(body)
}
