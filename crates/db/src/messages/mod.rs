//! Messages and their timelines: accepting a message (with its outbox row, atomically),
//! the log queries, and the state moves the sender makes.

use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use nudge_domain::{CampaignId, MessageEventType, MessageId, MessageStatus, ShopId, TenantId};
use serde_json::Value;
use uuid::Uuid;

use crate::models::{Message, MessageEvent, OutboxRow};
use crate::schema::{accepted_requests, message_events, messages, outbox};
use crate::scope::OfTenant;
use crate::{DbError, Page, PageRequest};

mod accept_many;
mod claim;
pub mod group_commit;
pub use accept_many::{insert_accepted_many, CapReached, NewAccepted};
pub use claim::{attempt_again, claim, claim_many, Claim, Lease};
pub use group_commit::GroupCommit;

/// Filters of the message log; all optional, all combined with AND.
#[derive(Debug, Default, Clone)]
pub struct MessageFilter {
    pub shop_id: Option<ShopId>,
    pub campaign_id: Option<CampaignId>,
    pub status: Option<MessageStatus>,
    pub to: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

pub(crate) fn new_event(message: &Message, kind: MessageEventType, detail: Value) -> MessageEvent {
    MessageEvent {
        id: Uuid::now_v7(),
        tenant_id: message.tenant_id,
        message_id: message.id,
        event_type: kind.as_str().to_owned(),
        // As Postgres stores it (microseconds), so that the event a send answers with
        // is the one its timeline shows later.
        at: Utc::now().trunc_subsecs(6),
        detail,
    }
}

/// An accepted message's first event: `scheduled` when it waits for its `send_at`,
/// else `queued`.
pub(super) fn first_event(message: &Message, detail: Value) -> MessageEvent {
    let kind = if message.status == MessageStatus::Scheduled.as_str() {
        MessageEventType::Scheduled
    } else {
        MessageEventType::Queued
    };
    new_event(message, kind, detail)
}

pub(crate) async fn add_event(
    conn: &mut AsyncPgConnection,
    event: &MessageEvent,
) -> Result<(), DbError> {
    diesel::insert_into(message_events::table)
        .values(event)
        .execute(conn)
        .await?;
    Ok(())
}

/// Stores an accepted message (`queued`, or `scheduled` with its `send_at`), its first
/// event and its outbox row in ONE transaction: either the message exists and will
/// reach the queue, or nothing was stored.
pub async fn insert_accepted(
    conn: &mut AsyncPgConnection,
    message: &Message,
    outbox_row: &OutboxRow,
) -> Result<Message, DbError> {
    match insert_accepted_within_cap(conn, message, outbox_row, None, serde_json::json!({}), None)
        .await?
    {
        Accepted::Stored { message, .. } => Ok(*message),
        Accepted::CapReached { .. } => {
            Err(DbError::Corrupt("a cap was applied without one".into()))
        }
    }
}

/// The `Idempotency-Key` a send came with, and the hash of its request: remembered in
/// the transaction that stores the message (`accepted_requests`), so that a retry
/// after an answer lost to a database outage finds the message instead of storing it
/// twice.
#[derive(Debug, Clone, Copy)]
pub struct RequestKey<'a> {
    pub key: &'a str,
    pub hash: &'a str,
}

/// The message a send with this key stored, and that send's request hash.
pub async fn accepted_for_request(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    key: &str,
) -> Result<Option<(String, Message)>, DbError> {
    Ok(accepted_requests::table
        .of(tenant)
        .inner_join(messages::table.on(messages::id.eq(accepted_requests::message_id)))
        .filter(accepted_requests::idempotency_key.eq(key))
        .filter(messages::tenant_id.eq(accepted_requests::tenant_id))
        .select((accepted_requests::request_hash, Message::as_select()))
        .first(conn)
        .await
        .optional()?)
}

/// Forgets sends' keys older than `hours` (every tenant's: housekeeping); how many.
pub async fn purge_accepted_requests(
    conn: &mut AsyncPgConnection,
    hours: i64,
) -> Result<usize, DbError> {
    let before = Utc::now() - chrono::Duration::hours(hours);
    Ok(diesel::delete(accepted_requests::table)
        .filter(accepted_requests::created_at.lt(before))
        .execute(conn)
        .await?)
}

/// A marketing frequency cap: at most `count` messages per recipient in `window`.
#[derive(Debug, Clone, Copy)]
pub struct FrequencyCap {
    pub count: i64,
    pub window: chrono::Duration,
}

#[derive(Debug)]
pub enum Accepted {
    Stored {
        message: Box<Message>,
        /// Its first event (`queued` or `scheduled`), as stored.
        first_event: MessageEvent,
    },
    /// The recipient already has `already` marketing messages in the window.
    CapReached { already: i64 },
}

/// As [`insert_accepted`], refusing the message if the shop's recipient has reached
/// `cap`. The count and the insert happen under a per-(shop, recipient) lock, so two
/// concurrent sends cannot both take the last place.
/// `detail` is the first event's: why and until when a scheduled message waits.
pub async fn insert_accepted_within_cap(
    conn: &mut AsyncPgConnection,
    message: &Message,
    outbox_row: &OutboxRow,
    cap: Option<FrequencyCap>,
    detail: Value,
    request: Option<&RequestKey<'_>>,
) -> Result<Accepted, DbError> {
    let event = first_event(message, detail);
    conn.transaction::<_, DbError, _>(async |conn| {
        if let Some(cap) = cap {
            let already = count_in_window(conn, message, cap.window).await?;
            if already >= cap.count {
                return Ok(Accepted::CapReached { already });
            }
        }
        // Pipelined: the rows go to the server one after the other without waiting
        // for each answer (it runs them in order, so the message precedes what refers
        // to it), one round trip for all of them.
        let shared: &AsyncPgConnection = conn;
        let insert_message = diesel::insert_into(messages::table)
            .values(message)
            .returning(Message::as_returning())
            .get_result(&mut &*shared);
        let insert_event = diesel::insert_into(message_events::table)
            .values(&event)
            .execute(&mut &*shared);
        let insert_outbox = diesel::insert_into(outbox::table)
            .values(outbox_row)
            .execute(&mut &*shared);
        let remember_request = async {
            let Some(request) = request else {
                return Ok(0);
            };
            diesel::insert_into(accepted_requests::table)
                .values((
                    accepted_requests::tenant_id.eq(message.tenant_id),
                    accepted_requests::idempotency_key.eq(request.key),
                    accepted_requests::request_hash.eq(request.hash),
                    accepted_requests::message_id.eq(message.id),
                ))
                .execute(&mut &*shared)
                .await
        };
        let (stored, _, _, _) = futures_util::future::try_join4(
            insert_message,
            insert_event,
            insert_outbox,
            remember_request,
        )
        .await?;
        Ok(Accepted::Stored {
            message: Box::new(stored),
            first_event: event.clone(),
        })
    })
    .await
}

/// The transaction lock that serialises cap decisions for one recipient of one shop.
fn cap_lock_key(message: &Message) -> String {
    format!("cap:{}:{}", message.shop_id, message.to_number)
}

/// Marketing messages to the same recipient of the same shop whose send time is
/// within `window` of this one's (before or after: scheduled messages count where
/// they will land). Failed and cancelled messages do not count. Takes the
/// per-(shop, recipient) transaction lock first.
async fn count_in_window(
    conn: &mut AsyncPgConnection,
    message: &Message,
    window: chrono::Duration,
) -> Result<i64, DbError> {
    crate::locks::transaction_lock(conn, &cap_lock_key(message)).await?;
    let at = message.send_at.unwrap_or(message.created_at);
    let effective =
        diesel::dsl::sql::<diesel::sql_types::Timestamptz>("coalesce(send_at, created_at)");
    Ok(messages::table
        .filter(messages::tenant_id.eq(message.tenant_id))
        .filter(messages::shop_id.eq(message.shop_id))
        .filter(messages::to_number.eq(&message.to_number))
        .filter(messages::category.eq("marketing"))
        .filter(messages::status.ne_all(["failed", "cancelled"]))
        .filter(effective.clone().gt(at - window))
        .filter(effective.lt(at + window))
        .count()
        .get_result(conn)
        .await?)
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: MessageId,
) -> Result<Option<Message>, DbError> {
    Ok(messages::table
        .of(tenant)
        .filter(messages::id.eq(id.as_uuid()))
        .select(Message::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Several messages in one query, each looked up in its own tenant: one answer per
/// request, in order (`None` for a message that tenant does not have).
pub async fn find_many(
    conn: &mut AsyncPgConnection,
    wanted: &[(TenantId, MessageId)],
) -> Result<Vec<Option<Message>>, DbError> {
    let tenants: Vec<Uuid> = wanted.iter().map(|(tenant, _)| tenant.as_uuid()).collect();
    let ids: Vec<Uuid> = wanted.iter().map(|(_, id)| id.as_uuid()).collect();
    let found: Vec<Message> = messages::table
        .filter(messages::tenant_id.eq_any(&tenants))
        .filter(messages::id.eq_any(&ids))
        .select(Message::as_select())
        .load(conn)
        .await?;
    // The two lists together could pair one tenant with another's id: only an exact
    // (tenant, id) match answers a request.
    let by_key: std::collections::HashMap<(Uuid, Uuid), Message> = found
        .into_iter()
        .map(|message| ((message.tenant_id, message.id), message))
        .collect();
    Ok(wanted
        .iter()
        .map(|(tenant, id)| by_key.get(&(tenant.as_uuid(), id.as_uuid())).cloned())
        .collect())
}

/// The message's timeline, oldest first.
pub async fn events(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: MessageId,
) -> Result<Vec<MessageEvent>, DbError> {
    Ok(message_events::table
        .of(tenant)
        .filter(message_events::message_id.eq(id.as_uuid()))
        .order((message_events::at.asc(), message_events::id.asc()))
        .select(MessageEvent::as_select())
        .load(conn)
        .await?)
}

/// A message's id is a UUIDv7 minted when it is accepted, by the same clock and in the
/// same request as its `created_at`: the two are at most moments apart (a campaign page
/// or a batch takes seconds). So a time range of the log is also a range of ids, which
/// the `(tenant_id, ..., id DESC)` indexes can seek to instead of reading every newer
/// message first. The id range is widened by this much on each side, so that it never
/// leaves out a message the `created_at` filter keeps.
const ID_CLOCK_MARGIN: chrono::Duration = chrono::Duration::minutes(10);

/// The smallest UUIDv7 minted at `at` (its millisecond, with every other bit as low as
/// a v7 id has it): ids minted at or after `at` sort at or after it, as Postgres
/// compares uuids (byte by byte).
fn first_id_minted_at(at: DateTime<Utc>) -> Uuid {
    // 48 bits of milliseconds since the epoch: before it, the first; past it, the last.
    let millis = u64::try_from(at.timestamp_millis())
        .unwrap_or(0)
        .min((1 << 48) - 1);
    uuid::Builder::from_unix_timestamp_millis(millis, &[0; 10]).into_uuid()
}

/// The log, newest first.
pub async fn list(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    filter: &MessageFilter,
    page: PageRequest,
) -> Result<Page<Message>, DbError> {
    let mut query = messages::table
        .of(tenant)
        .select(Message::as_select())
        .order(messages::id.desc())
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(shop) = filter.shop_id {
        query = query.filter(messages::shop_id.eq(shop.as_uuid()));
    }
    if let Some(campaign) = filter.campaign_id {
        query = query.filter(messages::campaign_id.eq(campaign.as_uuid()));
    }
    if let Some(status) = filter.status {
        query = query.filter(messages::status.eq(status.as_str()));
    }
    if let Some(to) = &filter.to {
        query = query.filter(messages::to_number.eq(to.clone()));
    }
    // `created_at` decides; the id range it implies lets the index seek to it.
    if let Some(since) = filter.since {
        query = query
            .filter(messages::created_at.ge(since))
            .filter(messages::id.ge(first_id_minted_at(since - ID_CLOCK_MARGIN)));
    }
    if let Some(until) = filter.until {
        query = query
            .filter(messages::created_at.lt(until))
            .filter(messages::id.lt(first_id_minted_at(until + ID_CLOCK_MARGIN)));
    }
    if let Some(before) = page.before {
        query = query.filter(messages::id.lt(before));
    }
    let rows = query.load(conn).await?;
    Ok(Page::from_overfetch(rows, page, |message| message.id))
}

/// The tenant's messages by status (operations and tests).
pub async fn count_by_status(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
) -> Result<std::collections::BTreeMap<String, i64>, DbError> {
    let rows: Vec<(String, i64)> = messages::table
        .of(tenant)
        .group_by(messages::status)
        .select((messages::status, diesel::dsl::count_star()))
        .load(conn)
        .await?;
    Ok(rows.into_iter().collect())
}

/// The tenant's messages by the worker that last claimed them (operations and tests).
pub async fn claimed_by_worker(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
) -> Result<std::collections::BTreeMap<String, i64>, DbError> {
    let rows: Vec<(Option<String>, i64)> = messages::table
        .of(tenant)
        .filter(messages::claimed_by.is_not_null())
        .group_by(messages::claimed_by)
        .select((messages::claimed_by, diesel::dsl::count_star()))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(worker, n)| Some((worker?, n)))
        .collect())
}

/// Which of these provider sids some message already holds (reconciliation must not
/// adopt another message's sid). Across tenants: a sid is the provider's, unique.
pub async fn known_provider_sids(
    conn: &mut AsyncPgConnection,
    sids: &[String],
) -> Result<Vec<String>, DbError> {
    if sids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(messages::table
        .filter(messages::provider_sid.eq_any(sids))
        .select(messages::provider_sid.assume_not_null())
        .load(conn)
        .await?)
}

/// `sending -> sent` with the provider's id and, when it says, the number of parts it
/// actually sent (it may count differently from us, e.g. after its own encoding).
pub async fn record_sent(
    conn: &mut AsyncPgConnection,
    message: &Message,
    provider_sid: &str,
    provider_segments: Option<i32>,
    detail: Value,
) -> Result<(), DbError> {
    let record = SentRecord {
        message: message.clone(),
        provider_sid: provider_sid.to_owned(),
        provider_segments,
        detail,
    };
    record_sent_many(conn, std::slice::from_ref(&record)).await
}

/// A message the provider accepted, to record as `sent`.
#[derive(Debug, Clone)]
pub struct SentRecord {
    /// As claimed.
    pub message: Message,
    pub provider_sid: String,
    /// The provider's count of parts, when it gave one.
    pub provider_segments: Option<i32>,
    /// The `sent` event's detail.
    pub detail: Value,
}

/// [`record_sent`] for many messages in ONE transaction (one wait for the disk). Each
/// message moves only from `sending`; each gets its `sent` event; each sid's lock is
/// taken (in sorted order: two transactions sharing sids cannot deadlock) before the
/// sid is stored, so that status callbacks that arrived first are applied here.
pub async fn record_sent_many(
    conn: &mut AsyncPgConnection,
    records: &[SentRecord],
) -> Result<(), DbError> {
    if records.is_empty() {
        return Ok(());
    }
    conn.transaction::<_, DbError, _>(async |conn| {
        let mut sids: Vec<&str> = records.iter().map(|r| r.provider_sid.as_str()).collect();
        sids.sort_unstable();
        sids.dedup();
        crate::callbacks::lock_sids(conn, &sids).await?;
        let sent = mark_sent(conn, records).await?;
        let events: Vec<MessageEvent> = records
            .iter()
            .map(|r| new_event(&r.message, MessageEventType::Sent, r.detail.clone()))
            .collect();
        diesel::insert_into(message_events::table)
            .values(&events)
            .execute(conn)
            .await?;
        emit_sent(conn, &sent).await?;
        // Status callbacks that beat us to it wait for the sid; apply them now.
        let waiting = crate::callbacks::sids_with_pending(conn, &sids).await?;
        for message in sent {
            if message
                .provider_sid
                .as_ref()
                .is_some_and(|sid| waiting.contains(sid))
            {
                crate::callbacks::apply_pending(conn, message).await?;
            }
        }
        Ok(())
    })
    .await
}

/// `sending -> sent` for every record in one statement; the messages moved (a message
/// no longer `sending` is left as it is).
async fn mark_sent(
    conn: &mut AsyncPgConnection,
    records: &[SentRecord],
) -> Result<Vec<Message>, DbError> {
    use crate::prepared::{bind, prepared};
    use diesel::sql_types::{Array, Int4, Text, Uuid as SqlUuid};
    let tenants: Vec<Uuid> = records.iter().map(|r| r.message.tenant_id).collect();
    let ids: Vec<Uuid> = records.iter().map(|r| r.message.id).collect();
    let sids: Vec<&str> = records.iter().map(|r| r.provider_sid.as_str()).collect();
    let segments: Vec<i32> = records
        .iter()
        .map(|r| r.provider_segments.unwrap_or(r.message.segments))
        .collect();
    Ok(prepared(
        "UPDATE messages SET status = $5, provider_sid = sent.sid, segments = sent.segments, \
           sent_at = now(), lease_until = NULL, updated_at = now() \
         FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::int4[]) \
           AS sent(tenant_id, id, sid, segments) \
         WHERE messages.tenant_id = sent.tenant_id AND messages.id = sent.id \
           AND messages.status = $6 \
         RETURNING messages.*",
        vec![
            Box::new(bind::<Array<SqlUuid>, _>(&tenants)),
            Box::new(bind::<Array<SqlUuid>, _>(&ids)),
            Box::new(bind::<Array<Text>, _>(&sids)),
            Box::new(bind::<Array<Int4>, _>(&segments)),
            Box::new(bind::<Text, _>(MessageStatus::Sent.as_str())),
            Box::new(bind::<Text, _>(MessageStatus::Sending.as_str())),
        ],
    )
    .load(conn)
    .await?)
}

/// `message.sent` webhooks of messages just sent: the subscribed endpoints read once
/// per tenant and shop, the deliveries queued in one statement.
async fn emit_sent(conn: &mut AsyncPgConnection, sent: &[Message]) -> Result<(), DbError> {
    const EVENT: &str = "message.sent";
    use std::collections::hash_map::{Entry, HashMap};
    let mut endpoints: HashMap<(Uuid, Uuid), Vec<Uuid>> = HashMap::new();
    let mut deliveries = Vec::new();
    for message in sent {
        let tenant = TenantId::from_uuid(message.tenant_id);
        let subscribed = match endpoints.entry((message.tenant_id, message.shop_id)) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(new) => {
                new.insert(crate::webhooks::subscribed(conn, tenant, message.shop_id, EVENT).await?)
            }
        };
        let data = crate::webhooks::message_event_data(message, MessageStatus::Sent.as_str(), None);
        deliveries.extend(crate::webhooks::deliveries_of(
            tenant, subscribed, EVENT, data,
        ));
    }
    crate::webhooks::queue_deliveries(conn, deliveries).await?;
    Ok(())
}

/// `sending -> failed` for good, with the provider's error.
pub async fn record_failed(
    conn: &mut AsyncPgConnection,
    message: &Message,
    error_code: Option<i32>,
    error_message: &str,
    detail: Value,
) -> Result<(), DbError> {
    let event = new_event(message, MessageEventType::Failed, detail);
    conn.transaction::<_, DbError, _>(async |conn| {
        diesel::update(messages::table)
            .filter(messages::tenant_id.eq(message.tenant_id))
            .filter(messages::id.eq(message.id))
            .filter(messages::status.eq(MessageStatus::Sending.as_str()))
            .set((
                messages::status.eq(MessageStatus::Failed.as_str()),
                messages::error_code.eq(error_code),
                messages::error_message.eq(error_message),
                messages::lease_until.eq(None::<DateTime<Utc>>),
                messages::updated_at.eq(diesel::dsl::now),
            ))
            .execute(conn)
            .await?;
        add_event(conn, &event).await?;
        crate::webhooks::emit_message_status(conn, message, MessageStatus::Failed, error_code)
            .await?;
        Ok(())
    })
    .await
}

/// `sending -> failed` because the recipient unsubscribed at the provider: the failure
/// and the recipient's opt-out commit together, so later sends are refused up front.
pub async fn record_failed_unsubscribed(
    conn: &mut AsyncPgConnection,
    message: &Message,
    error_code: i32,
    error_message: &str,
    detail: Value,
) -> Result<(), DbError> {
    conn.transaction::<_, DbError, _>(async |conn| {
        record_failed(conn, message, Some(error_code), error_message, detail).await?;
        let evidence = serde_json::json!({
            "error_code": error_code,
            "message_id": message.id,
            "from": message.from_number,
        });
        crate::consent::record_provider_opt_out(
            conn,
            TenantId::from_uuid(message.tenant_id),
            ShopId::from_uuid(message.shop_id),
            &message.to_number,
            evidence,
        )
        .await?;
        Ok(())
    })
    .await
}

/// `sending -> queued` after an attempt that is worth retrying; the queue redelivers it.
pub async fn release_for_retry(
    conn: &mut AsyncPgConnection,
    message: &Message,
    detail: Value,
) -> Result<(), DbError> {
    end_attempt(conn, message, detail, MessageStatus::Queued, None).await
}

/// An attempt whose outcome at the provider is unknown (no answer, a 5xx): the message
/// stays `sending` with its lease ended now, so that the next claim takes it over and
/// asks the provider before any new attempt (`Claim::TakenOver`). The timeline gets a
/// `retry_scheduled` event that says so.
pub async fn release_in_doubt(
    conn: &mut AsyncPgConnection,
    message: &Message,
    detail: Value,
) -> Result<(), DbError> {
    end_attempt(
        conn,
        message,
        detail,
        MessageStatus::Sending,
        Some(Utc::now()),
    )
    .await
}

/// Ends a failed attempt of a `sending` message: its next status and lease, and a
/// `retry_scheduled` event with `detail`.
async fn end_attempt(
    conn: &mut AsyncPgConnection,
    message: &Message,
    detail: Value,
    next: MessageStatus,
    lease_until: Option<DateTime<Utc>>,
) -> Result<(), DbError> {
    let event = new_event(message, MessageEventType::RetryScheduled, detail);
    conn.transaction::<_, DbError, _>(async |conn| {
        diesel::update(messages::table)
            .filter(messages::tenant_id.eq(message.tenant_id))
            .filter(messages::id.eq(message.id))
            .filter(messages::status.eq(MessageStatus::Sending.as_str()))
            .set((
                messages::status.eq(next.as_str()),
                messages::lease_until.eq(lease_until),
                messages::updated_at.eq(diesel::dsl::now),
            ))
            .execute(conn)
            .await?;
        add_event(conn, &event).await
    })
    .await
}

/// Scheduled messages whose outbox rows were just relayed: `scheduled -> queued`.
/// Runs inside the relay's transaction.
pub(crate) async fn release_scheduled(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> Result<(), DbError> {
    if ids.is_empty() {
        return Ok(());
    }
    let released: Vec<Message> = diesel::update(messages::table)
        .filter(messages::id.eq_any(ids))
        .filter(messages::status.eq(MessageStatus::Scheduled.as_str()))
        .set((
            messages::status.eq(MessageStatus::Queued.as_str()),
            messages::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Message::as_returning())
        .get_results(conn)
        .await?;
    let events: Vec<MessageEvent> = released
        .iter()
        .map(|m| {
            new_event(
                m,
                MessageEventType::Queued,
                serde_json::json!({ "reason": "send_at reached" }),
            )
        })
        .collect();
    diesel::insert_into(message_events::table)
        .values(&events)
        .execute(conn)
        .await?;
    Ok(())
}

/// The tenant's message, its row locked until the transaction ends (cancel and claim
/// serialise on it).
async fn lock(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: MessageId,
) -> Result<Option<Message>, DbError> {
    Ok(messages::table
        .of(tenant)
        .filter(messages::id.eq(id.as_uuid()))
        .select(Message::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?)
}

/// What a cancel request found.
#[derive(Debug)]
pub enum Cancel {
    Cancelled(Box<Message>),
    /// It has gone to the queue (or is going right now), or it is finished.
    TooLate(MessageStatus),
    Missing,
}

/// Cancels a message that has not reached the queue: its outbox row is taken back
/// (unless the relay holds it at this very moment) and the message is `cancelled`.
pub async fn cancel(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: MessageId,
) -> Result<Cancel, DbError> {
    conn.transaction::<_, DbError, _>(async |conn| {
        let message = lock(conn, tenant, id).await?;
        let Some(message) = message else {
            return Ok(Cancel::Missing);
        };
        let status = MessageStatus::parse(&message.status).ok_or_else(|| {
            DbError::Corrupt(format!("message {id} has status '{}'", message.status))
        })?;
        let pending: Option<Uuid> = outbox::table
            .of(tenant)
            .filter(outbox::message_id.eq(id.as_uuid()))
            .select(outbox::id)
            .for_update()
            .skip_locked()
            .first(conn)
            .await
            .optional()?;
        let (Some(row), MessageStatus::Scheduled | MessageStatus::Queued) = (pending, status)
        else {
            return Ok(Cancel::TooLate(status));
        };
        diesel::delete(outbox::table.filter(outbox::id.eq(row)))
            .execute(conn)
            .await?;
        let cancelled = diesel::update(messages::table.filter(messages::id.eq(message.id)))
            .set((
                messages::status.eq(MessageStatus::Cancelled.as_str()),
                messages::updated_at.eq(diesel::dsl::now),
            ))
            .returning(Message::as_returning())
            .get_result(conn)
            .await?;
        add_event(
            conn,
            &new_event(
                &cancelled,
                MessageEventType::Cancelled,
                serde_json::json!({}),
            ),
        )
        .await?;
        Ok(Cancel::Cancelled(Box::new(cancelled)))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_minted_at_or_after_a_time_sort_at_or_after_its_first_id() {
        let at = Utc::now();
        let bound = first_id_minted_at(at);
        let millis = u64::try_from(at.timestamp_millis()).unwrap();
        let same_millisecond =
            uuid::Builder::from_unix_timestamp_millis(millis, &[0xff; 10]).into_uuid();
        let one_before =
            uuid::Builder::from_unix_timestamp_millis(millis - 1, &[0xff; 10]).into_uuid();
        assert!(same_millisecond >= bound);
        assert!(one_before < bound);
        assert!(Uuid::now_v7() >= bound);
        // Uuid's order is byte order, as Postgres's.
        assert_eq!(
            same_millisecond.as_bytes().cmp(bound.as_bytes()),
            same_millisecond.cmp(&bound)
        );
    }

    #[test]
    fn times_outside_the_v7_range_give_the_first_and_last_ids() {
        let before_epoch = DateTime::<Utc>::from_timestamp(-10, 0).unwrap();
        assert_eq!(first_id_minted_at(before_epoch).as_bytes()[..6], [0; 6]);
        let far = DateTime::<Utc>::from_timestamp(300_000_000_000, 0).unwrap();
        assert_eq!(first_id_minted_at(far).as_bytes()[..6], [0xff; 6]);
    }
}
