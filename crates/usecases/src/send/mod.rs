//! Accepting one message (`POST /v1/messages`): validate everything, render, count
//! segments, and store the message, its first event and its outbox row in one
//! transaction. Nothing is stored unless everything is valid.

use chrono::{DateTime, Duration, Utc};
use nudge_db::messages::{Accepted, FrequencyCap, RequestKey};
use nudge_db::models::Message;
use nudge_db::models::{Customer, Shop};
use nudge_db::outbound::{prepare, NewOutbound};
use nudge_db::tenants::KeyOwner;
use nudge_db::AsyncPgConnection;
use nudge_domain::{CampaignId, MessageCategory, MessageOrigin, PhoneNumber, TemplateId, TenantId};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::check;
use crate::fields::{check_category, SEND_AT};
use crate::{Error, FieldError, Refusal};

mod answer;
mod lookup;
mod policy;

pub use answer::answer;

pub(crate) use lookup::find_shop;
pub(crate) use lookup::render;
use lookup::{recipient, template};
pub(crate) use policy::check_daily_cap;
use policy::{apply_quiet_hours, check_consent};

/// The logical queue outbound messages go to (the relay maps it to the real queue).
pub const OUTBOUND_QUEUE: &str = nudge_db::outbox::OUTBOUND_SMS_QUEUE;

/// Twilio refuses bodies over 1,600 characters.
pub(crate) const MAX_RENDERED_CHARS: usize = 1_600;

/// `POST /v1/messages`. Fields are optional here so that every problem is reported at
/// once; the rules are in [`accept`].
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    pub shop_id: Option<String>,
    pub to: Option<String>,
    pub customer_id: Option<String>,
    /// A template's id or name.
    pub template: Option<String>,
    /// A literal body (it may use `{{variables}}` too).
    pub body: Option<String>,
    /// Values for the template's variables; a known customer is `customer`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: Map<String, Value>,
    /// `transactional` or `marketing`; default: the template's, or marketing.
    pub category: Option<String>,
    /// When to send (RFC 3339), from 1 minute to 35 days ahead; default now.
    pub send_at: Option<String>,
    /// An image of the tenant's (uploaded in the console), sent with the text as an MMS.
    pub media_id: Option<String>,
}

/// Validates and stores a send request; returns the stored (`queued`) message.
/// Who is sending, as the rules need it: the tenant with its daily cap, and where the
/// message comes from.
#[derive(Debug, Clone, Copy)]
pub struct Sender {
    pub tenant: TenantId,
    pub daily_message_cap: i32,
    pub origin: MessageOrigin,
}

impl Sender {
    /// A merchant's system, through an API key.
    pub fn api(owner: &KeyOwner) -> Self {
        Self {
            tenant: owner.tenant,
            daily_message_cap: owner.daily_message_cap,
            origin: MessageOrigin::Api,
        }
    }
}

/// A `media_id` field: one of the tenant's images (another tenant's is "no such image").
pub async fn check_media_id(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    raw: &str,
    errors: &mut Vec<FieldError>,
) -> Result<Option<uuid::Uuid>, Error> {
    let found = match raw.parse::<uuid::Uuid>() {
        Ok(id) => nudge_db::media::find(conn, tenant, id).await?,
        Err(_) => None,
    };
    if found.is_none() {
        errors.push(FieldError::new("media_id", "no such image"));
    }
    Ok(found.map(|media| media.id))
}

pub async fn accept(
    conn: &mut AsyncPgConnection,
    sender: Sender,
    request: SendRequest,
    traceparent: Option<String>,
) -> Result<Message, Error> {
    accept_with(conn, sender, request, traceparent, None).await
}

/// [`accept`] at most once per `Idempotency-Key`, even when the answer to the first
/// try was lost: the key is stored with the message, in its transaction, so that a
/// retry after a database outage (when the key's own record could not be written)
/// gets the message stored the first time. The same key with another request is
/// refused.
pub async fn accept_once(
    conn: &mut AsyncPgConnection,
    sender: Sender,
    request: SendRequest,
    traceparent: Option<String>,
    once: Option<&RequestKey<'_>>,
) -> Result<Message, Error> {
    let Some(once) = once else {
        return accept(conn, sender, request, traceparent).await;
    };
    if let Some((hash, message)) =
        nudge_db::messages::accepted_for_request(conn, sender.tenant, once.key).await?
    {
        if hash != once.hash {
            return Err(Refusal::IdempotencyKeyReused.into());
        }
        tracing::info!("a retry of a send already stored; answered with its message");
        return Ok(message);
    }
    accept_with(conn, sender, request, traceparent, Some(once)).await
}

async fn accept_with(
    conn: &mut AsyncPgConnection,
    sender: Sender,
    request: SendRequest,
    traceparent: Option<String>,
    once: Option<&RequestKey<'_>>,
) -> Result<Message, Error> {
    let tenant = sender.tenant;
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
        .and_then(|raw| SEND_AT.check(raw, now, &mut errors));
    let media_id = match request.media_id.as_deref() {
        None => None,
        Some(raw) => check_media_id(conn, tenant, raw, &mut errors).await?,
    };
    check(errors)?;
    let (Some(shop), Some(to), Some(resolved)) = (shop, to, template) else {
        // Unreachable: each missing piece pushed an error above.
        return Err(Error::invalid("body", "incomplete request"));
    };
    let (template_id, template, template_category) =
        (resolved.id, resolved.template, resolved.category);
    // The request's image, else the template's.
    let media_id = media_id.or(resolved.media_id);

    let body = render(
        &template,
        template_id.is_some(),
        request.data,
        customer.as_ref(),
    )?;
    // The rules, in the order a merchant would want to hear about them: where it may
    // send at all (countries, the sandbox), then how much today.
    nudge_db::tenants::sending_rules(conn, tenant)
        .await?
        .check(&to)?;
    check_daily_cap(conn, sender, now).await?;
    let delivery = Delivery {
        shop: &shop,
        to,
        customer: customer.as_ref(),
        template_id,
        body,
        category: requested_category.unwrap_or(template_category),
        send_at,
        campaign_id: None,
        origin: sender.origin,
        media_id,
    };
    store(conn, tenant, delivery, now, traceparent, once).await
}

/// A rendered message for one recipient, not yet checked against the recipient's
/// consent, quiet hours and frequency cap.
pub(crate) struct Delivery<'a> {
    pub shop: &'a Shop,
    pub to: PhoneNumber,
    pub customer: Option<&'a Customer>,
    pub template_id: Option<TemplateId>,
    pub body: String,
    pub category: MessageCategory,
    /// The requested send time, if any; quiet hours may move it later.
    pub send_at: Option<DateTime<Utc>>,
    pub campaign_id: Option<CampaignId>,
    pub origin: MessageOrigin,
    /// An image (MMS) of the tenant's.
    pub media_id: Option<uuid::Uuid>,
}

/// Applies the per-recipient rules (consent, quiet hours, frequency cap) and stores the
/// message, its first event and its outbox row in one transaction. Shared by single
/// sends, batches and campaign expansion, so that every path obeys the same rules.
pub(crate) async fn store(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    delivery: Delivery<'_>,
    now: DateTime<Utc>,
    traceparent: Option<String>,
    once: Option<&RequestKey<'_>>,
) -> Result<Message, Error> {
    let Delivery {
        shop,
        to,
        customer,
        template_id,
        body,
        category,
        send_at,
        campaign_id,
        origin,
        media_id,
    } = delivery;
    check_consent(category, customer)?;
    let (send_at, first_event_detail) =
        apply_quiet_hours(category, send_at, now, customer, &to, shop);
    let (message, outbox_row) = prepare(
        tenant,
        NewOutbound {
            shop,
            to: &to,
            customer_id: customer.map(|c| c.id),
            template_id: template_id.map(|t| t.as_uuid()),
            body,
            category,
            send_at,
            campaign_id: campaign_id.map(|c| c.as_uuid()),
            origin,
            in_reply_to: None,
            media_id,
            traceparent,
        },
        now,
    )?;
    let cap = (category == MessageCategory::Marketing).then(|| FrequencyCap {
        count: i64::from(shop.marketing_cap_count),
        window: Duration::hours(i64::from(shop.marketing_cap_window_hours)),
    });
    match nudge_db::messages::insert_accepted_within_cap(conn, &message, &outbox_row, cap, first_event_detail, once)
        .await?
    {
        Accepted::Stored(message) => Ok(*message),
        Accepted::CapReached { already } => Err(Refusal::FrequencyCapExceeded(format!(
            "the recipient already has {already} marketing message(s) from this shop within {} hours (the shop's cap is {})",
            shop.marketing_cap_window_hours, shop.marketing_cap_count
        ))
        .into()),
    }
}
