//! Inbound SMS: stored in its conversation by the webhook listener, then acted on once
//! by inbound processing.
//!
//! Routing is the one step without a tenant: the provider knows our number, not our
//! tenants. The tenant is the number's owner (`sender_numbers`), the shop one of that
//! tenant's shops sending from it; everything after is scoped by that tenant.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use nudge_domain::{
    ConversationId, Envelope, InboundMessageId, InboundSmsV1, MessageKind, PhoneNumber, ShopId,
    TenantId,
};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::models::{Conversation, Customer, InboundMessage, OutboxRow, SenderNumber, Shop};
use crate::schema::{conversations, inbound_messages, messages, outbox, shops};
use crate::scope::OfTenant;
use crate::DbError;

/// The logical queue of inbound SMS.
pub const INBOUND_SMS_QUEUE: &str = "inbound-sms";

/// An SMS as the provider posted it (already signature-checked and parsed).
pub struct ReceivedSms<'a> {
    pub provider_sid: &'a str,
    pub from: &'a PhoneNumber,
    /// The shop's number: E.164 or a short code.
    pub to: &'a str,
    pub body: &'a str,
    pub num_media: i32,
    pub traceparent: Option<String>,
    /// The account whose token signed the webhook (`None`: the platform's). Only the
    /// account `to` lives in may report texts to it.
    pub signed_by: Option<Uuid>,
}

/// What storing an inbound SMS did.
#[derive(Debug)]
pub enum Stored {
    /// Stored and queued for processing.
    New {
        inbound: Box<InboundMessage>,
        conversation: Box<Conversation>,
    },
    /// The provider retried a webhook we already have.
    Duplicate,
    /// The number it was sent to is nobody's, or no shop of its owner sends from it.
    UnknownNumber,
    /// Signed by an account the number does not live in: nothing stored.
    WrongAccount,
}

/// Stores an inbound SMS: its customer (created if the shop does not know the number),
/// its conversation, the message, its `inbound_sms.v1` outbox row and its
/// `message.received` event, all in one transaction.
pub async fn store(conn: &mut AsyncPgConnection, sms: ReceivedSms<'_>) -> Result<Stored, DbError> {
    let result = conn
        .transaction::<_, DbError, _>(async |conn| {
            let known: Option<Uuid> = inbound_messages::table
                .filter(inbound_messages::provider_sid.eq(sms.provider_sid))
                .select(inbound_messages::id)
                .first(conn)
                .await
                .optional()?;
            if known.is_some() {
                return Ok(Stored::Duplicate);
            }
            let Some(number) = crate::sender_numbers::find(conn, sms.to).await? else {
                return Ok(Stored::UnknownNumber);
            };
            if number.account_id != sms.signed_by {
                return Ok(Stored::WrongAccount);
            }
            let Some(shop) = route(conn, &number, sms.from).await? else {
                return Ok(Stored::UnknownNumber);
            };
            let tenant = TenantId::from_uuid(shop.tenant_id);
            // A sandbox tenant's verification code, texted back from the number it is
            // verifying (docs/tenancy.md); the text is stored as any other.
            crate::verified_numbers::confirm_by_text(conn, tenant, sms.from, sms.body).await?;
            let customer = crate::customers::ensure(
                conn,
                tenant,
                ShopId::from_uuid(shop.id),
                sms.from.as_str(),
            )
            .await?;
            let conversation = open_conversation(conn, &shop, &customer).await?;
            let inbound = diesel::insert_into(inbound_messages::table)
                .values(&InboundMessage {
                    id: InboundMessageId::new().as_uuid(),
                    tenant_id: shop.tenant_id,
                    conversation_id: conversation.id,
                    provider_sid: sms.provider_sid.to_owned(),
                    from_number: sms.from.to_string(),
                    to_number: sms.to.to_owned(),
                    body: sms.body.to_owned(),
                    num_media: sms.num_media,
                    received_at: Utc::now(),
                    processed_at: None,
                    outcome: None,
                    outcome_detail: json!({}),
                })
                .returning(InboundMessage::as_returning())
                .get_result(conn)
                .await?;
            let envelope = Envelope::new(
                tenant,
                InboundSmsV1 {
                    inbound_message_id: InboundMessageId::from_uuid(inbound.id),
                    conversation_id: ConversationId::from_uuid(conversation.id),
                    shop_id: ShopId::from_uuid(shop.id),
                    from: sms.from.clone(),
                },
            );
            let raw = envelope
                .to_raw()
                .map_err(|e| DbError::Corrupt(format!("envelope: {e}")))?;
            diesel::insert_into(outbox::table)
                .values(&OutboxRow {
                    id: envelope.id,
                    tenant_id: shop.tenant_id,
                    queue: INBOUND_SMS_QUEUE.to_owned(),
                    message_type: InboundSmsV1::TYPE.to_owned(),
                    body: serde_json::to_value(raw)
                        .map_err(|e| DbError::Corrupt(format!("envelope: {e}")))?,
                    traceparent: sms.traceparent.clone(),
                    created_at: inbound.received_at,
                    attempts: 0,
                    last_error: None,
                    available_at: inbound.received_at,
                    message_id: None,
                })
                .execute(conn)
                .await?;
            crate::webhooks::emit(
                conn,
                tenant,
                shop.id,
                "message.received",
                received_event(&inbound, &conversation),
            )
            .await?;
            Ok(Stored::New {
                inbound: Box::new(inbound),
                conversation: Box::new(conversation),
            })
        })
        .await;
    match result {
        // Two deliveries of the same webhook at once: the second loses the race on
        // the unique sid, and is a duplicate.
        Err(DbError::Conflict(constraint)) if constraint.contains("provider_sid") => {
            Ok(Stored::Duplicate)
        }
        other => other,
    }
}

/// The shop a text to `to` belongs to: the number's owner decides the tenant, never
/// who wrote to `from` last (a tenant could otherwise name another's number and catch
/// its customers' replies and STOPs). Should several of the owner's shops send from the
/// number, the one that last wrote to `from` gets the reply, else the oldest.
async fn route(
    conn: &mut AsyncPgConnection,
    to: &SenderNumber,
    from: &PhoneNumber,
) -> Result<Option<Shop>, DbError> {
    let owner = TenantId::from_uuid(to.tenant_id);
    let candidates: Vec<Shop> = shops::table
        .of(owner)
        .filter(shops::sender_number.eq(&to.number))
        .select(Shop::as_select())
        .order((shops::created_at.asc(), shops::id.asc()))
        .load(conn)
        .await?;
    if candidates.len() <= 1 {
        return Ok(candidates.into_iter().next());
    }
    let ids: Vec<Uuid> = candidates.iter().map(|s| s.id).collect();
    let last_writer: Option<Uuid> = messages::table
        .of(owner)
        .filter(messages::shop_id.eq_any(&ids))
        .filter(messages::to_number.eq(from.as_str()))
        .order(messages::id.desc())
        .select(messages::shop_id)
        .first(conn)
        .await
        .optional()?;
    let chosen = last_writer.unwrap_or(candidates[0].id);
    Ok(candidates.into_iter().find(|shop| shop.id == chosen))
}

async fn open_conversation(
    conn: &mut AsyncPgConnection,
    shop: &Shop,
    customer: &Customer,
) -> Result<Conversation, DbError> {
    let now = Utc::now();
    Ok(diesel::insert_into(conversations::table)
        .values(&Conversation {
            id: ConversationId::new().as_uuid(),
            tenant_id: shop.tenant_id,
            shop_id: shop.id,
            customer_id: customer.id,
            phone: customer.phone.clone(),
            needs_human: false,
            handoff_reason: None,
            handed_off_at: None,
            last_inbound_at: Some(now),
            created_at: now,
            updated_at: now,
        })
        .on_conflict((conversations::shop_id, conversations::customer_id))
        .do_update()
        .set((
            conversations::last_inbound_at.eq(now),
            conversations::updated_at.eq(now),
        ))
        .returning(Conversation::as_returning())
        .get_result(conn)
        .await?)
}

/// The `data` of a `message.received` event.
pub fn received_event(inbound: &InboundMessage, conversation: &Conversation) -> Value {
    json!({
        "inbound_message_id": inbound.id,
        "conversation_id": conversation.id,
        "shop_id": conversation.shop_id,
        "customer_id": conversation.customer_id,
        "from": inbound.from_number,
        "to": inbound.to_number,
        "body": inbound.body,
        "received_at": inbound.received_at,
    })
}

/// Everything inbound processing needs about one inbound message.
pub struct Context {
    pub inbound: InboundMessage,
    pub conversation: Conversation,
    pub shop: Shop,
    pub customer: Customer,
}

/// Loads an inbound message with its conversation, shop and customer; `None` if the
/// tenant has no such message (deleted with its customer, or a forged queue message).
pub async fn load(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: InboundMessageId,
) -> Result<Option<Context>, DbError> {
    use crate::schema::customers;
    let found: Option<(InboundMessage, Conversation)> = inbound_messages::table
        .of(tenant)
        .inner_join(
            conversations::table.on(conversations::id
                .eq(inbound_messages::conversation_id)
                .and(conversations::tenant_id.eq(inbound_messages::tenant_id))),
        )
        .filter(inbound_messages::id.eq(id.as_uuid()))
        .select((InboundMessage::as_select(), Conversation::as_select()))
        .first(conn)
        .await
        .optional()?;
    let Some((inbound, conversation)) = found else {
        return Ok(None);
    };
    let shop: Shop = shops::table
        .of(tenant)
        .filter(shops::id.eq(conversation.shop_id))
        .select(Shop::as_select())
        .first(conn)
        .await?;
    let customer: Customer = customers::table
        .of(tenant)
        .filter(customers::id.eq(conversation.customer_id))
        .select(Customer::as_select())
        .first(conn)
        .await?;
    Ok(Some(Context {
        inbound,
        conversation,
        shop,
        customer,
    }))
}

/// Inside the transaction that acts on an inbound message: marks it processed with its
/// outcome. `false` if it already was (a redelivery, or another worker got there
/// first); the caller then rolls back and does nothing. The update locks the row, so
/// two workers on the same message take turns.
pub async fn mark_processed(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: InboundMessageId,
    outcome: &str,
    detail: Value,
) -> Result<bool, DbError> {
    let updated = diesel::update(inbound_messages::table.of(tenant))
        .filter(inbound_messages::id.eq(id.as_uuid()))
        .filter(inbound_messages::processed_at.is_null())
        .set((
            inbound_messages::processed_at.eq(diesel::dsl::now),
            inbound_messages::outcome.eq(outcome),
            inbound_messages::outcome_detail.eq(detail),
        ))
        .execute(conn)
        .await?;
    Ok(updated > 0)
}
