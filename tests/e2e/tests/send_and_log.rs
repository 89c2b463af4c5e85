//! The walking skeleton end to end, as separate processes: the real `messaging-api`,
//! `sms-sender`, `webhook-listener` and `provider-sandbox` binaries, a fresh database, a
//! fresh SQS queue on LocalStack. A merchant sends one templated SMS over HTTP and reads
//! its log: queued, sent, then delivered by the provider's signed status callbacks.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

use std::time::Duration;

use nudge_e2e::Stack;
use nudge_testkit::eventually;
use serde_json::{json, Value};

#[tokio::test]
async fn a_templated_sms_goes_from_the_api_through_sqs_to_the_provider_and_into_the_log() {
    let stack = Stack::start("XYZ Bags").await;
    let (api, sandbox, listener_url, key) = (
        stack.api.clone(),
        stack.sandbox.clone(),
        stack.listener.clone(),
        stack.key.clone(),
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let post = |path: &str, body: Value| {
        http.post(format!("{api}{path}"))
            .bearer_auth(&key)
            .json(&body)
            .send()
    };
    let shop: Value = post(
        "/v1/shops",
        json!({"name": "XYZ Bags", "sender_number": "+15017122661", "time_zone": "Asia/Kolkata", "quiet_hours": {"start": "00:00", "end": "00:00"}}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let template = post("/v1/templates", json!({"name": "cart_recovery", "body": "Hi {{customer.name}}, your {{item}} is still in your cart: code {{code}} takes 25% off"}))
        .await.unwrap();
    assert_eq!(template.status(), 201);
    let customer: Value = post(
        "/v1/customers",
        json!({"shop_id": shop["id"], "phone": "+14155550100", "name": "Asha", "consent": {"state": "opted_in", "evidence": {"form": "checkout"}}}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();

    // sms_one(sender, receiver, template, data)
    let accepted = post(
        "/v1/messages",
        json!({"shop_id": shop["id"], "customer_id": customer["id"], "template": "cart_recovery", "data": {"item": "XYZ bag", "code": "COD25"}}),
    )
    .await
    .unwrap();
    assert_eq!(accepted.status(), 202);
    let accepted: Value = accepted.json().await.unwrap();
    let id = accepted["id"].as_str().unwrap().to_owned();
    let expected_body = "Hi Asha, your XYZ bag is still in your cart: code COD25 takes 25% off";
    assert_eq!(accepted["body"], expected_body);

    // show_log()
    // The sandbox reports sent, then delivered, to the listener, signed as Twilio signs.
    let message = eventually(
        "the message to be delivered",
        Duration::from_secs(60),
        || async {
            let message: Value = http
                .get(format!("{api}/v1/messages/{id}"))
                .bearer_auth(&key)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (message["status"] == "delivered").then_some(message)
        },
    )
    .await;
    let events: Vec<&str> = message["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        vec![
            "queued",
            "sending",
            "sent",
            "provider_status",
            "provider_status"
        ]
    );
    let reported: Vec<&str> = message["events"].as_array().unwrap()[3..]
        .iter()
        .map(|e| e["detail"]["provider_status"].as_str().unwrap())
        .collect();
    assert_eq!(reported, vec!["sent", "delivered"]);
    let log: Value = http
        .get(format!("{api}/v1/messages"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log["data"][0]["id"], id.as_str());
    assert_eq!(log["data"][0]["status"], "delivered");

    // The provider got exactly that message, once, with a status callback to the listener.
    let recorded: Value = http
        .get(format!("{sandbox}/sandbox/messages"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let recorded = recorded["messages"].as_array().unwrap();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["to"], "+14155550100");
    assert_eq!(recorded[0]["from"], "+15017122661");
    assert_eq!(recorded[0]["body"], expected_body);
    assert_eq!(
        recorded[0]["status_callback"],
        format!("{listener_url}/twilio/status")
    );
    assert_eq!(recorded[0]["sid"], message["provider_sid"]);

    // The sender counted it, and says so on /metrics.
    let metrics = http
        .get(&stack.sender_metrics)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l == "nudge_sender_messages_total{outcome=\"sent\",error_code=\"\"} 1"),
        "{metrics}"
    );

    // Asha replies; the shop's bot answers, through the same pipeline.
    let rule = post(
        "/v1/bot-rules",
        json!({"shop_id": shop["id"], "name": "order_status", "examples": ["where is my order"],
               "reply": "Your XYZ bag ships tomorrow: xyz.example/t/1042"}),
    )
    .await
    .unwrap();
    assert_eq!(rule.status(), 201);
    let text = |body: &'static str| {
        http.post(format!("{sandbox}/sandbox/inbound"))
            .json(&json!({"from": "+14155550100", "to": "+15017122661", "body": body}))
            .send()
    };
    let injected: Value = text("hey, wheres my package?")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(injected["webhook_status"], 200, "{injected}");
    let thread = eventually(
        "the bot's answer to be delivered",
        Duration::from_secs(60),
        || async {
            let list: Value = http
                .get(format!("{api}/v1/conversations"))
                .bearer_auth(&key)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let id = list["data"][0]["id"].as_str()?.to_owned();
            let thread: Value = http
                .get(format!("{api}/v1/conversations/{id}"))
                .bearer_auth(&key)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let messages = thread["messages"].as_array()?;
            messages
                .iter()
                .any(|m| m["origin"] == "bot" && m["status"] == "delivered")
                .then_some(thread)
        },
    )
    .await;
    let entries: Vec<(&str, &str)> = thread["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["direction"].as_str().unwrap(),
                m["body"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        vec![
            ("outbound", expected_body),
            ("inbound", "hey, wheres my package?"),
            (
                "outbound",
                "Your XYZ bag ships tomorrow: xyz.example/t/1042"
            ),
        ]
    );

    // STOP: confirmed once (delivered like any message), then the API refuses to send.
    text("STOP").await.unwrap();
    eventually(
        "the opt-out to be confirmed",
        Duration::from_secs(60),
        || async {
            let recorded: Value = http
                .get(format!("{sandbox}/sandbox/messages"))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            recorded["messages"]
                .as_array()?
                .iter()
                .any(|m| {
                    m["body"]
                        .as_str()
                        .is_some_and(|b| b.starts_with("You have successfully been unsubscribed"))
                })
                .then_some(())
        },
    )
    .await;
    let refused = post(
        "/v1/messages",
        json!({"shop_id": shop["id"], "customer_id": customer["id"], "body": "One more deal!", "category": "transactional"}),
    )
    .await
    .unwrap();
    assert_eq!(refused.status(), 422);
    let refused: Value = refused.json().await.unwrap();
    assert!(
        refused["type"]
            .as_str()
            .unwrap()
            .ends_with("recipient-opted-out"),
        "{refused}"
    );
}
