//! Consent: marketing needs an opt-in, nothing goes to an opted-out customer, and every
//! change is in the customer's ledger.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{error_fields, problem, spawn_app};

#[tokio::test]
async fn consent_decides_what_may_be_sent_and_refusals_store_nothing() {
    let app = spawn_app().await;
    let shop_id = app.create_shop().await["id"].as_str().unwrap().to_owned();
    let unknown: Value = app
        .post(
            "/v1/customers",
            &json!({"shop_id": shop_id, "phone": "+14155550111"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(unknown["consent"], "unknown");
    let send = |customer: &Value, category: &str| json!({"shop_id": shop_id, "customer_id": customer["id"], "body": "Hi", "category": category});

    // Unknown consent: transactional yes, marketing no.
    let refused = problem(
        app.post("/v1/messages", &send(&unknown, "marketing")).await,
        422,
    )
    .await;
    assert_eq!(
        refused["type"],
        "https://nudge.dev/problems/consent-required"
    );
    assert_eq!(app.stored_counts().await, (0, 0, 0));
    assert_eq!(
        app.post("/v1/messages", &send(&unknown, "transactional"))
            .await
            .status(),
        202
    );
    // A literal body is marketing unless declared otherwise.
    let undeclared = json!({"shop_id": shop_id, "to": "+14155550199", "body": "Sale!"});
    problem(app.post("/v1/messages", &undeclared).await, 422).await;

    // Opted out: nothing at all.
    let id = unknown["id"].as_str().unwrap();
    let opted_out = app
        .post(
            &format!("/v1/customers/{id}/consent"),
            &json!({"state": "opted_out", "evidence": {"channel": "email"}}),
        )
        .await;
    assert_eq!(opted_out.status(), 201);
    let before = app.stored_messages().await;
    for category in ["marketing", "transactional"] {
        let refused = problem(
            app.post("/v1/messages", &send(&unknown, category)).await,
            422,
        )
        .await;
        assert_eq!(
            refused["type"],
            "https://nudge.dev/problems/recipient-opted-out"
        );
    }
    // Also when addressed by phone number.
    let by_phone = json!({"shop_id": shop_id, "to": "+14155550111", "body": "Hi", "category": "transactional"});
    problem(app.post("/v1/messages", &by_phone).await, 422).await;
    assert_eq!(app.stored_messages().await, before);

    // Opted in: marketing goes.
    let opted_in = app.create_customer(&shop_id, "+14155550122").await;
    assert_eq!(opted_in["consent"], "opted_in");
    let sent: Value = app
        .post("/v1/messages", &send(&opted_in, "marketing"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sent["status"], "queued");
    assert_eq!(sent["category"], "marketing");
}

#[tokio::test]
async fn every_consent_change_is_in_the_ledger() {
    let app = spawn_app().await;
    let shop_id = app.create_shop().await["id"].as_str().unwrap().to_owned();
    let customer = app.create_customer(&shop_id, "+14155550100").await;
    let id = customer["id"].as_str().unwrap();
    let path = format!("/v1/customers/{id}/consent");

    let changed: Value = app
        .post(
            &path,
            &json!({"state": "opted_out", "source": "import", "evidence": {"list": "legacy.csv"}}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(changed["consent"], "opted_out");

    let ledger: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(ledger["state"], "opted_out");
    let entries = ledger["data"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(
        (entries[0]["state"].as_str(), entries[0]["source"].as_str()),
        (Some("opted_out"), Some("import"))
    );
    assert_eq!(entries[0]["evidence"]["list"], "legacy.csv");
    assert_eq!(
        (entries[1]["state"].as_str(), entries[1]["source"].as_str()),
        (Some("opted_in"), Some("api"))
    );
    assert_eq!(entries[1]["evidence"]["form"], "checkout");

    let bad = problem(
        app.post(&path, &json!({"state": "maybe", "source": "keyword"}))
            .await,
        422,
    )
    .await;
    assert_eq!(error_fields(&bad), vec!["consent.state", "consent.source"]);
    let after: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(after["data"].as_array().unwrap().len(), 2);

    // Another tenant can neither read nor change it.
    let intruder = app.other_tenant().await;
    let read = app
        .request(Method::GET, &path, &intruder)
        .send()
        .await
        .unwrap();
    problem(read, 404).await;
    let write = app
        .request(Method::POST, &path, &intruder)
        .json(&json!({"state": "opted_in"}))
        .send()
        .await
        .unwrap();
    problem(write, 404).await;
    let unchanged: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(unchanged["state"], "opted_out");
}

#[tokio::test]
async fn the_category_comes_from_the_template_unless_the_send_says_otherwise() {
    let app = spawn_app().await;
    let shop_id = app.create_shop().await["id"].as_str().unwrap().to_owned();
    let shipped = app
        .post(
            "/v1/templates",
            &json!({"name": "shipped", "body": "Your order {{order}} has shipped", "category": "transactional"}),
        )
        .await;
    assert_eq!(
        shipped.json::<Value>().await.unwrap()["category"],
        "transactional"
    );
    let to_stranger = json!({"shop_id": shop_id, "to": "+14155550100", "template": "shipped", "data": {"order": "#1001"}});
    let sent: Value = app
        .post("/v1/messages", &to_stranger)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sent["category"], "transactional");

    let mut as_marketing = to_stranger.clone();
    as_marketing["category"] = json!("marketing");
    problem(app.post("/v1/messages", &as_marketing).await, 422).await;
    as_marketing["category"] = json!("promo");
    let bad = problem(app.post("/v1/messages", &as_marketing).await, 422).await;
    assert_eq!(error_fields(&bad), vec!["category"]);
}
