//! Campaigns and their expansion into messages.
//!
//! The expander works a page of customers per transaction: [`claim_next`] locks one
//! campaign row (`FOR UPDATE SKIP LOCKED`, so API replicas share the work and never
//! expand the same campaign at once), [`next_recipients`] reads the page after the
//! campaign's cursor, the messages are stored, and [`record_page`] moves the cursor and
//! the counters, all before the same COMMIT.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::dsl::count_star;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use nudge_domain::{CampaignId, MessageEventType, MessageStatus, Segment, ShopId, TenantId};
use serde_json::Value;
use uuid::Uuid;

use crate::messages::new_event;
use crate::models::{Campaign, Customer, Message, MessageEvent};
use crate::schema::{campaigns, customers, message_events, messages, outbox};
use crate::scope::OfTenant;
use crate::{DbError, Page, PageRequest};

pub const EXPANDING: &str = "expanding";
pub const EXPANDED: &str = "expanded";
pub const CANCELLED: &str = "cancelled";

pub async fn insert(
    conn: &mut AsyncPgConnection,
    campaign: &Campaign,
) -> Result<Campaign, DbError> {
    Ok(diesel::insert_into(campaigns::table)
        .values(campaign)
        .returning(Campaign::as_returning())
        .get_result(conn)
        .await?)
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: CampaignId,
) -> Result<Option<Campaign>, DbError> {
    Ok(campaigns::table
        .of(tenant)
        .filter(campaigns::id.eq(id.as_uuid()))
        .select(Campaign::as_select())
        .first(conn)
        .await
        .optional()?)
}

#[derive(Debug, Default, Clone)]
pub struct CampaignFilter {
    pub shop_id: Option<ShopId>,
    pub status: Option<String>,
}

/// Newest first.
pub async fn list(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    filter: &CampaignFilter,
    page: PageRequest,
) -> Result<Page<Campaign>, DbError> {
    let mut query = campaigns::table
        .of(tenant)
        .select(Campaign::as_select())
        .order(campaigns::id.desc())
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(shop) = filter.shop_id {
        query = query.filter(campaigns::shop_id.eq(shop.as_uuid()));
    }
    if let Some(status) = &filter.status {
        query = query.filter(campaigns::status.eq(status.clone()));
    }
    if let Some(before) = page.before {
        query = query.filter(campaigns::id.lt(before));
    }
    let rows = query.load(conn).await?;
    Ok(Page::from_overfetch(rows, page, |campaign| campaign.id))
}

/// The shop's customers in `segment`, in id order, after `after`.
fn segment_query<'a>(
    tenant: TenantId,
    shop: Uuid,
    segment: &'a Segment,
) -> customers::BoxedQuery<'a, diesel::pg::Pg> {
    let mut query = customers::table
        .of(tenant)
        .filter(customers::shop_id.eq(shop))
        .into_boxed();
    if !segment.attributes.is_empty() {
        query =
            query.filter(customers::attributes.contains(Value::Object(segment.attributes.clone())));
    }
    if !segment.consent.is_empty() {
        let states: Vec<&str> = segment.consent.iter().map(|c| c.as_str()).collect();
        query = query.filter(customers::consent.eq_any(states));
    }
    query
}

/// How many of the shop's customers are in the segment now (the audience estimate).
pub async fn count_audience(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    shop: ShopId,
    segment: &Segment,
) -> Result<i64, DbError> {
    Ok(segment_query(tenant, shop.as_uuid(), segment)
        .count()
        .get_result(conn)
        .await?)
}

/// Locks the campaign whose expansion is due longest, skipping those another replica
/// holds. Across tenants by nature, like the outbox relay: call inside a transaction.
pub async fn claim_next(conn: &mut AsyncPgConnection) -> Result<Option<Campaign>, DbError> {
    Ok(campaigns::table
        .filter(campaigns::status.eq(EXPANDING))
        .filter(campaigns::available_at.le(diesel::dsl::now))
        .order(campaigns::available_at.asc())
        .select(Campaign::as_select())
        .for_update()
        .skip_locked()
        .first(conn)
        .await
        .optional()?)
}

/// The next `limit` recipients of a (claimed) campaign.
pub async fn next_recipients(
    conn: &mut AsyncPgConnection,
    campaign: &Campaign,
    segment: &Segment,
    limit: i64,
) -> Result<Vec<Customer>, DbError> {
    let tenant = TenantId::from_uuid(campaign.tenant_id);
    let mut query = segment_query(tenant, campaign.shop_id, segment)
        .select(Customer::as_select())
        .order(customers::id.asc())
        .limit(limit);
    if let Some(after) = campaign.cursor {
        query = query.filter(customers::id.gt(after));
    }
    Ok(query.load(conn).await?)
}

/// What one page of expansion did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PageOutcome {
    /// The last customer of the page: the next page starts after it.
    pub last_customer: Option<Uuid>,
    pub recipients: i32,
    pub queued: i32,
    pub scheduled: i32,
    pub skipped: BTreeMap<String, i64>,
    /// The page was the last one.
    pub finished: bool,
}

/// Adds a page's outcome to a claimed campaign (same transaction as the page).
pub async fn record_page(
    conn: &mut AsyncPgConnection,
    campaign: &Campaign,
    outcome: &PageOutcome,
) -> Result<Campaign, DbError> {
    let mut skipped: BTreeMap<String, i64> = serde_json::from_value(campaign.skipped.clone())
        .map_err(|e| {
            DbError::Corrupt(format!(
                "campaign {} has bad skipped counts: {e}",
                campaign.id
            ))
        })?;
    for (reason, count) in &outcome.skipped {
        *skipped.entry(reason.clone()).or_default() += count;
    }
    let skipped = serde_json::to_value(skipped)
        .map_err(|e| DbError::Corrupt(format!("skipped counts: {e}")))?;
    let now = Utc::now();
    let (status, expanded_at) = if outcome.finished {
        (EXPANDED, Some(now))
    } else {
        (EXPANDING, None)
    };
    Ok(
        diesel::update(campaigns::table.filter(campaigns::id.eq(campaign.id)))
            .set((
                campaigns::cursor.eq(outcome.last_customer.or(campaign.cursor)),
                campaigns::recipients.eq(campaigns::recipients + outcome.recipients),
                campaigns::queued.eq(campaigns::queued + outcome.queued),
                campaigns::scheduled.eq(campaigns::scheduled + outcome.scheduled),
                campaigns::skipped.eq(skipped),
                campaigns::status.eq(status),
                campaigns::expanded_at.eq(expanded_at),
                campaigns::waiting_reason.eq(None::<String>),
                campaigns::updated_at.eq(now),
                // To the back of the line: campaigns take turns a page at a time.
                campaigns::available_at.eq(now),
            ))
            .returning(Campaign::as_returning())
            .get_result(conn)
            .await?,
    )
}

/// The tenant's campaign messages waiting for the sender (queued or being sent), counted
/// up to `at_most`: expansion only needs to know whether the backlog has reached
/// `CAMPAIGN_MAX_UNSENT`, so a page never counts more rows than that, however much the
/// tenant has queued.
///
/// The statuses are written out, not bound: only then can the planner prove that the
/// partial index `messages_campaign_unsent_idx` (`WHERE campaign_id IS NOT NULL AND
/// status IN ('queued', 'sending')`) covers the query, in the generic plan of the
/// prepared statement too.
pub async fn unsent_messages(
    mut conn: &AsyncPgConnection,
    tenant: TenantId,
    at_most: i64,
) -> Result<i64, DbError> {
    const UNSENT: &str = "SELECT count(*) AS count FROM (SELECT 1 FROM messages \
        WHERE tenant_id = $1 AND campaign_id IS NOT NULL AND status IN ('queued', 'sending') \
        LIMIT $2) AS unsent";
    #[derive(QueryableByName)]
    struct Unsent {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        count: i64,
    }
    let unsent: Unsent = crate::prepared::prepared(
        UNSENT,
        vec![
            Box::new(crate::prepared::bind::<diesel::sql_types::Uuid, _>(
                tenant.as_uuid(),
            )),
            Box::new(crate::prepared::bind::<diesel::sql_types::BigInt, _>(
                at_most.max(0),
            )),
        ],
    )
    .get_result(&mut conn)
    .await?;
    Ok(unsent.count)
}

/// Puts a claimed campaign aside until `until` (the tenant's daily cap is reached).
pub async fn wait_until(
    conn: &mut AsyncPgConnection,
    campaign: &Campaign,
    until: DateTime<Utc>,
    reason: &str,
) -> Result<(), DbError> {
    diesel::update(campaigns::table.filter(campaigns::id.eq(campaign.id)))
        .set((
            campaigns::available_at.eq(until),
            campaigns::waiting_reason.eq(reason),
            campaigns::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// What a cancel request found.
#[derive(Debug)]
pub enum Cancel {
    /// Cancelled now (or before): the campaign, and how many of its messages this call
    /// took back before they reached the queue.
    Cancelled {
        campaign: Box<Campaign>,
        messages_cancelled: usize,
    },
    Missing,
}

/// Stops the expansion and cancels every message of the campaign that has not reached
/// the queue. Waits for a page being expanded at this moment (the row lock), so that
/// the page's messages are cancelled too. Cancelling again takes back what is left.
pub async fn cancel(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: CampaignId,
) -> Result<Cancel, DbError> {
    conn.transaction::<_, DbError, _>(async |conn| {
        let found = campaigns::table
            .of(tenant)
            .filter(campaigns::id.eq(id.as_uuid()))
            .select(campaigns::id)
            .for_update()
            .first::<Uuid>(conn)
            .await
            .optional()?;
        if found.is_none() {
            return Ok(Cancel::Missing);
        }
        let campaign = diesel::update(campaigns::table.filter(campaigns::id.eq(id.as_uuid())))
            .set((
                campaigns::status.eq(CANCELLED),
                campaigns::cancelled_at.eq(diesel::dsl::sql::<
                    diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
                >("coalesce(cancelled_at, now())")),
                campaigns::waiting_reason.eq(None::<String>),
                campaigns::updated_at.eq(diesel::dsl::now),
            ))
            .returning(Campaign::as_returning())
            .get_result(conn)
            .await?;
        let messages_cancelled = cancel_pending_messages(conn, tenant, id).await?;
        Ok(Cancel::Cancelled {
            campaign: Box::new(campaign),
            messages_cancelled,
        })
    })
    .await
}

/// Takes back the outbox rows of the campaign's messages that have not been relayed
/// (skipping rows the relay holds right now: those messages are reaching the queue) and
/// marks those messages `cancelled`, each with an event.
async fn cancel_pending_messages(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: CampaignId,
) -> Result<usize, DbError> {
    let pending = messages::table
        .of(tenant)
        .filter(messages::campaign_id.eq(id.as_uuid()))
        .filter(messages::status.eq_any([
            MessageStatus::Scheduled.as_str(),
            MessageStatus::Queued.as_str(),
        ]))
        .select(messages::id.nullable());
    let rows: Vec<(Uuid, Option<Uuid>)> = outbox::table
        .of(tenant)
        .filter(outbox::message_id.eq_any(pending))
        .select((outbox::id, outbox::message_id))
        .for_update()
        .skip_locked()
        .load(conn)
        .await?;
    let (outbox_ids, message_ids): (Vec<Uuid>, Vec<Option<Uuid>>) = rows.into_iter().unzip();
    let message_ids: Vec<Uuid> = message_ids.into_iter().flatten().collect();
    diesel::delete(outbox::table.filter(outbox::id.eq_any(&outbox_ids)))
        .execute(conn)
        .await?;
    let cancelled: Vec<Message> = diesel::update(messages::table.of(tenant))
        .filter(messages::id.eq_any(&message_ids))
        .set((
            messages::status.eq(MessageStatus::Cancelled.as_str()),
            messages::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Message::as_returning())
        .get_results(conn)
        .await?;
    let events: Vec<MessageEvent> = cancelled
        .iter()
        .map(|m| {
            new_event(
                m,
                MessageEventType::Cancelled,
                serde_json::json!({ "reason": "campaign cancelled" }),
            )
        })
        .collect();
    diesel::insert_into(message_events::table)
        .values(&events)
        .execute(conn)
        .await?;
    Ok(cancelled.len())
}

/// The campaign's messages by status, for its delivery progress.
pub async fn message_counts(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: CampaignId,
) -> Result<BTreeMap<String, i64>, DbError> {
    let rows: Vec<(String, i64)> = messages::table
        .of(tenant)
        .filter(messages::campaign_id.eq(id.as_uuid()))
        .group_by(messages::status)
        .select((messages::status, count_star()))
        .load(conn)
        .await?;
    Ok(rows.into_iter().collect())
}
