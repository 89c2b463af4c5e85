//! Inbound SMS and STOPs find their tenant through the owner of the number they were
//! sent to, never through who wrote to the customer last: the attack of issue 19 (a
//! tenant texting another merchant's customers to catch their replies and STOPs).

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nudge_db::models::ShopChanges;
use nudge_db::schema::inbound_messages;
use nudge_domain::{ShopId, TenantId};

use crate::helpers::{spawn_app, TestApp, SHOP_NUMBER};

const CUSTOMER: &str = "+14155550123";

/// A message of `shop` to `to`, accepted and handed to the provider: `shop` is now
/// the last to have written to `to`.
async fn wrote_to(app: &TestApp, tenant: TenantId, shop: ShopId, from: &str, to: &str) {
    let mut conn = app.db.connect().await;
    let (mut message, outbox, _) =
        nudge_testkit::queued_message(tenant, shop, to, "Hi, it's your shop", "outbound-sms");
    message.from_number = from.to_owned();
    nudge_db::messages::insert_accepted(&mut conn, &message, &outbox)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_reply_and_a_stop_to_a_merchants_number_reach_that_merchant_only() {
    let app = spawn_app().await;
    let (a, a_shop) = app.shop().await;
    let mut conn = app.db.connect().await;
    let (b, b_shop) = nudge_testkit::tenant_with_shop(&mut conn, "intruder").await;
    let b_number = nudge_db::shops::find(&conn, b, b_shop)
        .await
        .unwrap()
        .unwrap()
        .sender_number
        .unwrap();
    assert_ne!(b_number, SHOP_NUMBER);

    // B cannot take A's number, even by going around the API.
    let refused = nudge_db::shops::update(
        &mut conn,
        b,
        b_shop,
        &ShopChanges {
            sender_number: Some(SHOP_NUMBER.into()),
            ..ShopChanges::default()
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&refused, nudge_db::DbError::InUse(c) if c == nudge_db::sender_numbers::OWNED_CONSTRAINT),
        "{refused:?}"
    );

    // A wrote to the customer, then B did (from B's own number) and knows them too.
    wrote_to(&app, a, a_shop, SHOP_NUMBER, CUSTOMER).await;
    wrote_to(&app, b, b_shop, &b_number, CUSTOMER).await;
    nudge_db::customers::ensure(&mut conn, b, b_shop, CUSTOMER)
        .await
        .unwrap();

    // The customer answers A's number: A's conversation, whoever wrote last.
    let (sid, _) = app
        .inbound(CUSTOMER, "is this really you? my card number is ...")
        .await;
    let reply = app.processed(&sid).await;
    assert_eq!(reply.tenant_id, a.as_uuid());
    assert_eq!(reply.to_number, SHOP_NUMBER);

    // STOP to A's number: out of A's shop, B's customer untouched.
    let (stop, _) = app.inbound(CUSTOMER, "STOP").await;
    let stop = app.processed(&stop).await;
    assert_eq!(stop.tenant_id, a.as_uuid());
    assert_eq!(app.customer(a, a_shop, CUSTOMER).await.consent, "opted_out");
    assert_ne!(app.customer(b, b_shop, CUSTOMER).await.consent, "opted_out");
    let b_inbound: i64 = inbound_messages::table
        .filter(inbound_messages::tenant_id.eq(b.as_uuid()))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(b_inbound, 0, "nothing sent to A's number reached B");
}

#[tokio::test]
async fn a_text_to_a_number_nobody_owns_is_stored_nowhere() {
    let app = spawn_app().await;
    let mut conn = app.db.connect().await;
    // A shop's number taken away by an operator once nothing used it: nobody's now.
    let (tenant, shop) = app.shop().await;
    diesel::delete(nudge_db::schema::shops::table)
        .filter(nudge_db::schema::shops::id.eq(shop.as_uuid()))
        .execute(&mut conn)
        .await
        .unwrap();
    nudge_db::sender_numbers::remove(&mut conn, SHOP_NUMBER)
        .await
        .unwrap();
    let (_, response) = app.inbound(CUSTOMER, "hello?").await;
    assert_eq!(response.status(), 200);
    let stored: i64 = inbound_messages::table
        .filter(inbound_messages::tenant_id.eq(tenant.as_uuid()))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(stored, 0);
}
