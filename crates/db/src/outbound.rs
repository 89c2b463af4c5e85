//! Building an outbound message and the outbox row that announces it. Every path that
//! sends (the API, campaigns, inbound processing's answers, care agents) goes through
//! [`prepare`], so every message is encoded, counted and enveloped the same way.

use chrono::{DateTime, SubsecRound, Utc};
use nudge_domain::{
    count_segments, smart_encode, Envelope, MessageCategory, MessageId, MessageKind, MessageOrigin,
    MessageStatus, OutboundSmsV1, PhoneNumber, ShopId, TenantId,
};
use uuid::Uuid;

use crate::models::{Message, OutboxRow, Shop};
use crate::outbox::OUTBOUND_SMS_QUEUE;
use crate::DbError;

/// One message to one recipient, its policy already applied (consent, quiet hours).
pub struct NewOutbound<'a> {
    pub shop: &'a Shop,
    pub to: &'a PhoneNumber,
    pub customer_id: Option<Uuid>,
    pub template_id: Option<Uuid>,
    /// The rendered text; look-alike characters are replaced here when the shop asks.
    pub body: String,
    pub category: MessageCategory,
    /// `Some`: stored `scheduled` and relayed at that time.
    pub send_at: Option<DateTime<Utc>>,
    pub campaign_id: Option<Uuid>,
    pub origin: MessageOrigin,
    pub in_reply_to: Option<Uuid>,
    /// An image (MMS), already checked to be the tenant's.
    pub media_id: Option<Uuid>,
    pub traceparent: Option<String>,
}

/// The message row and its outbox row, ready for `messages::insert_accepted*`.
///
/// Times are cut to microseconds, as Postgres stores them: the set-based inserts
/// (batches, campaign pages, group commit) answer with these rows without reading them
/// back, and a send's answer must show what a later `GET` shows.
pub fn prepare(
    tenant: TenantId,
    mut new: NewOutbound<'_>,
    now: DateTime<Utc>,
) -> Result<(Message, OutboxRow), DbError> {
    let now = now.trunc_subsecs(6);
    new.send_at = new.send_at.map(|at| at.trunc_subsecs(6));
    let body = if new.shop.smart_encoding {
        smart_encode(&new.body).into_owned()
    } else {
        new.body
    };
    let from_number =
        new.shop.sender_number.clone().ok_or_else(|| {
            DbError::Corrupt(format!("shop {} has no sender number", new.shop.id))
        })?;
    let segments = count_segments(&body);
    let message_id = MessageId::new();
    let envelope = Envelope::new(
        tenant,
        OutboundSmsV1 {
            message_id,
            shop_id: ShopId::from_uuid(new.shop.id),
            to: new.to.clone(),
        },
    );
    let status = if new.send_at.is_some() {
        MessageStatus::Scheduled
    } else {
        MessageStatus::Queued
    };
    let message = Message {
        id: message_id.as_uuid(),
        tenant_id: tenant.as_uuid(),
        shop_id: new.shop.id,
        customer_id: new.customer_id,
        template_id: new.template_id,
        to_number: new.to.to_string(),
        from_number,
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
        category: new.category.as_str().to_owned(),
        send_at: new.send_at,
        campaign_id: new.campaign_id,
        claimed_by: None,
        lease_until: None,
        origin: new.origin.as_str().to_owned(),
        in_reply_to: new.in_reply_to,
        media_id: new.media_id,
    };
    let raw = envelope
        .to_raw()
        .map_err(|e| DbError::Corrupt(format!("envelope: {e}")))?;
    let outbox_row = OutboxRow {
        id: envelope.id,
        tenant_id: tenant.as_uuid(),
        queue: OUTBOUND_SMS_QUEUE.to_owned(),
        message_type: OutboundSmsV1::TYPE.to_owned(),
        body: serde_json::to_value(raw).map_err(|e| DbError::Corrupt(format!("envelope: {e}")))?,
        traceparent: new.traceparent,
        created_at: now,
        attempts: 0,
        last_error: None,
        // The schedule: the relay takes the row when it becomes available.
        available_at: new.send_at.unwrap_or(now),
        message_id: Some(message_id.as_uuid()),
    };
    Ok((message, outbox_row))
}
