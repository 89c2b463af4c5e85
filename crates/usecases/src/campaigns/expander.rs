//! The campaign expander: turns campaigns into messages in the background, in every API
//! replica. One page of recipients per transaction (see `nudge_db::campaigns`), its
//! messages stored together (`nudge_db::messages::insert_accepted_many`): the
//! campaign row is locked with SKIP LOCKED, so replicas share campaigns and never
//! expand one twice; a crash rolls the page back and the next pass redoes it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};
use diesel_async::AsyncConnection;
use nudge_db::campaigns::PageOutcome;
use nudge_db::messages::{CapReached, NewAccepted};
use nudge_db::models::{Campaign, Customer, Shop};
use nudge_db::{AsyncPgConnection, DbError, DbPool};
use nudge_domain::{
    CampaignId, MessageCategory, MessageStatus, PhoneNumber, Segment, ShopId, Template, TemplateId,
    TenantId,
};
use serde_json::{Map, Value};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::send::{ready, render, DailyCounts, Delivery};
use crate::{Error, Refusal};

/// Why a recipient got no message; the keys of a campaign's `skipped` counts.
pub mod skip {
    pub const OPTED_OUT: &str = "opted_out";
    pub const CONSENT_REQUIRED: &str = "consent_required";
    pub const FREQUENCY_CAP: &str = "frequency_cap";
    pub const RENDER_FAILED: &str = "render_failed";
    pub const INVALID_PHONE: &str = "invalid_phone";
    /// A country the tenant may not text (docs/tenancy.md).
    pub const DESTINATION_NOT_ALLOWED: &str = "destination_not_allowed";
    /// A tenant in its sandbox, and a number it has not verified.
    pub const NOT_VERIFIED: &str = "not_verified";
}

/// The waiting reason when the tenant's daily cap stops expansion until tomorrow.
pub const WAITING_FOR_DAILY_CAP: &str = "daily_message_cap";
/// The waiting reason when the tenant has [`Pace::max_unsent`] campaign messages
/// waiting for the sender: looked at again after [`UNSENT_RECHECK`].
pub const WAITING_FOR_SENDER: &str = "sender_backlog";
const UNSENT_RECHECK: chrono::Duration = chrono::Duration::seconds(2);

/// How fast campaigns expand.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Recipients per transaction: big enough to be quick, small enough that a page
    /// holds its locks briefly and a cancel waits at most one page.
    pub page_size: i64,
    /// A tenant's campaign messages that may wait for the sender at once.
    pub max_unsent: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ExpandError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("storing a campaign message failed: {0}")]
    Store(Error),
}

impl From<nudge_db::DieselError> for ExpandError {
    fn from(error: nudge_db::DieselError) -> Self {
        ExpandError::Db(error.into())
    }
}

/// Runs until `stop`; wakes on `wakeup` (a campaign was created) or every `interval`.
/// Wakes the outbox relay after each page that queued messages.
/// Campaigns take turns a page at a time (the page's campaign goes to the back of the
/// line), so one campaign, however large, delays another by at most a page.
pub async fn run(
    pool: DbPool,
    pace: Pace,
    daily: Arc<DailyCounts>,
    wakeup: Arc<Notify>,
    relay_wakeup: Arc<Notify>,
    interval: Duration,
    stop: CancellationToken,
) {
    loop {
        match expand_next_page(&pool, pace, &daily).await {
            Ok(Some(campaign)) => {
                if campaign.queued > 0 {
                    relay_wakeup.notify_one();
                }
                if stop.is_cancelled() {
                    return;
                }
                continue; // more pages may be due
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "campaign expansion failed; will retry"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = wakeup.notified() => {}
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// Expands one page of the campaign that is due longest. Returns the campaign as the
/// page left it, or `None` when no campaign is due.
///
/// The tenant's day is the API's count (`daily`, shared with the replica's sends):
/// counted in the database at most once per refresh interval, with what this replica
/// accepted since added, so that a page's cost does not grow with the day.
pub async fn expand_next_page(
    pool: &DbPool,
    pace: Pace,
    daily: &DailyCounts,
) -> Result<Option<Campaign>, ExpandError> {
    let mut conn = pool.get().await.map_err(DbError::from)?;
    conn.transaction::<_, ExpandError, _>(async |conn| {
        let Some(campaign) = nudge_db::campaigns::claim_next(conn).await? else {
            return Ok(None);
        };
        let span = tracing::info_span!("campaign page", campaign_id = %campaign.id);
        expand_page(conn, campaign, pace, daily)
            .instrument(span)
            .await
            .map(Some)
    })
    .await
}

async fn expand_page(
    conn: &mut AsyncPgConnection,
    campaign: Campaign,
    pace: Pace,
    daily: &DailyCounts,
) -> Result<Campaign, ExpandError> {
    let tenant = TenantId::from_uuid(campaign.tenant_id);
    let now = Utc::now();
    // What the page needs to know, asked at once: pipelined, one round trip.
    let (unsent, (cap, today), context) = {
        let shared: &AsyncPgConnection = conn;
        futures_util::future::join3(
            nudge_db::campaigns::unsent_messages(shared, tenant, pace.max_unsent),
            futures_util::future::join(
                nudge_db::limits::daily_message_cap(shared, tenant),
                daily.today(shared, tenant, now),
            ),
            Context::load(shared, &campaign),
        )
        .await
    };
    let unsent = unsent?;
    if unsent >= pace.max_unsent {
        nudge_db::campaigns::wait_until(conn, &campaign, now + UNSENT_RECHECK, WAITING_FOR_SENDER)
            .await?;
        tracing::info!(unsent, "campaign waits for the sender to catch up");
        return Ok(Campaign {
            queued: 0,
            ..campaign
        });
    }
    let page_size = pace.page_size;
    let remaining_today = i64::from(cap?) - today?;
    if remaining_today <= 0 {
        let tomorrow = now.duration_trunc(chrono::Duration::days(1)).unwrap_or(now)
            + chrono::Duration::days(1);
        nudge_db::campaigns::wait_until(conn, &campaign, tomorrow, WAITING_FOR_DAILY_CAP).await?;
        tracing::info!(until = %tomorrow, "campaign waits for the tenant's daily cap");
        return Ok(Campaign {
            queued: 0,
            ..campaign
        });
    }
    let context = context?;
    let limit = page_size.min(remaining_today);
    let recipients =
        nudge_db::campaigns::next_recipients(conn, &campaign, &context.segment, limit).await?;
    let mut outcome = PageOutcome {
        last_customer: recipients.last().map(|c| c.id),
        finished: (recipients.len() as i64) < limit,
        ..PageOutcome::default()
    };
    let traceparent = nudge_telemetry::current_traceparent();
    // Each recipient checked and rendered here; the page's messages stored together.
    let mut messages = Vec::with_capacity(recipients.len());
    for customer in &recipients {
        outcome.recipients += 1;
        match prepare(&context, customer, now, traceparent.clone())? {
            Ok(message) => messages.push(message),
            Err(reason) => *outcome.skipped.entry(reason.to_owned()).or_default() += 1,
        }
    }
    for stored in nudge_db::messages::insert_accepted_many(conn, messages).await? {
        match stored {
            Ok((message, _)) if message.status == MessageStatus::Scheduled.as_str() => {
                outcome.scheduled += 1;
            }
            Ok(_) => outcome.queued += 1,
            Err(CapReached { .. }) => {
                *outcome
                    .skipped
                    .entry(skip::FREQUENCY_CAP.to_owned())
                    .or_default() += 1;
            }
        }
    }
    let updated = nudge_db::campaigns::record_page(conn, &campaign, &outcome).await?;
    // Counted before the commit: a page that then fails to commit has the replica's
    // count too high until the next recount (a second), which errs on the cap's side.
    daily.accepted(tenant, i64::from(outcome.queued + outcome.scheduled));
    tracing::info!(
        recipients = outcome.recipients,
        queued = outcome.queued,
        scheduled = outcome.scheduled,
        finished = outcome.finished,
        "campaign page expanded"
    );
    // Report this page's own numbers to the loop (it wakes the relay on `queued`).
    Ok(Campaign {
        queued: outcome.queued,
        ..updated
    })
}

/// What every recipient of a campaign shares, read once per page.
struct Context {
    campaign_id: CampaignId,
    tenant: TenantId,
    shop: Shop,
    template_id: TemplateId,
    template: Template,
    /// The template's image: every message of the campaign carries it.
    media_id: Option<uuid::Uuid>,
    category: MessageCategory,
    data: Map<String, Value>,
    segment: Segment,
    send_at: Option<DateTime<Utc>>,
    /// Where the tenant may send (its countries; its verified numbers in the sandbox).
    rules: nudge_domain::SendingRules,
}

impl Context {
    async fn load(conn: &AsyncPgConnection, campaign: &Campaign) -> Result<Self, DbError> {
        let tenant = TenantId::from_uuid(campaign.tenant_id);
        let corrupt = |what: String| DbError::Corrupt(format!("campaign {}: {what}", campaign.id));
        let template_id = TemplateId::from_uuid(campaign.template_id);
        let (shop, row, rules) = futures_util::future::join3(
            nudge_db::shops::find(conn, tenant, ShopId::from_uuid(campaign.shop_id)),
            nudge_db::templates::find(conn, tenant, template_id),
            nudge_db::tenants::sending_rules(conn, tenant),
        )
        .await;
        let shop = shop?.ok_or_else(|| corrupt("its shop is gone".into()))?;
        let row = row?.ok_or_else(|| corrupt("its template is gone".into()))?;
        let rules = rules?;
        let template = Template::parse(&row.body).map_err(|e| corrupt(e.to_string()))?;
        let category = MessageCategory::parse(&campaign.category)
            .ok_or_else(|| corrupt(format!("category '{}'", campaign.category)))?;
        let segment: Segment = serde_json::from_value(campaign.segment.clone())
            .map_err(|e| corrupt(format!("segment: {e}")))?;
        let data = match &campaign.data {
            Value::Object(data) => data.clone(),
            other => return Err(corrupt(format!("data is not an object: {other}"))),
        };
        Ok(Context {
            rules,
            campaign_id: CampaignId::from_uuid(campaign.id),
            tenant,
            shop,
            template_id,
            template,
            media_id: row.media_id,
            category,
            data,
            segment,
            // A campaign that waited past its send time sends now.
            send_at: campaign.send_at.filter(|at| *at > Utc::now()),
        })
    }
}

/// One recipient's message, ready to store, or why they are skipped. Errors other than
/// the recipient's own rules abort the page (and roll it back).
fn prepare(
    context: &Context,
    customer: &Customer,
    now: DateTime<Utc>,
    traceparent: Option<String>,
) -> Result<Result<NewAccepted, &'static str>, ExpandError> {
    let Ok(to) = PhoneNumber::parse(&customer.phone) else {
        return Ok(Err(skip::INVALID_PHONE));
    };
    match context.rules.check(&to) {
        Ok(()) => {}
        Err(nudge_domain::DestinationRefusal::CountryNotAllowed(_)) => {
            return Ok(Err(skip::DESTINATION_NOT_ALLOWED))
        }
        Err(nudge_domain::DestinationRefusal::NotVerified) => return Ok(Err(skip::NOT_VERIFIED)),
    }
    let Ok(body) = render(
        &context.template,
        true,
        context.data.clone(),
        Some(customer),
    ) else {
        return Ok(Err(skip::RENDER_FAILED));
    };
    let delivery = Delivery {
        shop: &context.shop,
        to,
        customer: Some(customer),
        template_id: Some(context.template_id),
        body,
        category: context.category,
        send_at: context.send_at,
        campaign_id: Some(context.campaign_id),
        origin: nudge_domain::MessageOrigin::Campaign,
        media_id: context.media_id,
    };
    match ready(context.tenant, delivery, now, traceparent) {
        Ok(ready) => Ok(Ok(ready)),
        Err(Error::Refused(Refusal::RecipientOptedOut(_))) => Ok(Err(skip::OPTED_OUT)),
        Err(Error::Refused(Refusal::ConsentRequired(_))) => Ok(Err(skip::CONSENT_REQUIRED)),
        Err(other) => Err(ExpandError::Store(other)),
    }
}
