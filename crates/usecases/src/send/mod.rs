//! Accepting one message (`POST /v1/messages`): validate everything, render, count
//! segments, and store the message, its first event and its outbox row in one
//! transaction. Nothing is stored unless everything is valid.

use chrono::{DateTime, Duration, Utc};
use nudge_db::messages::Accepted::{CapReached, Stored};
use nudge_db::messages::{FrequencyCap, GroupCommit, NewAccepted, RequestKey};
use nudge_db::models::{Customer, Shop};
use nudge_db::models::{Message, MessageEvent};
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
mod batch;
mod daily;
mod lookup;
mod policy;

pub use answer::answer;
pub use batch::accept_batch;
pub use daily::DailyCounts;

pub(crate) use lookup::{collect, find_shop, render};
use lookup::{media, recipient, template, Found};
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

/// Who is sending, as the rules need it: the tenant with its daily cap and the
/// replica's count of its day, and where the message comes from.
#[derive(Clone, Copy)]
pub struct Sender<'a> {
    pub tenant: TenantId,
    pub daily_message_cap: i32,
    pub origin: MessageOrigin,
    pub daily: &'a DailyCounts,
}

impl<'a> Sender<'a> {
    /// A merchant's system, through an API key.
    pub fn api(owner: &KeyOwner, daily: &'a DailyCounts) -> Self {
        Self {
            tenant: owner.tenant,
            daily_message_cap: owner.daily_message_cap,
            origin: MessageOrigin::Api,
            daily,
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
    Ok(collect(media(conn, tenant, Some(raw)).await?, errors).flatten())
}

/// A stored send: the message, and its first event when this call stored it (a retry
/// answered with the message stored the first time has none: read its timeline).
#[derive(Debug)]
pub struct Accepted {
    pub message: Message,
    pub first_event: Option<MessageEvent>,
}

/// Validates and stores a send request; returns the stored (`queued`) message.
pub async fn accept(
    conn: &mut AsyncPgConnection,
    sender: Sender<'_>,
    request: SendRequest,
    traceparent: Option<String>,
) -> Result<Message, Error> {
    let (message, _) = accept_with(conn, sender, request, traceparent, Commit::Alone).await?;
    Ok(message)
}

/// [`accept`] at most once per `Idempotency-Key`, even when the answer to the first
/// try was lost: the key is stored with the message, in its transaction, so that a
/// retry after a database outage (when the key's own record could not be written)
/// gets the message stored the first time. The same key with another request is
/// refused.
///
/// A send without a key is committed through `group` if there is one, in a transaction
/// it may share with other requests' sends (group commit); one with a key commits
/// alone, its key row beside its message.
pub async fn accept_once(
    conn: &mut AsyncPgConnection,
    sender: Sender<'_>,
    request: SendRequest,
    traceparent: Option<String>,
    once: Option<&RequestKey<'_>>,
    group: Option<&GroupCommit>,
) -> Result<Accepted, Error> {
    let commit = match once {
        Some(once) => {
            if let Some(message) = stored_for(conn, sender.tenant, once).await? {
                return Ok(Accepted {
                    message,
                    first_event: None,
                });
            }
            Commit::Once(once)
        }
        None => group.map_or(Commit::Alone, Commit::Grouped),
    };
    let (message, first_event) = accept_with(conn, sender, request, traceparent, commit).await?;
    Ok(Accepted {
        message,
        first_event: Some(first_event),
    })
}

/// The message a send with this key stored already, if any; the same key with another
/// request is refused.
async fn stored_for(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    once: &RequestKey<'_>,
) -> Result<Option<Message>, Error> {
    let Some((hash, message)) =
        nudge_db::messages::accepted_for_request(conn, tenant, once.key).await?
    else {
        return Ok(None);
    };
    if hash != once.hash {
        return Err(Refusal::IdempotencyKeyReused.into());
    }
    tracing::info!("a retry of a send already stored; answered with its message");
    Ok(Some(message))
}

/// How a send's rows are committed.
#[derive(Clone, Copy)]
enum Commit<'a> {
    /// In a transaction of its own.
    Alone,
    /// Alone, with its `Idempotency-Key` row.
    Once(&'a RequestKey<'a>),
    /// In a transaction shared with other sends waiting at the same moment.
    Grouped(&'a GroupCommit),
}

async fn accept_with(
    conn: &mut AsyncPgConnection,
    sender: Sender<'_>,
    request: SendRequest,
    traceparent: Option<String>,
    commit: Commit<'_>,
) -> Result<(Message, MessageEvent), Error> {
    let tenant = sender.tenant;
    let now = Utc::now();
    // Everything a send reads, asked at once: pipelined on the connection, one round
    // trip. The tenant's rules and day are read even for a request that turns out
    // invalid; the answers are still given in order (fields, then rules, then cap).
    let (references, (rules, today)) = {
        let shared: &AsyncPgConnection = conn;
        futures_util::future::join(
            look_up(shared, tenant, &request),
            futures_util::future::join(
                nudge_db::tenants::sending_rules(shared, tenant),
                sender.daily.today(shared, tenant, now),
            ),
        )
        .await
    };
    let checked = check_request(request, references?, now)?;
    // The rules, in the order a merchant would want to hear about them: where it may
    // send at all (countries, the sandbox), then how much today.
    rules?.check(&checked.to)?;
    check_daily_cap(sender, today?, now)?;
    let delivery = checked.delivery(sender.origin);
    let stored = match commit {
        Commit::Alone => store(conn, tenant, delivery, now, traceparent, None).await?,
        Commit::Once(once) => store(conn, tenant, delivery, now, traceparent, Some(once)).await?,
        Commit::Grouped(group) => store_grouped(group, tenant, delivery, now, traceparent).await?,
    };
    sender.daily.accepted(tenant, 1);
    Ok(stored)
}

/// What a request's references resolved to, each found or a field error.
pub(crate) struct References {
    shop: Found<Shop>,
    recipient: Found<(PhoneNumber, Option<Customer>)>,
    template: Found<lookup::Resolved>,
    media: Found<Option<uuid::Uuid>>,
}

/// The request's shop, recipient, template and image, asked together (pipelined).
pub(crate) async fn look_up(
    conn: &AsyncPgConnection,
    tenant: TenantId,
    request: &SendRequest,
) -> Result<References, Error> {
    let (shop, recipient, template, media) = futures_util::future::try_join4(
        find_shop(conn, tenant, request.shop_id.as_deref()),
        recipient(conn, tenant, request),
        template(conn, tenant, request),
        media(conn, tenant, request.media_id.as_deref()),
    )
    .await?;
    Ok(References {
        shop,
        recipient,
        template,
        media,
    })
}

/// A request whose fields are valid and whose body is rendered; not yet checked
/// against where the tenant may send, its day, and the recipient's rules.
pub(crate) struct Checked {
    shop: Shop,
    to: PhoneNumber,
    customer: Option<Customer>,
    template_id: Option<TemplateId>,
    body: String,
    category: MessageCategory,
    send_at: Option<DateTime<Utc>>,
    media_id: Option<uuid::Uuid>,
}

impl Checked {
    pub(crate) fn delivery(&self, origin: MessageOrigin) -> Delivery<'_> {
        Delivery {
            shop: &self.shop,
            to: self.to.clone(),
            customer: self.customer.as_ref(),
            template_id: self.template_id,
            body: self.body.clone(),
            category: self.category,
            send_at: self.send_at,
            campaign_id: None,
            origin,
            media_id: self.media_id,
        }
    }
}

/// Every field problem at once, else the rendered request.
pub(crate) fn check_request(
    request: SendRequest,
    references: References,
    now: DateTime<Utc>,
) -> Result<Checked, Error> {
    let mut errors = Vec::new();
    let shop = collect(references.shop, &mut errors);
    let recipient = collect(references.recipient, &mut errors);
    let resolved = collect(references.template, &mut errors);
    let requested_category = request
        .category
        .as_deref()
        .map(|c| check_category(c, &mut errors));
    let send_at = request
        .send_at
        .as_deref()
        .and_then(|raw| SEND_AT.check(raw, now, &mut errors));
    let media_id = collect(references.media, &mut errors).flatten();
    check(errors)?;
    let (Some(shop), Some((to, customer)), Some(resolved)) = (shop, recipient, resolved) else {
        // Unreachable: each missing piece is a field error above.
        return Err(Error::invalid("body", "incomplete request"));
    };
    let body = render(
        &resolved.template,
        resolved.id.is_some(),
        request.data,
        customer.as_ref(),
    )?;
    Ok(Checked {
        shop,
        to,
        customer,
        template_id: resolved.id,
        body,
        category: requested_category.unwrap_or(resolved.category),
        send_at,
        // The request's image, else the template's.
        media_id: media_id.or(resolved.media_id),
    })
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
) -> Result<(Message, MessageEvent), Error> {
    let ready = ready(tenant, delivery, now, traceparent)?;
    let cap = ready.cap;
    match nudge_db::messages::insert_accepted_within_cap(
        conn,
        &ready.message,
        &ready.outbox_row,
        ready.cap,
        ready.detail,
        once,
    )
    .await?
    {
        Stored {
            message,
            first_event,
        } => Ok((*message, first_event)),
        CapReached { already } => Err(frequency_cap_refusal(already, cap).into()),
    }
}

/// [`store`] through the group committer: the same rules and rows, in a transaction
/// shared with other sends.
async fn store_grouped(
    group: &GroupCommit,
    tenant: TenantId,
    delivery: Delivery<'_>,
    now: DateTime<Utc>,
    traceparent: Option<String>,
) -> Result<(Message, MessageEvent), Error> {
    let ready = ready(tenant, delivery, now, traceparent)?;
    let cap = ready.cap;
    group
        .store(ready)
        .await?
        .map_err(|reached| frequency_cap_refusal(reached.already, cap).into())
}

pub(crate) fn frequency_cap_refusal(already: i64, cap: Option<FrequencyCap>) -> Refusal {
    let (window_hours, count) = cap.map_or((0, 0), |cap| (cap.window.num_hours(), cap.count));
    Refusal::FrequencyCapExceeded(format!(
        "the recipient already has {already} marketing message(s) from this shop within {window_hours} hours (the shop's cap is {count})"
    ))
}

/// A delivery that passed consent, with its send time after quiet hours: the rows to
/// insert, the first event's detail, and the frequency cap to check under its lock as
/// they are stored (marketing).
pub(crate) fn ready(
    tenant: TenantId,
    delivery: Delivery<'_>,
    now: DateTime<Utc>,
    traceparent: Option<String>,
) -> Result<NewAccepted, Error> {
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
    let (send_at, detail) = apply_quiet_hours(category, send_at, now, customer, &to, shop);
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
    Ok(NewAccepted {
        message,
        outbox_row,
        detail,
        cap,
    })
}
