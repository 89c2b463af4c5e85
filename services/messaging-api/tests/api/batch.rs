//! `POST /v1/messages/batch`: one result per item, partial success, up to 1,000 items.

use serde_json::{json, Value};

use crate::helpers::{error_fields, problem, spawn_app};

#[tokio::test]
async fn each_item_is_accepted_or_refused_on_its_own() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let shop_id = shop["id"].as_str().unwrap();
    let opted_out = app.create_customer(shop_id, "+14155550199").await;
    app.post(
        &format!(
            "/v1/customers/{}/consent",
            opted_out["id"].as_str().unwrap()
        ),
        &json!({"state": "opted_out"}),
    )
    .await;
    let intruder_shop = {
        let intruder = app.other_tenant().await;
        app.request(reqwest::Method::POST, "/v1/shops", &intruder)
            .json(&json!({"name": "Theirs", "sender_number": "+15017122669"}))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let item = |to: &str| json!({"shop_id": shop_id, "to": to, "body": "Your order shipped", "category": "transactional"});
    let batch = json!({"messages": [
        item("+14155550100"),
        item("555-0100"),
        {"shop_id": shop_id, "customer_id": opted_out["id"], "body": "x", "category": "transactional"},
        {"shop_id": intruder_shop["id"], "to": "+14155550101", "body": "x", "category": "transactional"},
        {"shop_id": shop_id, "to": 42},
        item("+14155550102"),
    ]});
    let response = app.post("/v1/messages/batch", &batch).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (body["accepted"].as_u64(), body["refused"].as_u64()),
        (Some(2), Some(4))
    );
    let results = body["results"].as_array().unwrap();
    let statuses: Vec<u64> = results
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, vec![202, 422, 422, 422, 422, 202]);
    assert_eq!(results[1]["problem"]["errors"][0]["field"], "to");
    assert_eq!(
        results[2]["problem"]["type"],
        "https://nudge.dev/problems/recipient-opted-out"
    );
    assert_eq!(
        results[3]["problem"]["errors"][0]["field"], "shop_id",
        "another tenant's shop is no shop"
    );
    assert_eq!(results[4]["problem"]["errors"][0]["field"], "to");
    assert_eq!(results[0]["message"]["status"], "queued");
    assert_eq!(app.stored_messages().await.0, 2);
    let (envelope, _) = app.next_outbound(std::time::Duration::from_secs(15)).await;
    assert_eq!(envelope["type"], "outbound_sms.v1");
}

#[tokio::test]
async fn a_batch_holds_one_to_a_thousand_items() {
    let app = spawn_app().await;
    let empty = problem(
        app.post("/v1/messages/batch", &json!({"messages": []}))
            .await,
        422,
    )
    .await;
    assert_eq!(error_fields(&empty), vec!["messages"]);
    let too_many: Vec<Value> = (0..1001).map(|_| json!({})).collect();
    let refused = problem(
        app.post("/v1/messages/batch", &json!({"messages": too_many}))
            .await,
        422,
    )
    .await;
    assert_eq!(error_fields(&refused), vec!["messages"]);
    assert_eq!(app.stored_messages().await, (0, 0));
}

#[tokio::test]
async fn a_batch_stops_at_the_daily_cap_item_by_item_and_stores_what_it_answered() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    crate::limits::set_limits(&app, None, Some(3)).await;
    let item = |to: &str| json!({"shop_id": shop["id"], "to": to, "body": "Your order shipped", "category": "transactional"});
    assert_eq!(
        app.post("/v1/messages", &item("+14155550100"))
            .await
            .status(),
        202
    );
    let batch = json!({"messages": [
        item("+14155550101"),
        {"shop_id": shop["id"], "to": "not a number", "body": "x"},
        item("+14155550102"),
        item("+14155550103"),
    ]});
    let body: Value = app
        .post("/v1/messages/batch", &batch)
        .await
        .json()
        .await
        .unwrap();
    let statuses: Vec<u64> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, vec![202, 422, 202, 429], "{body}");
    assert_eq!(
        body["results"][3]["problem"]["type"],
        "https://nudge.dev/problems/daily-message-cap-reached"
    );
    // What the answer says was accepted is stored, with its first event.
    assert_eq!(app.stored_messages().await.0, 3);
    let id = body["results"][2]["message"]["id"].as_str().unwrap();
    let shown = app.message(id).await;
    assert_eq!(
        shown["created_at"],
        body["results"][2]["message"]["created_at"]
    );
    assert_eq!(shown["events"][0]["type"], "queued", "{shown}");
}
