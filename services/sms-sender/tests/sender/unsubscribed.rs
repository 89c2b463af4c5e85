//! Twilio's 21610 ("attempt to send to unsubscribed recipient") means the recipient
//! texted STOP to the sender number at the provider. The message fails, and the
//! opt-out goes into the consent ledger so that later sends are refused up front.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nudge_db::models::{ConsentEvent, Customer};
use nudge_db::schema::{consent_events, customers};
use nudge_queue::Disposition;

use crate::helpers::{received, twilio_refuses, Harness};

#[tokio::test]
async fn an_unsubscribed_recipient_is_opted_out_in_the_ledger_and_not_tried_again() {
    let harness = Harness::new(3, 3).await;
    twilio_refuses(400, 21610, "Attempt to send to unsubscribed recipient")
        .expect(1)
        .mount(&harness.twilio)
        .await;
    // A number the shop never registered as a customer (a transactional send).
    let (first, envelope) = harness
        .queued_message("+14155550177", "Your order shipped")
        .await;
    assert_eq!(
        harness.sender.process(&received(envelope, 1)).await,
        Disposition::Delete
    );
    let failed = harness.message(first).await;
    assert_eq!(failed.status, "failed");
    assert_eq!(failed.error_code, Some(21610));

    let mut conn = harness.db.connect().await;
    let customer: Customer = customers::table
        .filter(customers::tenant_id.eq(harness.tenant.as_uuid()))
        .filter(customers::phone.eq("+14155550177"))
        .select(Customer::as_select())
        .first(&mut conn)
        .await
        .unwrap();
    assert_eq!(customer.consent, "opted_out");
    let ledger: Vec<ConsentEvent> = consent_events::table
        .filter(consent_events::customer_id.eq(customer.id))
        .select(ConsentEvent::as_select())
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].source, "provider");
    assert_eq!(ledger[0].state, "opted_out");
    assert_eq!(ledger[0].evidence["error_code"], 21610);
    assert_eq!(ledger[0].evidence["message_id"], first.to_string());

    // The next message to that number never reaches Twilio (`expect(1)` above).
    let (second, envelope) = harness
        .queued_message("+14155550177", "Your order was delivered")
        .await;
    assert_eq!(
        harness.sender.process(&received(envelope, 1)).await,
        Disposition::Delete
    );
    assert_eq!(harness.message(second).await.status, "cancelled");
}

#[tokio::test]
async fn other_permanent_errors_leave_consent_alone() {
    let harness = Harness::new(3, 3).await;
    twilio_refuses(400, 21211, "Invalid 'To' Phone Number")
        .mount(&harness.twilio)
        .await;
    let (id, envelope) = harness.queued_message("+14155550178", "x").await;
    harness.sender.process(&received(envelope, 1)).await;
    assert_eq!(harness.message(id).await.status, "failed");
    let mut conn = harness.db.connect().await;
    let opted_out: i64 = customers::table
        .filter(customers::tenant_id.eq(harness.tenant.as_uuid()))
        .filter(customers::consent.eq("opted_out"))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(opted_out, 0);
}
