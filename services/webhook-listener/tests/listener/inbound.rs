//! Inbound SMS: stored in a conversation, queued, and acted on once: STOP/START/HELP
//! first, then the shop's bot, with its answers queued on outbound-sms.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nudge_db::schema::{consent_events, conversations, inbound_messages};
use nudge_domain::{Consent, ConsentRefusal};
use serde_json::json;

use crate::helpers::{spawn_app, SHOP_NUMBER};

const CUSTOMER: &str = "+14155550123";

#[tokio::test]
async fn an_inbound_sms_is_stored_once_in_a_conversation_and_queued() {
    let app = spawn_app().await;
    let (tenant, shop) = app.shop().await;
    let (sid, response) = app.inbound(CUSTOMER, "hello there").await;
    assert_eq!(response.status(), 200);
    assert!(response
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/xml"));
    assert_eq!(
        response.text().await.unwrap(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>"
    );
    // Twilio retries: the same sid is stored once.
    assert_eq!(
        app.inbound_with_sid(&sid, CUSTOMER, "hello there")
            .await
            .status(),
        200
    );

    // The customer did not exist: created, consent unknown.
    let customer = app.customer(tenant, shop, CUSTOMER).await;
    assert_eq!(customer.consent, "unknown");
    let mut conn = app.db.connect().await;
    let stored: Vec<(String, uuid::Uuid)> = inbound_messages::table
        .select((inbound_messages::body, inbound_messages::conversation_id))
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].0, "hello there");
    let (conversation_customer, phone): (uuid::Uuid, String) = conversations::table
        .filter(conversations::id.eq(stored[0].1))
        .select((conversations::customer_id, conversations::phone))
        .first(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        (conversation_customer, phone.as_str()),
        (customer.id, CUSTOMER)
    );

    // A second text joins the same conversation.
    let (second, _) = app.inbound(CUSTOMER, "anyone?").await;
    let processed = app.processed(&second).await;
    assert_eq!(processed.conversation_id, stored[0].1);

    // What went through inbound-sms is the envelope, never the text.
    let first = app.processed(&sid).await;
    assert!(first.outcome.is_some());
}

#[tokio::test]
async fn bad_inbound_webhooks_change_nothing() {
    let app = spawn_app().await;
    app.shop().await;
    let sid = format!("SM{}", uuid::Uuid::new_v4().simple());
    let base = |from: &str, to: &str| -> Vec<(String, String)> {
        [
            ("Body", "hi"),
            ("From", from),
            ("MessageSid", sid.as_str()),
            ("To", to),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    };
    // Not signed by the provider: 403.
    let unsigned = app
        .http
        .post(format!("{}/twilio/inbound", app.address))
        .form(&base(CUSTOMER, SHOP_NUMBER))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 403);
    // Signed but unusable: 400 with the reason.
    let bad_from = app
        .post_signed("/twilio/inbound", &base("12", SHOP_NUMBER))
        .await;
    assert_eq!(bad_from.status(), 400);
    assert!(bad_from.text().await.unwrap().contains("From"));
    let mut no_sid = base(CUSTOMER, SHOP_NUMBER);
    no_sid.retain(|(k, _)| k != "MessageSid");
    assert_eq!(
        app.post_signed("/twilio/inbound", &no_sid).await.status(),
        400
    );
    // To a number no shop sends from: answered, not stored.
    let unknown = app
        .post_signed("/twilio/inbound", &base(CUSTOMER, "+15550001111"))
        .await;
    assert_eq!(unknown.status(), 200);

    let mut conn = app.db.connect().await;
    let count: i64 = inbound_messages::table
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(count, 0);
    let depth =
        nudge_queue::SqsQueue::new(app.inbound_queue.client.clone(), &app.inbound_queue.url)
            .depth()
            .await
            .unwrap();
    assert_eq!(depth.visible + depth.in_flight, 0, "nothing was queued");
}

#[tokio::test]
async fn stop_opts_out_confirms_once_and_wins_over_a_message_already_queued() {
    let app = spawn_app().await;
    let (tenant, shop) = app.shop().await;
    // A message accepted before the STOP, still waiting for the sender.
    let mut conn = app.db.connect().await;
    let (message, outbox, envelope) = nudge_testkit::queued_message(
        tenant,
        shop,
        CUSTOMER,
        "Your cart misses you",
        "outbound-sms",
    );
    nudge_db::messages::insert_accepted(&mut conn, &message, &outbox)
        .await
        .unwrap();

    let (sid, _) = app.inbound(CUSTOMER, " Stop ").await;
    let inbound = app.processed(&sid).await;
    assert_eq!(inbound.outcome.as_deref(), Some("opted_out"));
    let customer = app.customer(tenant, shop, CUSTOMER).await;
    assert_eq!(customer.consent, "opted_out");
    let ledger: Vec<(String, serde_json::Value)> = consent_events::table
        .filter(consent_events::customer_id.eq(customer.id))
        .select((consent_events::source, consent_events::evidence))
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].0, "keyword");
    assert_eq!(ledger[0].1["provider_sid"], json!(sid));

    // One confirmation, Twilio's wording, sent whatever the consent.
    let replies = app.replies_to(inbound.id).await;
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(replies[0]
        .body
        .starts_with("You have successfully been unsubscribed"));
    assert_eq!(
        (
            replies[0].category.as_str(),
            replies[0].origin.as_str(),
            replies[0].from_number.as_str()
        ),
        ("compliance", "compliance", SHOP_NUMBER)
    );

    // A second STOP: recorded, no second confirmation.
    let (again, _) = app.inbound(CUSTOMER, "STOP").await;
    let again = app.processed(&again).await;
    assert_eq!(again.outcome_detail["consent_changed"], json!(false));
    assert!(app.replies_to(again.id).await.is_empty());

    // The worker refuses the message accepted before the STOP.
    let lease = nudge_db::messages::Lease {
        worker: "test",
        duration: chrono::Duration::seconds(30),
    };
    let claim = nudge_db::messages::claim(&mut conn, tenant, envelope.payload.message_id, &lease)
        .await
        .unwrap();
    assert!(
        matches!(
            claim,
            nudge_db::messages::Claim::Withdrawn(ConsentRefusal::OptedOut)
        ),
        "{claim:?}"
    );
    // And the confirmation itself is still sendable (compliance ignores the opt-out).
    let claim = nudge_db::messages::claim(
        &mut conn,
        tenant,
        nudge_domain::MessageId::from_uuid(replies[0].id),
        &lease,
    )
    .await
    .unwrap();
    assert!(
        matches!(claim, nudge_db::messages::Claim::Claimed(_)),
        "{claim:?}"
    );
}

#[tokio::test]
async fn start_restores_and_help_answers_with_the_shops_text() {
    let app = spawn_app().await;
    let (tenant, shop) = app.shop().await;
    let (stop, _) = app.inbound(CUSTOMER, "unsubscribe").await;
    app.processed(&stop).await;
    assert_eq!(
        app.customer(tenant, shop, CUSTOMER).await.consent,
        Consent::OptedOut.as_str()
    );

    let (start, _) = app.inbound(CUSTOMER, "start").await;
    let start = app.processed(&start).await;
    assert_eq!(start.outcome.as_deref(), Some("opted_in"));
    assert_eq!(
        app.customer(tenant, shop, CUSTOMER).await.consent,
        "opted_in"
    );
    let replies = app.replies_to(start.id).await;
    assert_eq!(replies.len(), 1);
    assert!(replies[0]
        .body
        .starts_with("You have successfully been re-subscribed"));

    // HELP: Twilio's default, then the shop's own text and word.
    let (help, _) = app.inbound(CUSTOMER, "HELP").await;
    let help = app.processed(&help).await;
    assert_eq!(
        app.replies_to(help.id).await[0].body,
        "Reply STOP to unsubscribe. Msg&Data Rates May Apply."
    );
    {
        use nudge_db::schema::shops;
        let mut conn = app.db.connect().await;
        diesel::update(shops::table.filter(shops::id.eq(shop.as_uuid())))
            .set((
                shops::help_text.eq("XYZ Bags: help at xyz.example/help. Reply STOP to opt out."),
                shops::help_keywords.eq(json!(["AIDE"])),
            ))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let (aide, _) = app.inbound(CUSTOMER, "aide").await;
    let aide = app.processed(&aide).await;
    assert_eq!(aide.outcome.as_deref(), Some("help"));
    assert_eq!(
        app.replies_to(aide.id).await[0].body,
        "XYZ Bags: help at xyz.example/help. Reply STOP to opt out."
    );
}

#[tokio::test]
async fn the_bot_answers_keywords_and_intents_whatever_the_wording() {
    let app = spawn_app().await;
    let (tenant, shop) = app.shop().await;
    let mut conn = app.db.connect().await;
    for (name, keywords, examples, reply) in [
        (
            "order_status",
            json!([]),
            json!(["where is my order"]),
            "Track your order at xyz.example/track",
        ),
        (
            "hours",
            json!(["HOURS"]),
            json!([]),
            "We answer 9am-5pm, Mon-Fri",
        ),
    ] {
        nudge_db::bot_rules::insert(
            &mut conn,
            &nudge_db::models::BotRule {
                id: uuid::Uuid::now_v7(),
                tenant_id: tenant.as_uuid(),
                shop_id: shop.as_uuid(),
                name: name.into(),
                keywords,
                examples,
                reply: Some(reply.into()),
                fulfilment_url: None,
                fulfilment_secret: None,
                priority: 100,
                created_at: chrono::Utc::now(),
                updated_at: chrono::Utc::now(),
            },
        )
        .await
        .unwrap();
    }
    for (text, answer) in [
        (
            "wheres my package??",
            "Track your order at xyz.example/track",
        ),
        ("Where is my order", "Track your order at xyz.example/track"),
        ("hours", "We answer 9am-5pm, Mon-Fri"),
    ] {
        let (sid, _) = app.inbound(CUSTOMER, text).await;
        let inbound = app.processed(&sid).await;
        assert_eq!(inbound.outcome.as_deref(), Some("bot_reply"), "{text}");
        let replies = app.replies_to(inbound.id).await;
        assert_eq!(replies.len(), 1, "{text}");
        assert_eq!(replies[0].body, answer, "{text}");
        assert_eq!(replies[0].origin, "bot");
        assert_eq!(replies[0].status, "queued");
    }
    // The answers reached outbound-sms, for the sender.
    let queued = app
        .eventually("replies relayed to outbound-sms", async || {
            let depth = nudge_queue::SqsQueue::new(
                app.outbound_queue.client.clone(),
                &app.outbound_queue.url,
            )
            .depth()
            .await
            .ok()?;
            (depth.visible >= 3).then_some(depth.visible)
        })
        .await;
    assert_eq!(queued, 3);
}
