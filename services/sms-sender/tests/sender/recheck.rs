//! What the API checked at acceptance is checked again at the moment of sending: a STOP
//! that arrived after acceptance wins, and marketing that would now land inside the
//! recipient's quiet hours waits for their end.

use chrono::{Duration, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nudge_db::models::Customer;
use nudge_domain::{Consent, ConsentSource, CustomerId};
use nudge_queue::Disposition;
use serde_json::json;

use crate::helpers::{received, twilio_accepts, Harness};

async fn customer(harness: &Harness, phone: &str, consent: Consent) -> Customer {
    let mut conn = harness.db.connect().await;
    let now = Utc::now();
    nudge_db::customers::insert(
        &mut conn,
        &Customer {
            id: CustomerId::new().as_uuid(),
            tenant_id: harness.tenant.as_uuid(),
            shop_id: harness.shop.as_uuid(),
            phone: phone.into(),
            name: None,
            attributes: json!({}),
            created_at: now,
            updated_at: now,
            consent: consent.as_str().into(),
            time_zone: None,
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_stop_recorded_after_acceptance_wins() {
    let harness = Harness::new(3, 3).await;
    twilio_accepts("SMcccccccccccccccccccccccccccccccc")
        .expect(0)
        .mount(&harness.twilio)
        .await;
    let asha = customer(&harness, "+14155550100", Consent::OptedIn).await;
    let (id, envelope) = harness
        .queued_message("+14155550100", "Your order shipped")
        .await;
    // The customer texts STOP while the message waits in the queue.
    let mut conn = harness.db.connect().await;
    nudge_db::consent::record(
        &mut conn,
        harness.tenant,
        CustomerId::from_uuid(asha.id),
        Consent::OptedOut,
        ConsentSource::Keyword,
        json!({"keyword": "STOP"}),
    )
    .await
    .unwrap()
    .unwrap();

    assert_eq!(
        harness.sender.process(&received(envelope, 1)).await,
        Disposition::Delete
    );
    let message = harness.message(id).await;
    assert_eq!(message.status, "cancelled");
    let last = harness.events(id).await.pop().unwrap();
    assert_eq!(last.event_type, "cancelled");
    assert_eq!(last.detail["reason"], "recipient_opted_out");
    // Also for a customer who did not exist when the message was accepted (a STOP
    // from a number the shop only knew as a raw `to`).
    let (id, envelope) = harness
        .queued_message("+14155550199", "Your order shipped")
        .await;
    customer(&harness, "+14155550199", Consent::OptedOut).await;
    harness.sender.process(&received(envelope, 1)).await;
    assert_eq!(harness.message(id).await.status, "cancelled");
}

#[tokio::test]
async fn marketing_that_would_land_in_quiet_hours_now_waits_for_their_end() {
    use nudge_db::schema::{messages, outbox, shops};
    let harness = Harness::new(3, 3).await;
    twilio_accepts("SMdddddddddddddddddddddddddddddddd")
        .expect(0)
        .mount(&harness.twilio)
        .await;
    customer(&harness, "+14155550100", Consent::OptedIn).await;
    let (id, envelope) = harness
        .queued_message("+14155550100", "20% off today")
        .await;
    let mut conn = harness.db.connect().await;
    diesel::update(messages::table.filter(messages::id.eq(id.as_uuid())))
        .set(messages::category.eq("marketing"))
        .execute(&mut conn)
        .await
        .unwrap();
    // The shop's quiet hours start now (UTC shop; +1 415 is multi-zone, so the shop's zone).
    let now = Utc::now();
    diesel::update(shops::table.filter(shops::id.eq(harness.shop.as_uuid())))
        .set((
            shops::quiet_hours_start.eq((now - Duration::minutes(10)).time()),
            shops::quiet_hours_end.eq((now + Duration::minutes(30)).time()),
        ))
        .execute(&mut conn)
        .await
        .unwrap();
    let before: i64 = outbox::table.count().get_result(&mut conn).await.unwrap();

    assert_eq!(
        harness.sender.process(&received(envelope, 1)).await,
        Disposition::Delete
    );
    let message = harness.message(id).await;
    assert_eq!(message.status, "scheduled");
    let until = message.send_at.unwrap();
    assert!(
        until > now + Duration::minutes(29) && until <= now + Duration::minutes(31),
        "{until}"
    );
    let last = harness.events(id).await.pop().unwrap();
    assert_eq!(last.event_type, "scheduled");
    assert_eq!(last.detail["reason"], "quiet_hours");
    // A new outbox row brings it back when the quiet hours end.
    let pending: Vec<(Option<_>, chrono::DateTime<Utc>)> = outbox::table
        .select((outbox::message_id, outbox::available_at))
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(pending.len() as i64, before + 1);
    assert!(pending.contains(&(Some(id.as_uuid()), until)));
}
