//! What reaches the merchant: bot fulfilment calls, the care hand-off and event
//! webhooks, all signed with Standard Webhooks, retried, logged, and never sent to a
//! target the policy forbids.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nudge_db::models::{BotRule, WebhookAttempt, WebhookDelivery, WebhookEndpoint};
use nudge_db::schema::{conversations, webhook_attempts, webhook_deliveries};
use nudge_domain::{standard_webhooks, ShopId, TenantId};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::{new_endpoint, spawn_app, spawn_app_with, Options, TestApp};

const CUSTOMER: &str = "+14155550123";

async fn endpoint(app: &TestApp, tenant: TenantId, url: &str, events: Value) -> WebhookEndpoint {
    let mut conn = app.db.connect().await;
    nudge_db::webhooks::insert_endpoint(&mut conn, &new_endpoint(tenant, url, events))
        .await
        .unwrap()
        .expect("under the cap")
}

async fn fulfilment_rule(app: &TestApp, tenant: TenantId, shop: ShopId, url: &str) -> BotRule {
    let mut conn = app.db.connect().await;
    nudge_db::bot_rules::insert(
        &mut conn,
        &BotRule {
            id: uuid::Uuid::now_v7(),
            tenant_id: tenant.as_uuid(),
            shop_id: shop.as_uuid(),
            name: "order_status".into(),
            keywords: json!([]),
            examples: json!(["where is my order"]),
            reply: None,
            fulfilment_url: Some(url.into()),
            fulfilment_secret: Some(standard_webhooks::new_secret()),
            priority: 100,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        },
    )
    .await
    .unwrap()
}

/// Checks a received request's Standard Webhooks signature; returns its JSON body.
fn verified(request: &Request, secret: &str) -> Value {
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    };
    standard_webhooks::verify(
        secret,
        &header("webhook-id"),
        header("webhook-timestamp").parse().unwrap(),
        &request.body,
        &header("webhook-signature"),
        chrono::Utc::now().timestamp(),
    )
    .expect("a valid signature");
    serde_json::from_slice(&request.body).unwrap()
}

async fn deliveries(
    app: &TestApp,
    endpoint: uuid::Uuid,
) -> Vec<(WebhookDelivery, Vec<WebhookAttempt>)> {
    let mut conn = app.db.connect().await;
    let rows: Vec<WebhookDelivery> = webhook_deliveries::table
        .filter(webhook_deliveries::endpoint_id.eq(endpoint))
        .select(WebhookDelivery::as_select())
        .order(webhook_deliveries::id.asc())
        .load(&mut conn)
        .await
        .unwrap();
    let mut out = Vec::new();
    for row in rows {
        let attempts: Vec<WebhookAttempt> = webhook_attempts::table
            .filter(webhook_attempts::delivery_id.eq(row.id))
            .select(WebhookAttempt::as_select())
            .order(webhook_attempts::at.asc())
            .load(&mut conn)
            .await
            .unwrap();
        out.push((row, attempts));
    }
    out
}

#[tokio::test]
async fn an_intent_is_fulfilled_by_the_merchants_endpoint() {
    let app = spawn_app().await;
    let (tenant, shop) = app.shop().await;
    let merchant = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/fulfil"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "reply": "Order #1042 left our warehouse today: xyz.example/t/1042"
        })))
        .expect(1)
        .mount(&merchant)
        .await;
    let rule = fulfilment_rule(&app, tenant, shop, &format!("{}/fulfil", merchant.uri())).await;

    let (sid, _) = app.inbound(CUSTOMER, "hey where's my parcel").await;
    let inbound = app.processed(&sid).await;
    assert_eq!(inbound.outcome.as_deref(), Some("fulfilled"));
    let replies = app.replies_to(inbound.id).await;
    assert_eq!(replies.len(), 1);
    assert_eq!(
        replies[0].body,
        "Order #1042 left our warehouse today: xyz.example/t/1042"
    );
    assert_eq!(replies[0].origin, "bot");

    let received = merchant.received_requests().await.unwrap();
    let body = verified(&received[0], rule.fulfilment_secret.as_deref().unwrap());
    assert_eq!(body["type"], "bot.fulfilment");
    assert_eq!(body["intent"], "order_status");
    assert_eq!(body["message"]["body"], "hey where's my parcel");
    assert_eq!(body["conversation"]["phone"], CUSTOMER);
    assert_eq!(
        received[0]
            .headers
            .get("webhook-id")
            .unwrap()
            .to_str()
            .unwrap(),
        inbound.id.to_string()
    );
}

#[tokio::test]
async fn a_failing_fulfilment_hands_the_customer_to_a_person() {
    let app = spawn_app().await;
    let (tenant, shop) = app.shop().await;
    let merchant = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(502))
        .mount(&merchant)
        .await;
    fulfilment_rule(&app, tenant, shop, &format!("{}/fulfil", merchant.uri())).await;
    let (sid, _) = app.inbound(CUSTOMER, "where is my order").await;
    // Tried on three deliveries of the queue message (2 s and 4 s apart), then handed off.
    let mut inbound = None;
    for _ in 0..60 {
        if let Some(found) = try_processed(&app, &sid).await {
            inbound = Some(found);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let inbound = inbound.expect("handed off after the retries");
    assert_eq!(inbound.outcome.as_deref(), Some("handed_off"));
    assert_eq!(inbound.outcome_detail["reason"], "fulfilment_failed");
    assert!(
        inbound.outcome_detail["detail"]
            .as_str()
            .unwrap()
            .contains("502"),
        "{}",
        inbound.outcome_detail
    );
    assert_eq!(merchant.received_requests().await.unwrap().len(), 3);
    assert!(app.replies_to(inbound.id).await.is_empty());
}

async fn try_processed(app: &TestApp, sid: &str) -> Option<nudge_db::models::InboundMessage> {
    use nudge_db::schema::inbound_messages as i;
    let mut conn = app.db.connect().await;
    i::table
        .filter(i::provider_sid.eq(sid))
        .filter(i::processed_at.is_not_null())
        .select(nudge_db::models::InboundMessage::as_select())
        .first(&mut conn)
        .await
        .optional()
        .unwrap()
}

#[tokio::test]
async fn hand_off_reaches_a_care_endpoint_that_fails_twice_then_succeeds() {
    let app = spawn_app().await;
    let (tenant, _shop) = app.shop().await;
    let care = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&care)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .with_priority(2)
        .mount(&care)
        .await;
    let endpoint = endpoint(
        &app,
        tenant,
        &format!("{}/care", care.uri()),
        json!(["conversation.needs_human"]),
    )
    .await;

    let (sid, _) = app.inbound(CUSTOMER, "do you sell gift cards").await;
    let inbound = app.processed(&sid).await;
    assert_eq!(inbound.outcome.as_deref(), Some("handed_off"));
    assert_eq!(inbound.outcome_detail["reason"], "no_rule_matched");
    let mut conn = app.db.connect().await;
    let (needs_human, reason): (bool, Option<String>) = conversations::table
        .filter(conversations::id.eq(inbound.conversation_id))
        .select((conversations::needs_human, conversations::handoff_reason))
        .first(&mut conn)
        .await
        .unwrap();
    assert!(needs_human);
    assert_eq!(reason.as_deref(), Some("no_rule_matched"));

    let (delivery, attempts) = app
        .eventually("the hand-off delivered", async || {
            let mut found = deliveries(&app, endpoint.id).await;
            let (delivery, attempts) = found.pop()?;
            (delivery.status == "delivered").then_some((delivery, attempts))
        })
        .await;
    let statuses: Vec<Option<i32>> = attempts.iter().map(|a| a.response_status).collect();
    assert_eq!(statuses, vec![Some(500), Some(500), Some(204)]);
    assert_eq!(delivery.attempts, 3);
    // Every attempt is the same delivery, signed, with the conversation in it.
    let received = care.received_requests().await.unwrap();
    assert_eq!(received.len(), 3);
    let ids: Vec<String> = received
        .iter()
        .map(|r| {
            r.headers
                .get("webhook-id")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(ids.iter().all(|id| *id == delivery.id.to_string()));
    let body = verified(&received[2], &endpoint.secret);
    assert_eq!(body["type"], "conversation.needs_human");
    assert_eq!(
        body["data"]["conversation_id"],
        json!(inbound.conversation_id)
    );
    assert_eq!(body["data"]["customer"]["phone"], CUSTOMER);
    assert_eq!(
        body["data"]["messages"][0]["body"],
        "do you sell gift cards"
    );

    // While a person has it, the bot keeps quiet and nothing is handed off again.
    let (next, _) = app.inbound(CUSTOMER, "hello?").await;
    let next = app.processed(&next).await;
    assert_eq!(next.outcome.as_deref(), Some("for_agent"));
    assert!(app.replies_to(next.id).await.is_empty());
    assert_eq!(deliveries(&app, endpoint.id).await.len(), 1);
}

#[tokio::test]
async fn asking_for_a_person_hands_off_even_when_a_rule_would_match() {
    let app = spawn_app().await;
    let (tenant, shop) = app.shop().await;
    fulfilment_rule(&app, tenant, shop, "http://127.0.0.1:9/never-called").await;
    let (sid, _) = app
        .inbound(CUSTOMER, "can I talk to a human about my order")
        .await;
    let inbound = app.processed(&sid).await;
    assert_eq!(inbound.outcome_detail["reason"], "asked_for_person");
}

#[tokio::test]
async fn private_targets_are_refused_at_delivery_in_production_mode() {
    let app = spawn_app_with(Options {
        webhook_targets: nudge_domain::TargetPolicy::STRICT,
        retry_delays: vec![1],
        ..Options::default()
    })
    .await;
    let (tenant, _shop) = app.shop().await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    // Saved before the rules changed (or by hand): the dispatcher checks again.
    let local = format!("{}/hook", receiver.uri());
    let port = receiver.address().port();
    let targets = [
        endpoint(&app, tenant, &local, json!(["message.received"])).await,
        endpoint(
            &app,
            tenant,
            &format!("https://127.0.0.1:{port}/hook"),
            json!(["message.received"]),
        )
        .await,
        endpoint(
            &app,
            tenant,
            &format!("https://localhost:{port}/hook"),
            json!(["message.received"]),
        )
        .await,
        endpoint(
            &app,
            tenant,
            "https://169.254.169.254/latest/meta-data",
            json!(["message.received"]),
        )
        .await,
    ];
    app.inbound(CUSTOMER, "hi").await;
    for target in &targets {
        let (delivery, attempts) = app
            .eventually("the delivery gave up", async || {
                let (delivery, attempts) = deliveries(&app, target.id).await.pop()?;
                (delivery.status == "failed").then_some((delivery, attempts))
            })
            .await;
        assert_eq!(attempts.len(), 2, "{}", target.url);
        assert!(attempts.iter().all(|a| a.response_status.is_none()));
        let error = delivery.last_error.unwrap();
        assert!(error.contains("refused"), "{}: {error}", target.url);
    }
    assert!(receiver.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn message_events_follow_the_message() {
    let app = spawn_app().await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let sid = "SM0000000000000000000000000000e001";
    let (tenant, message) = app.sent_message(sid).await;
    let endpoint = endpoint(
        &app,
        tenant,
        &format!("{}/events", receiver.uri()),
        json!(["message.delivered", "message.failed"]),
    )
    .await;
    assert_eq!(
        app.status(sid, "delivered", "token-e001").await.status(),
        200
    );
    let (delivery, _) = app
        .eventually("message.delivered delivered", async || {
            let (delivery, attempts) = deliveries(&app, endpoint.id).await.pop()?;
            (delivery.status == "delivered").then_some((delivery, attempts))
        })
        .await;
    assert_eq!(delivery.event_type, "message.delivered");
    let received = receiver.received_requests().await.unwrap();
    let body = verified(&received[0], &endpoint.secret);
    assert_eq!(body["data"]["message_id"], json!(message.as_uuid()));
    assert_eq!(body["data"]["status"], "delivered");
    // Not subscribed to message.sent (emitted when the sender recorded the sid).
    assert_eq!(deliveries(&app, endpoint.id).await.len(), 1);
}
