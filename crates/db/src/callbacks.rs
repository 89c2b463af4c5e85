//! Provider status callbacks (delivery receipts). Each is stored once (a repeat, by sid
//! and status or by Twilio's idempotency token, is recognised by the unique indexes),
//! then applied to the message with that provider sid: its status moves only forward
//! (`nudge_domain::next_status`) and every callback is an event in its timeline.
//!
//! A callback can arrive before the sender has stored the sid (Twilio calls back within
//! milliseconds). It is then kept unmatched, and [`apply_pending`] applies it when
//! `messages::record_sent` stores the sid, in the same transaction.
//!
//! The lookup is by provider sid, not by tenant: the provider does not know tenants.
//! Everything written after it is scoped by the tenant of the message found.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use nudge_domain::{
    next_status, MessageEventType, MessageId, MessageStatus, ProviderStatus, TenantId,
};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::messages::new_event;
use crate::models::Message;
use crate::schema::{message_events, messages, provider_callbacks};
use crate::DbError;

/// A status callback as received.
#[derive(Debug, Clone)]
pub struct NewCallback<'a> {
    pub provider_sid: &'a str,
    pub status: ProviderStatus,
    pub idempotency_token: Option<&'a str>,
    pub error_code: Option<i32>,
    /// The form's parameters, kept for inspection.
    pub params: Value,
    /// The account whose token signed it (`None`: the platform's). Only the account a
    /// message went through may report on it.
    pub signed_by: Option<Uuid>,
}

/// What became of a callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// Seen before: nothing stored, nothing changed.
    Duplicate,
    /// No message has this sid (yet): stored, applied when the sid is recorded.
    Unmatched,
    /// Signed by another account than the one its message went through: nothing
    /// stored, nothing changed.
    WrongAccount,
    /// In the message's timeline; `moved_to` when it changed the message's status.
    Recorded {
        tenant: TenantId,
        message: MessageId,
        moved_to: Option<MessageStatus>,
    },
}

/// Stores a callback and applies it to its message, in one transaction.
pub async fn record(
    conn: &mut AsyncPgConnection,
    callback: &NewCallback<'_>,
) -> Result<CallbackOutcome, DbError> {
    conn.transaction::<_, DbError, _>(async |conn| {
        // Pipelined: the server takes the lock before it reads the row.
        let message = {
            let shared: &AsyncPgConnection = conn;
            let (_, message) =
                futures_util::future::try_join(lock_sid(shared, callback.provider_sid), async {
                    Ok(messages::table
                        .filter(messages::provider_sid.eq(callback.provider_sid))
                        .select(Message::as_select())
                        .for_update()
                        .first(&mut &*shared)
                        .await
                        .optional()?)
                })
                .await?;
            message
        };
        if let Some(message) = &message {
            if account_of(conn, message).await? != callback.signed_by {
                return Ok(CallbackOutcome::WrongAccount);
            }
        }
        let id = Uuid::now_v7();
        let inserted = diesel::insert_into(provider_callbacks::table)
            .values((
                provider_callbacks::id.eq(id),
                provider_callbacks::provider_sid.eq(callback.provider_sid),
                provider_callbacks::provider_status.eq(callback.status.as_str()),
                provider_callbacks::idempotency_token.eq(callback.idempotency_token),
                provider_callbacks::error_code.eq(callback.error_code),
                provider_callbacks::params.eq(&callback.params),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        if inserted == 0 {
            return Ok(CallbackOutcome::Duplicate);
        }
        let Some(message) = message else {
            return Ok(CallbackOutcome::Unmatched);
        };
        apply(conn, id, &message, callback.status, callback.error_code).await
    })
    .await
}

/// The account `message` went through, as its sender number says today (`None`: the
/// platform's).
async fn account_of(
    conn: &mut AsyncPgConnection,
    message: &Message,
) -> Result<Option<Uuid>, DbError> {
    use crate::schema::sender_numbers;
    let account: Option<Option<Uuid>> = sender_numbers::table
        .filter(sender_numbers::number.eq(&message.from_number))
        .filter(sender_numbers::tenant_id.eq(message.tenant_id))
        .select(sender_numbers::account_id)
        .first(conn)
        .await
        .optional()?;
    Ok(account.flatten())
}

/// Serialises, until the transaction ends, everything about one provider sid: a
/// callback's "is the sid known?" and the sender's "store the sid, then apply what
/// waited for it" cannot interleave, so no callback is left unmatched by a race.
pub(crate) async fn lock_sid(conn: &AsyncPgConnection, sid: &str) -> Result<(), DbError> {
    crate::locks::transaction_lock(conn, &sid_lock_key(sid)).await
}

/// [`lock_sid`] for several sids in one statement, in the order given (sort them).
pub(crate) async fn lock_sids(conn: &mut AsyncPgConnection, sids: &[&str]) -> Result<(), DbError> {
    let keys: Vec<String> = sids.iter().map(|sid| sid_lock_key(sid)).collect();
    crate::locks::transaction_locks(conn, &keys).await
}

fn sid_lock_key(sid: &str) -> String {
    format!("sid:{sid}")
}

/// Which of `sids` have callbacks waiting for their message (arrived before the sid
/// was stored).
pub(crate) async fn sids_with_pending(
    conn: &mut AsyncPgConnection,
    sids: &[&str],
) -> Result<std::collections::HashSet<String>, DbError> {
    let found: Vec<String> = provider_callbacks::table
        .filter(provider_callbacks::provider_sid.eq_any(sids))
        .filter(provider_callbacks::message_id.is_null())
        .select(provider_callbacks::provider_sid)
        .distinct()
        .load(conn)
        .await?;
    Ok(found.into_iter().collect())
}

/// Applies the callbacks that arrived for `message`'s sid before it was known, oldest
/// first. Call inside the transaction that stores the sid (after [`lock_sid`]), with
/// the row as stored.
pub(crate) async fn apply_pending(
    conn: &mut AsyncPgConnection,
    message: Message,
) -> Result<(), DbError> {
    let Some(sid) = message.provider_sid.clone() else {
        return Ok(());
    };
    let pending: Vec<(Uuid, String, Option<i32>)> = provider_callbacks::table
        .filter(provider_callbacks::provider_sid.eq(&sid))
        .filter(provider_callbacks::message_id.is_null())
        .order(provider_callbacks::received_at.asc())
        .select((
            provider_callbacks::id,
            provider_callbacks::provider_status,
            provider_callbacks::error_code,
        ))
        .for_update()
        .load(conn)
        .await?;
    let mut message = message;
    for (id, status, error_code) in pending {
        let status = ProviderStatus::parse(&status)
            .ok_or_else(|| DbError::Corrupt(format!("callback {id}: status '{status}'")))?;
        apply(conn, id, &message, status, error_code).await?;
        message = messages::table
            .filter(messages::id.eq(message.id))
            .select(Message::as_select())
            .first(conn)
            .await?;
    }
    Ok(())
}

/// Moves the message forward if the report says so, adds the event, and links the
/// callback to the message.
async fn apply(
    conn: &mut AsyncPgConnection,
    callback_id: Uuid,
    message: &Message,
    reported: ProviderStatus,
    error_code: Option<i32>,
) -> Result<CallbackOutcome, DbError> {
    let current = MessageStatus::parse(&message.status).ok_or_else(|| {
        DbError::Corrupt(format!(
            "message {}: status '{}'",
            message.id, message.status
        ))
    })?;
    let moved_to = next_status(current, reported);
    let merchant_event = moved_to.and_then(crate::webhooks::message_status_event);
    let tenant = TenantId::from_uuid(message.tenant_id);
    let detail = json!({
        "provider_status": reported.as_str(),
        "error_code": error_code,
        "applied": moved_to.is_some(),
        "status_before": current.as_str(),
    });
    let event = new_event(message, MessageEventType::ProviderStatus, detail);
    // The writes and the endpoints' lookup pipelined: one round trip.
    let shared: &AsyncPgConnection = conn;
    let move_forward = async {
        let Some(next) = moved_to else {
            return Ok(0);
        };
        let failed = matches!(next, MessageStatus::Undelivered | MessageStatus::Failed);
        diesel::update(messages::table)
            .filter(messages::tenant_id.eq(message.tenant_id))
            .filter(messages::id.eq(message.id))
            .set((
                messages::status.eq(next.as_str()),
                messages::error_code.eq(if failed {
                    error_code
                } else {
                    message.error_code
                }),
                messages::updated_at.eq(diesel::dsl::now),
            ))
            .execute(&mut &*shared)
            .await
    };
    let endpoints = async {
        match merchant_event {
            Some(event_type) => {
                crate::webhooks::subscribed(shared, tenant, message.shop_id, event_type).await
            }
            None => Ok(Vec::new()),
        }
    };
    let add_event = async {
        Ok::<_, DbError>(
            diesel::insert_into(message_events::table)
                .values(&event)
                .execute(&mut &*shared)
                .await?,
        )
    };
    let link = async {
        Ok::<_, DbError>(
            diesel::update(
                provider_callbacks::table.filter(provider_callbacks::id.eq(callback_id)),
            )
            .set((
                provider_callbacks::tenant_id.eq(message.tenant_id),
                provider_callbacks::message_id.eq(message.id),
                provider_callbacks::applied.eq(moved_to.is_some()),
            ))
            .execute(&mut &*shared)
            .await?,
        )
    };
    let (_, endpoints, _, _) = futures_util::future::try_join4(
        async { Ok::<_, DbError>(move_forward.await?) },
        endpoints,
        add_event,
        link,
    )
    .await?;
    if let (Some(next), Some(event_type)) = (moved_to, merchant_event) {
        crate::webhooks::queue_deliveries(
            conn,
            crate::webhooks::deliveries_of(
                tenant,
                &endpoints,
                event_type,
                crate::webhooks::message_event_data(message, next.as_str(), error_code),
            ),
        )
        .await?;
    }
    Ok(CallbackOutcome::Recorded {
        tenant: TenantId::from_uuid(message.tenant_id),
        message: MessageId::from_uuid(message.id),
        moved_to,
    })
}
