//! One tenant can neither read nor change another's data: every id of another tenant
//! answers 404, as if it did not exist, and nothing of theirs changes.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{error_fields, problem, spawn_app};

#[tokio::test]
async fn another_tenants_resources_are_invisible_and_untouchable() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let shop_id = shop["id"].as_str().unwrap().to_owned();
    let customer = app.create_customer(&shop_id, "+14155550100").await;
    let template = app.create_template("cart", "Hi {{first_name}}").await;
    let message: Value = app
        .post(
            "/v1/messages",
            &json!({"shop_id": shop_id, "to": "+14155550100", "template": "cart", "data": {"first_name": "Asha"}, "category": "transactional"}),
        )
        .await
        .json()
        .await
        .unwrap();

    let intruder = app.other_tenant().await;
    let resources = [
        format!("/v1/shops/{shop_id}"),
        format!("/v1/customers/{}", customer["id"].as_str().unwrap()),
        format!("/v1/templates/{}", template["id"].as_str().unwrap()),
        format!("/v1/messages/{}", message["id"].as_str().unwrap()),
    ];
    for path in &resources {
        let read = app
            .request(Method::GET, path, &intruder)
            .send()
            .await
            .unwrap();
        problem(read, 404).await;
        if !path.starts_with("/v1/messages") {
            let write = app
                .request(Method::PATCH, path, &intruder)
                .json(&json!({"name": "hijacked"}))
                .send()
                .await
                .unwrap();
            problem(write, 404).await;
            let delete = app
                .request(Method::DELETE, path, &intruder)
                .send()
                .await
                .unwrap();
            problem(delete, 404).await;
        }
        // The owner still sees it, unchanged.
        let owned: Value = app.get(path).await.json().await.unwrap();
        assert_ne!(owned["name"], "hijacked", "{path}");
    }
    for list in [
        "/v1/shops",
        "/v1/customers",
        "/v1/templates",
        "/v1/messages",
    ] {
        let page: Value = app
            .request(Method::GET, list, &intruder)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(page["data"], json!([]), "{list}");
    }

    // Nor can the intruder send through the victim's shop, customer or template.
    let before = app.stored_messages().await;
    let send = app
        .request(Method::POST, "/v1/messages", &intruder)
        .json(&json!({"shop_id": shop_id, "customer_id": customer["id"], "template": "cart", "data": {"first_name": "x"}}))
        .send()
        .await
        .unwrap();
    let body = problem(send, 422).await;
    assert_eq!(
        error_fields(&body),
        vec!["shop_id", "customer_id", "template"]
    );
    let customer_in_other_shop = app
        .request(Method::POST, "/v1/customers", &intruder)
        .json(&json!({"shop_id": shop_id, "phone": "+14155550199"}))
        .send()
        .await
        .unwrap();
    problem(customer_in_other_shop, 422).await;
    assert_eq!(app.stored_messages().await, before);
}
