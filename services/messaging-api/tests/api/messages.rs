//! Sending one message and reading the log.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{error_fields, problem, spawn_app, TestApp};

async fn setup() -> (TestApp, String) {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    app.create_template(
        "cart",
        "Hi {{first_name}}, your {{item}} is still in your cart: code {{code}} takes 25% off",
    )
    .await;
    (app, shop["id"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_valid_send_is_accepted_rendered_stored_and_enqueued_with_its_trace() {
    let (app, shop_id) = setup().await;
    // An opted-in customer, matched by phone: cart recovery is marketing.
    app.create_customer(&shop_id, "+14155550100").await;
    let response = app
        .post(
            "/v1/messages",
            &json!({
                "shop_id": shop_id,
                "to": "+14155550100",
                "template": "cart",
                "data": {"first_name": "Asha", "item": "XYZ bag", "code": "COD25", "unused": true}
            }),
        )
        .await;
    assert_eq!(response.status(), 202);
    let message: Value = response.json().await.unwrap();
    assert_eq!(message["status"], "queued");
    assert_eq!(
        message["body"],
        "Hi Asha, your XYZ bag is still in your cart: code COD25 takes 25% off"
    );
    assert_eq!(message["from"], "+15017122661");
    assert_eq!(message["to"], "+14155550100");
    assert_eq!(message["segments"], 1);
    assert_eq!(message["encoding"], "gsm7");
    assert_eq!(message["category"], "marketing");
    assert!(message["customer_id"].is_string());
    assert_eq!(message["events"][0]["type"], "queued");
    // The answer is the stored message (it is not read back): what a later GET shows,
    // to the microsecond.
    let id = message["id"].as_str().unwrap();
    let shown = app.message(id).await;
    for field in ["created_at", "updated_at", "status", "body", "segments"] {
        assert_eq!(shown[field], message[field], "{field}");
    }
    assert_eq!(shown["events"][0], message["events"][0]);

    // The relay puts the envelope on the queue, with the request's trace context.
    let (envelope, received) = app.next_outbound(Duration::from_secs(15)).await;
    assert_eq!(envelope["type"], "outbound_sms.v1");
    assert_eq!(envelope["tenant_id"], app.tenant_id.as_str());
    assert_eq!(envelope["payload"]["message_id"], message["id"]);
    assert_eq!(envelope["payload"]["to"], "+14155550100");
    let traceparent = received.message_attributes().unwrap()["traceparent"]
        .string_value()
        .unwrap()
        .to_owned();
    assert!(
        traceparent.len() == 55 && traceparent.starts_with("00-"),
        "not a W3C traceparent: {traceparent}"
    );
    // Relayed rows leave the outbox (the delete commits just after SQS has the message).
    let counts =
        nudge_testkit::eventually("the outbox to drain", Duration::from_secs(10), || async {
            let counts = app.stored_counts().await;
            (counts.2 == 0).then_some(counts)
        })
        .await;
    assert_eq!(counts, (1, 1, 0));
}

#[tokio::test]
async fn a_customer_is_addressed_by_id_and_fills_the_template() {
    let (app, shop_id) = setup().await;
    app.allow_destinations("1,44").await;
    let customer = app.create_customer(&shop_id, "+447700900123").await;
    let response = app
        .post(
            "/v1/messages",
            &json!({"shop_id": shop_id, "customer_id": customer["id"], "body": "Hello {{customer.name}} ({{customer.tier}}) ✨"}),
        )
        .await;
    assert_eq!(response.status(), 202);
    let message: Value = response.json().await.unwrap();
    assert_eq!(message["to"], "+447700900123");
    assert_eq!(message["customer_id"], customer["id"]);
    assert_eq!(message["body"], "Hello Asha (gold) ✨");
    assert_eq!(message["encoding"], "ucs2");
}

#[tokio::test]
async fn bad_sends_are_422_with_every_bad_field_and_store_nothing() {
    let (app, shop_id) = setup().await;
    let cases = [
        (
            json!({"shop_id": 5, "to": "+14155550100", "body": "x"}),
            vec!["shop_id"],
        ),
        (
            json!({"shop_id": shop_id, "to": "415-555-0100", "body": "x"}),
            vec!["to"],
        ),
        (
            json!({"shop_id": shop_id, "to": "+14155550100", "template": "nope"}),
            vec!["template"],
        ),
        (
            json!({"shop_id": shop_id, "to": "+14155550100", "template": "cart", "data": {"first_name": "A"}}),
            vec!["data"],
        ),
        (
            json!({"to": "12", "template": "nope"}),
            vec!["shop_id", "to", "template"],
        ),
        (
            json!({"shop_id": shop_id, "to": "+14155550100", "body": "x", "template": "cart"}),
            vec!["template"],
        ),
        (json!({"shop_id": shop_id, "body": "x"}), vec!["to"]),
        (
            json!({"shop_id": shop_id, "to": "+14155550100", "body": "{{x"}),
            vec!["body"],
        ),
        (
            json!({"shop_id": shop_id, "to": "+14155550100", "body": "x".repeat(1601)}),
            vec!["body"],
        ),
        (
            json!({"shop_id": shop_id, "to": "+14155550100", "body": "x", "colour": "red"}),
            vec!["colour"],
        ),
        (
            json!({"shop_id": shop_id, "to": "+14155550100", "body": "x", "data": [1]}),
            vec!["data"],
        ),
    ];
    for (body, fields) in cases {
        let response = app.post("/v1/messages", &body).await;
        let problem = problem(response, 422).await;
        assert_eq!(error_fields(&problem), fields, "for {body}");
    }
    let missing = problem(
        app.post(
            "/v1/messages",
            &json!({"shop_id": shop_id, "to": "+14155550100", "template": "cart", "data": {"first_name": "A"}}),
        )
        .await,
        422,
    )
    .await;
    insta::assert_json_snapshot!("missing_variable_problem", missing);
    assert_eq!(app.stored_counts().await, (0, 0, 0));
}

#[tokio::test]
async fn the_log_filters_and_pages_newest_first() {
    let (app, shop_id) = setup().await;
    let mut ids = Vec::new();
    for to in ["+14155550101", "+14155550102", "+14155550101"] {
        let message: Value = app
            .post(
                "/v1/messages",
                &json!({"shop_id": shop_id, "to": to, "body": "Hi", "category": "transactional"}),
            )
            .await
            .json()
            .await
            .unwrap();
        ids.push(message["id"].as_str().unwrap().to_owned());
    }
    let ids_of = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let all: Value = app.get("/v1/messages").await.json().await.unwrap();
    assert_eq!(
        ids_of(&all),
        vec![ids[2].clone(), ids[1].clone(), ids[0].clone()]
    );
    assert!(all["data"][0].get("events").is_none());

    let to_101: Value = app
        .get("/v1/messages?to=%2B14155550101")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids_of(&to_101), vec![ids[2].clone(), ids[0].clone()]);
    let queued: Value = app
        .get(&format!("/v1/messages?status=queued&shop_id={shop_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids_of(&queued).len(), 3);
    let sent: Value = app
        .get("/v1/messages?status=sent")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids_of(&sent).len(), 0);
    let future: Value = app
        .get("/v1/messages?since=2999-01-01T00:00:00Z")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids_of(&future).len(), 0);
    let past: Value = app
        .get("/v1/messages?until=2999-01-01T00:00:00Z")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids_of(&past).len(), 3);

    let first: Value = app.get("/v1/messages?limit=2").await.json().await.unwrap();
    assert_eq!(ids_of(&first), vec![ids[2].clone(), ids[1].clone()]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = app
        .get(&format!("/v1/messages?limit=2&cursor={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids_of(&second), vec![ids[0].clone()]);
    assert_eq!(second["next_cursor"], Value::Null);

    let bad = problem(
        app.get("/v1/messages?status=lost&since=yesterday&to=12")
            .await,
        422,
    )
    .await;
    assert_eq!(error_fields(&bad), vec!["status", "to", "since"]);

    let one: Value = app
        .get(&format!("/v1/messages/{}", ids[0]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["events"].as_array().unwrap().len(), 1);
    assert_eq!(one["events"][0]["type"], "queued");
    assert!(one["events"][0]["at"].as_str().unwrap().ends_with('Z'));
}
