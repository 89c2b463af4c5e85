use chrono::Utc;
use nudge_db::models::{Message, OutboxRow};
use nudge_domain::{
    Envelope, MessageId, MessageKind, OutboundSmsV1, PhoneNumber, ShopId, TenantId,
};

/// A transactional message as the API stores it when accepting a send (`queued`, from
/// +15017122661), with its outbox row carrying the real envelope; for tests and
/// benchmarks that write messages without going through the API.
pub fn queued_message(
    tenant: TenantId,
    shop: ShopId,
    to: &str,
    body: &str,
    queue: &str,
) -> (Message, OutboxRow, Envelope<OutboundSmsV1>) {
    let id = MessageId::new();
    let envelope = Envelope::new(
        tenant,
        OutboundSmsV1 {
            message_id: id,
            shop_id: shop,
            to: PhoneNumber::parse(to).expect("an E.164 number"),
        },
    );
    let now = Utc::now();
    let message = Message {
        id: id.as_uuid(),
        tenant_id: tenant.as_uuid(),
        shop_id: shop.as_uuid(),
        customer_id: None,
        template_id: None,
        to_number: to.into(),
        from_number: "+15017122661".into(),
        body: body.into(),
        segments: 1,
        encoding: "gsm7".into(),
        status: "queued".into(),
        provider_sid: None,
        error_code: None,
        error_message: None,
        attempts: 0,
        created_at: now,
        updated_at: now,
        sent_at: None,
        category: "transactional".into(),
        send_at: None,
        campaign_id: None,
        claimed_by: None,
        lease_until: None,
        origin: "api".into(),
        in_reply_to: None,
        media_id: None,
    };
    let outbox = OutboxRow {
        id: envelope.id,
        tenant_id: tenant.as_uuid(),
        queue: queue.into(),
        message_type: OutboundSmsV1::TYPE.into(),
        body: serde_json::to_value(envelope.to_raw().expect("envelope")).expect("json"),
        traceparent: None,
        created_at: now,
        attempts: 0,
        last_error: None,
        available_at: now,
        message_id: Some(id.as_uuid()),
    };
    (message, outbox, envelope)
}

/// A shop of `tenant` sending from +15017122661 (store it with [`insert_shop`], which
/// gives the tenant its number first), in UTC, with quiet hours off (so that
/// tests do not depend on the time of day) and the default frequency cap.
pub fn shop(tenant: TenantId) -> nudge_db::models::Shop {
    let now = Utc::now();
    nudge_db::models::Shop {
        id: ShopId::new().as_uuid(),
        tenant_id: tenant.as_uuid(),
        name: "XYZ Bags".into(),
        sender_number: Some(SHOP_NUMBER.into()),
        time_zone: "UTC".into(),
        created_at: now,
        updated_at: now,
        marketing_cap_count: 3,
        marketing_cap_window_hours: 24,
        quiet_hours_start: chrono::NaiveTime::MIN,
        quiet_hours_end: chrono::NaiveTime::MIN,
        smart_encoding: false,
        help_text: None,
        opt_out_keywords: serde_json::json!([]),
        opt_in_keywords: serde_json::json!([]),
        help_keywords: serde_json::json!([]),
    }
}

/// `SECRETS_KEYRING` for tests: one key, `test`, that seals tenants' provider tokens.
pub const TEST_KEYRING: &str = "test:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// The number test shops send from, when their tenant is the first to ask for it.
pub const SHOP_NUMBER: &str = "+15017122661";

/// Gives `tenant` a sender number, as an operator does: [`SHOP_NUMBER`] if nobody owns
/// it yet in this database, else a fresh one (numbers are unique across Nudge). Returns
/// the number.
pub async fn give_number(conn: &mut nudge_db::AsyncPgConnection, tenant: TenantId) -> String {
    use nudge_db::sender_numbers::Added;
    let mut candidate = SHOP_NUMBER.to_owned();
    loop {
        let number = PhoneNumber::parse(&candidate).expect("an E.164 number");
        match nudge_db::sender_numbers::add(conn, tenant, &number)
            .await
            .expect("give a sender number")
        {
            Added::Added(row) | Added::AlreadyTheirs(row) => return row.number,
            Added::OwnedByAnother(_) => {
                candidate = format!("+1501{:07}", uuid::Uuid::new_v4().as_u128() % 10_000_000);
            }
            Added::NoSuchTenant => panic!("no tenant {tenant}"),
        }
    }
}

/// A [`shop`] of `tenant`, stored, sending from a number given to the tenant by
/// [`give_number`].
pub async fn insert_shop(
    conn: &mut nudge_db::AsyncPgConnection,
    tenant: TenantId,
) -> nudge_db::models::Shop {
    let number = give_number(conn, tenant).await;
    let shop = nudge_db::models::Shop {
        sender_number: Some(number),
        ..shop(tenant)
    };
    nudge_db::shops::insert(conn, &shop)
        .await
        .expect("create a shop")
}

/// A new tenant (with an API key, approved: out of its sandbox) and a shop of it
/// ([`insert_shop`]), stored.
pub async fn tenant_with_shop(
    conn: &mut nudge_db::AsyncPgConnection,
    name: &str,
) -> (TenantId, ShopId) {
    let tenant = TenantId::from_uuid(
        nudge_db::tenants::create_with_key(conn, name)
            .await
            .expect("create a tenant")
            .tenant
            .id,
    );
    nudge_db::tenants::approve(conn, tenant)
        .await
        .expect("approve the tenant");
    let shop = insert_shop(conn, tenant).await;
    (tenant, ShopId::from_uuid(shop.id))
}

/// A [`queued_message`] of the shop to +14155550100, stored with its outbox row as the
/// API stores an accepted send; its id.
pub async fn accepted_message(
    conn: &mut nudge_db::AsyncPgConnection,
    (tenant, shop): (TenantId, ShopId),
) -> MessageId {
    let (message, outbox, envelope) = queued_message(
        tenant,
        shop,
        "+14155550100",
        "Your bag is waiting",
        "outbound-sms",
    );
    nudge_db::messages::insert_accepted(conn, &message, &outbox)
        .await
        .expect("store an accepted message");
    envelope.payload.message_id
}

/// A status callback's form as Twilio posts it (what the webhook listener receives).
pub fn twilio_status_callback(sid: &str, status: &str) -> Vec<(String, String)> {
    [
        ("AccountSid", "AC11111111111111111111111111111111"),
        ("ApiVersion", "2010-04-01"),
        ("From", "+15017122661"),
        ("MessageSid", sid),
        ("MessageStatus", status),
        ("SmsSid", sid),
        ("SmsStatus", status),
        ("To", "+14155550100"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

/// A customer (`from`) texts the shop whose number is `to`, stored as the webhook
/// listener stores it: customer, conversation, inbound message, its `inbound-sms`
/// outbox row. Returns the stored message and its conversation.
pub async fn customer_texts(
    conn: &mut nudge_db::AsyncPgConnection,
    sid: &str,
    from: &str,
    to: &str,
    body: &str,
) -> (
    nudge_db::models::InboundMessage,
    nudge_db::models::Conversation,
) {
    let from = PhoneNumber::parse(from).expect("an E.164 number");
    let stored = nudge_db::inbound::store(
        conn,
        nudge_db::inbound::ReceivedSms {
            provider_sid: sid,
            from: &from,
            to,
            body,
            num_media: 0,
            traceparent: None,
            signed_by: None,
        },
    )
    .await
    .expect("store the inbound SMS");
    match stored {
        nudge_db::inbound::Stored::New {
            inbound,
            conversation,
        } => (*inbound, *conversation),
        other => panic!("not stored: {other:?}"),
    }
}
