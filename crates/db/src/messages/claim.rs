//! Claiming messages for sending: `queued -> sending` under a lease, re-checking at
//! the moment of sending what may have changed since the API accepted a message (the
//! recipient's consent and, for marketing, quiet hours).
//!
//! A sender claims the messages it has in hand together, in ONE transaction: the claim
//! must be on disk before the provider is called (or a crash could send twice), and
//! that commit's wait for the disk, paid once for many messages, is most of what a
//! claim costs. Rows are locked in id order, so two senders claiming overlapping sets
//! (a redelivered queue message) cannot deadlock: one waits, then sees the other's
//! claim.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use nudge_domain::{
    recipient_zone, Consent, ConsentRefusal, Envelope, MessageCategory, MessageEventType,
    MessageId, MessageKind, MessageStatus, OutboundSmsV1, PhoneNumber, QuietHours, ShopId,
    TenantId,
};
use uuid::Uuid;

use super::{add_event, new_event};
use crate::models::{Message, MessageEvent, OutboxRow, Shop};
use crate::schema::{customers, message_events, messages, outbox, shops};
use crate::DbError;

/// What a sender found when it tried to claim a message.
#[derive(Debug)]
pub enum Claim {
    /// It is ours to send: it was `queued` and is now `sending`.
    Claimed(Box<Message>),
    /// It was `sending` under an expired lease (its worker died mid-send): it is now
    /// leased to us, and the caller must ask the provider whether it already has it
    /// before sending (see `docs/ARCHITECTURE.md`).
    TakenOver(Box<Message>),
    /// Another worker is sending it and its lease runs until `lease_until`.
    InFlight { lease_until: DateTime<Utc> },
    /// It is neither `queued` nor `sending`: sent, failed, cancelled or scheduled.
    NotQueued(MessageStatus),
    /// The recipient's consent no longer allows it (a STOP that arrived after the
    /// message was accepted wins): it is now `cancelled`, with the reason.
    Withdrawn(ConsentRefusal),
    /// Marketing that would now land inside the recipient's quiet hours (it waited in
    /// the queue, or for retries): `scheduled` again until `until`, with a new outbox row.
    Held { until: DateTime<Utc> },
    /// No such message for that tenant.
    Missing,
}

/// Who claims a message for sending, and for how long they answer for it. The lease
/// must outlast a provider call (its timeout) by a margin.
#[derive(Debug, Clone, Copy)]
pub struct Lease<'a> {
    pub worker: &'a str,
    pub duration: chrono::Duration,
}

/// One message's claim (see [`claim_many`]).
pub async fn claim(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: MessageId,
    lease: &Lease<'_>,
) -> Result<Claim, DbError> {
    claim_many(conn, &[(tenant, id)], lease)
        .await?
        .pop()
        .unwrap_or(Ok(Claim::Missing))
}

/// Claims each of `items` (a tenant's message), answering for each in order: moves
/// `queued -> sending` after re-checking consent and quiet hours, takes over a
/// `sending` message whose lease expired, and says why not otherwise. The rows are
/// locked for the checks and the moves, so of two workers holding the same
/// (redelivered) queue message exactly one sends it, and a concurrent cancel or
/// consent change is either before or after, never between.
///
/// A message whose row makes no sense (an unknown status, its shop gone) is an `Err`
/// of its own and changes nothing; the others are still claimed. The outer `Err` is
/// the database's: nothing was claimed.
pub async fn claim_many(
    conn: &mut AsyncPgConnection,
    items: &[(TenantId, MessageId)],
    lease: &Lease<'_>,
) -> Result<Vec<Result<Claim, DbError>>, DbError> {
    if items.is_empty() {
        return Ok(Vec::new());
    }
    conn.transaction::<_, DbError, _>(async |conn| {
        let locked = lock_all(conn, items).await?;
        let context = Context::load(conn, locked.values()).await?;
        let now = Utc::now();
        let mut answers = Vec::with_capacity(items.len());
        let mut to_claim = Vec::new();
        let mut seen = HashSet::new();
        for (tenant, id) in items {
            let Some(message) = locked
                .get(&id.as_uuid())
                .filter(|m| m.tenant_id == tenant.as_uuid())
            else {
                answers.push(Some(Ok(Claim::Missing)));
                continue;
            };
            if !seen.insert(message.id) {
                // The same message twice in one batch: the first delivery handles it.
                let lease_until = now + lease.duration;
                answers.push(Some(Ok(Claim::InFlight { lease_until })));
                continue;
            }
            let answer = match decide(message, &context, now) {
                Err(corrupt) => Some(Err(corrupt)),
                Ok(Decision::Claim) => {
                    to_claim.push(message.id);
                    None
                }
                Ok(Decision::Answer(claim)) => Some(Ok(claim)),
                Ok(Decision::TakeOver) => Some(Ok(take_over(conn, message, lease).await?)),
                Ok(Decision::Withdraw(refusal)) => {
                    withdraw(conn, message, refusal).await?;
                    Some(Ok(Claim::Withdrawn(refusal)))
                }
                Ok(Decision::Hold { to, until, zone }) => {
                    hold(conn, message, to, until, &zone).await?;
                    Some(Ok(Claim::Held { until }))
                }
            };
            answers.push(answer);
        }
        let mut claimed = claim_all(conn, &to_claim, lease).await?;
        Ok(items
            .iter()
            .zip(answers)
            .map(|((_, id), answer)| {
                answer.unwrap_or_else(|| {
                    claimed
                        .remove(&id.as_uuid())
                        .map(|m| Claim::Claimed(Box::new(m)))
                        .ok_or_else(|| DbError::Corrupt(format!("message {id}: not claimed")))
                })
            })
            .collect())
    })
    .await
}

/// The tenants' messages among `items`, their rows locked (in id order) until the
/// transaction ends: claims and cancels serialise on them.
async fn lock_all(
    conn: &mut AsyncPgConnection,
    items: &[(TenantId, MessageId)],
) -> Result<HashMap<Uuid, Message>, DbError> {
    let tenants: Vec<Uuid> = items.iter().map(|(t, _)| t.as_uuid()).collect();
    let ids: Vec<Uuid> = items.iter().map(|(_, id)| id.as_uuid()).collect();
    let rows: Vec<Message> = messages::table
        .filter(messages::tenant_id.eq_any(&tenants))
        .filter(messages::id.eq_any(&ids))
        .order(messages::id)
        .select(Message::as_select())
        .for_update()
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(|m| (m.id, m)).collect())
}

/// What the claim does with one locked message.
enum Decision {
    /// Queued, and still allowed now: ours to send.
    Claim,
    /// `sending` under an expired lease: ours to reconcile.
    TakeOver,
    Withdraw(ConsentRefusal),
    Hold {
        to: PhoneNumber,
        until: DateTime<Utc>,
        zone: String,
    },
    /// Nothing to change.
    Answer(Claim),
}

/// Decides without writing; an `Err` is a row that makes no sense.
fn decide(message: &Message, context: &Context, now: DateTime<Utc>) -> Result<Decision, DbError> {
    let corrupt = |what: &str| DbError::Corrupt(format!("message {}: {what}", message.id));
    let status = MessageStatus::parse(&message.status).ok_or_else(|| corrupt("unknown status"))?;
    if status == MessageStatus::Sending {
        return Ok(match message.lease_until.filter(|until| *until > now) {
            Some(lease_until) => Decision::Answer(Claim::InFlight { lease_until }),
            None => Decision::TakeOver,
        });
    }
    if status != MessageStatus::Queued {
        return Ok(Decision::Answer(Claim::NotQueued(status)));
    }
    let category =
        MessageCategory::parse(&message.category).ok_or_else(|| corrupt("unknown category"))?;
    let recipient = context.recipient(message)?;
    if let Err(refusal) = category.permitted_by(recipient.consent) {
        return Ok(Decision::Withdraw(refusal));
    }
    if category == MessageCategory::Marketing {
        let shop = context
            .shops
            .get(&message.shop_id)
            .filter(|shop| shop.tenant_id == message.tenant_id)
            .ok_or_else(|| corrupt("its shop is gone"))?;
        let to = PhoneNumber::parse(&message.to_number).map_err(|e| corrupt(&e.to_string()))?;
        let zone = recipient_zone(recipient.time_zone.as_deref(), &to, &shop.time_zone);
        let quiet = QuietHours {
            start: shop.quiet_hours_start,
            end: shop.quiet_hours_end,
        };
        if let Some(until) = quiet.hold_until(now, zone) {
            let zone = zone.name().to_owned();
            return Ok(Decision::Hold { to, until, zone });
        }
    }
    Ok(Decision::Claim)
}

/// What the checks read, for all the queued messages at once: the customers who may
/// be their recipients, and the shops of the marketing ones.
struct Context {
    /// (id, tenant, shop, phone, consent, time zone)
    customers: Vec<(Uuid, Uuid, Uuid, String, String, Option<String>)>,
    shops: HashMap<Uuid, Shop>,
}

impl Context {
    async fn load<'a>(
        conn: &mut AsyncPgConnection,
        messages: impl Iterator<Item = &'a Message>,
    ) -> Result<Self, DbError> {
        let queued: Vec<&Message> = messages
            .filter(|m| m.status == MessageStatus::Queued.as_str())
            .collect();
        if queued.is_empty() {
            return Ok(Self {
                customers: Vec::new(),
                shops: HashMap::new(),
            });
        }
        let tenants: Vec<Uuid> = queued.iter().map(|m| m.tenant_id).collect();
        let shop_ids: Vec<Uuid> = queued.iter().map(|m| m.shop_id).collect();
        let phones: Vec<&str> = queued.iter().map(|m| m.to_number.as_str()).collect();
        let customer_ids: Vec<Uuid> = queued.iter().filter_map(|m| m.customer_id).collect();
        // A superset (any tenant's shop, phone or id of the batch); `recipient` keeps
        // each message's own.
        let customers = customers::table
            .filter(customers::tenant_id.eq_any(&tenants))
            .filter(customers::shop_id.eq_any(&shop_ids))
            .filter(
                customers::phone
                    .eq_any(&phones)
                    .or(customers::id.eq_any(&customer_ids)),
            )
            .select((
                customers::id,
                customers::tenant_id,
                customers::shop_id,
                customers::phone,
                customers::consent,
                customers::time_zone,
            ))
            .load(conn)
            .await?;
        let marketing_shops: Vec<Uuid> = queued
            .iter()
            .filter(|m| m.category == MessageCategory::Marketing.as_str())
            .map(|m| m.shop_id)
            .collect();
        let shops = if marketing_shops.is_empty() {
            HashMap::new()
        } else {
            shops::table
                .filter(shops::tenant_id.eq_any(&tenants))
                .filter(shops::id.eq_any(&marketing_shops))
                .select(Shop::as_select())
                .load(conn)
                .await?
                .into_iter()
                .map(|shop| (shop.id, shop))
                .collect()
        };
        Ok(Self { customers, shops })
    }

    /// The shop's customer with the message's number, and the customer the message was
    /// addressed to (their number may have changed since): if either opted out, the
    /// recipient has. No customer at all is `unknown` consent (transactional to a raw
    /// number).
    fn recipient(&self, message: &Message) -> Result<RecipientNow, DbError> {
        let mut rows: Vec<_> = self
            .customers
            .iter()
            .filter(|(id, tenant, shop, phone, _, _)| {
                *tenant == message.tenant_id
                    && *shop == message.shop_id
                    && (*phone == message.to_number || Some(*id) == message.customer_id)
            })
            .collect();
        let mut now = RecipientNow {
            consent: Consent::Unknown,
            time_zone: None,
        };
        // The addressed customer first, then the number's owner overrides; opted-out wins.
        rows.sort_by_key(|(id, ..)| Some(*id) != message.customer_id);
        for (_, _, _, _, consent, time_zone) in rows {
            let consent = Consent::parse(consent)
                .ok_or_else(|| DbError::Corrupt(format!("customer consent '{consent}'")))?;
            if now.consent != Consent::OptedOut {
                now.consent = consent;
            }
            if time_zone.is_some() {
                now.time_zone.clone_from(time_zone);
            }
        }
        Ok(now)
    }
}

/// The recipient as they are now.
struct RecipientNow {
    consent: Consent,
    time_zone: Option<String>,
}

/// `queued -> sending` for `ids` (locked, checked), each with its `sending` event.
async fn claim_all(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
    lease: &Lease<'_>,
) -> Result<HashMap<Uuid, Message>, DbError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let claimed: Vec<Message> = diesel::update(messages::table.filter(messages::id.eq_any(ids)))
        .set((
            messages::status.eq(MessageStatus::Sending.as_str()),
            messages::attempts.eq(messages::attempts + 1),
            messages::claimed_by.eq(lease.worker),
            messages::lease_until.eq(Utc::now() + lease.duration),
            messages::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Message::as_returning())
        .get_results(conn)
        .await?;
    let events: Vec<MessageEvent> = claimed
        .iter()
        .map(|m| {
            let detail = serde_json::json!({ "attempt": m.attempts, "worker": lease.worker });
            new_event(m, MessageEventType::Sending, detail)
        })
        .collect();
    diesel::insert_into(message_events::table)
        .values(&events)
        .execute(conn)
        .await?;
    Ok(claimed.into_iter().map(|m| (m.id, m)).collect())
}

/// A `sending` message whose lease expired: leased to us now, to reconcile.
async fn take_over(
    conn: &mut AsyncPgConnection,
    message: &Message,
    lease: &Lease<'_>,
) -> Result<Claim, DbError> {
    let taken = diesel::update(messages::table.filter(messages::id.eq(message.id)))
        .set((
            messages::claimed_by.eq(lease.worker),
            messages::lease_until.eq(Utc::now() + lease.duration),
            messages::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Message::as_returning())
        .get_result(conn)
        .await?;
    let detail = serde_json::json!({
        "previous_worker": message.claimed_by,
        "lease_expired_at": message.lease_until,
        "worker": lease.worker,
    });
    add_event(
        conn,
        &new_event(&taken, MessageEventType::Reconciling, detail),
    )
    .await?;
    Ok(Claim::TakenOver(Box::new(taken)))
}

/// A new attempt at a message taken over and not found at the provider: counted, with
/// its `sending` event, under the lease the take-over holds.
pub async fn attempt_again(
    conn: &mut AsyncPgConnection,
    message: &Message,
    worker: &str,
) -> Result<Message, DbError> {
    conn.transaction::<_, DbError, _>(async |conn| {
        let again = diesel::update(messages::table)
            .filter(messages::tenant_id.eq(message.tenant_id))
            .filter(messages::id.eq(message.id))
            .filter(messages::status.eq(MessageStatus::Sending.as_str()))
            .set((
                messages::attempts.eq(messages::attempts + 1),
                messages::updated_at.eq(diesel::dsl::now),
            ))
            .returning(Message::as_returning())
            .get_result(conn)
            .await?;
        let detail = serde_json::json!({
            "attempt": again.attempts,
            "worker": worker,
            "reconciled": "not at the provider",
        });
        add_event(conn, &new_event(&again, MessageEventType::Sending, detail)).await?;
        Ok(again)
    })
    .await
}

async fn withdraw(
    conn: &mut AsyncPgConnection,
    message: &Message,
    refusal: ConsentRefusal,
) -> Result<(), DbError> {
    let cancelled = diesel::update(messages::table.filter(messages::id.eq(message.id)))
        .set((
            messages::status.eq(MessageStatus::Cancelled.as_str()),
            messages::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Message::as_returning())
        .get_result(conn)
        .await?;
    let reason = match refusal {
        ConsentRefusal::OptedOut => "recipient_opted_out",
        ConsentRefusal::OptInRequired(_) => "consent_required",
    };
    let detail = serde_json::json!({
        "reason": reason,
        "detail": refusal.to_string(),
        "checked": "at the moment of sending",
    });
    add_event(
        conn,
        &new_event(&cancelled, MessageEventType::Cancelled, detail),
    )
    .await
}

async fn hold(
    conn: &mut AsyncPgConnection,
    message: &Message,
    to: PhoneNumber,
    until: DateTime<Utc>,
    zone: &str,
) -> Result<(), DbError> {
    let held = diesel::update(messages::table.filter(messages::id.eq(message.id)))
        .set((
            messages::status.eq(MessageStatus::Scheduled.as_str()),
            messages::send_at.eq(until),
            messages::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Message::as_returning())
        .get_result(conn)
        .await?;
    let envelope = Envelope::new(
        TenantId::from_uuid(message.tenant_id),
        OutboundSmsV1 {
            message_id: MessageId::from_uuid(message.id),
            shop_id: ShopId::from_uuid(message.shop_id),
            to,
        },
    );
    let body = envelope
        .to_raw()
        .ok()
        .and_then(|raw| serde_json::to_value(raw).ok())
        .ok_or_else(|| DbError::Corrupt(format!("message {}: envelope", message.id)))?;
    let now = Utc::now();
    diesel::insert_into(outbox::table)
        .values(&OutboxRow {
            id: envelope.id,
            tenant_id: message.tenant_id,
            queue: crate::outbox::OUTBOUND_SMS_QUEUE.to_owned(),
            message_type: OutboundSmsV1::TYPE.to_owned(),
            body,
            traceparent: None,
            created_at: now,
            attempts: 0,
            last_error: None,
            available_at: until,
            message_id: Some(message.id),
        })
        .execute(conn)
        .await?;
    let detail = serde_json::json!({
        "send_at": until,
        "reason": "quiet_hours",
        "time_zone": zone,
        "checked": "at the moment of sending",
    });
    add_event(conn, &new_event(&held, MessageEventType::Scheduled, detail)).await
}
