//! Auth, and create/list/show/update/delete of shops, customers and templates.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{error_fields, problem, spawn_app};

#[tokio::test]
async fn requests_without_a_valid_key_are_401_problems() {
    let app = spawn_app().await;
    let no_key = app
        .client
        .get(format!("{}/v1/shops", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(no_key.headers()["www-authenticate"], "Bearer");
    let body = problem(no_key, 401).await;
    insta::assert_json_snapshot!("unauthorized_problem", body);

    let wrong_key = app
        .request(Method::GET, "/v1/shops", "nudge_not-a-real-key")
        .send()
        .await
        .unwrap();
    problem(wrong_key, 401).await;
    let wrong_scheme = app
        .client
        .get(format!("{}/v1/shops", app.address))
        .header("Authorization", format!("Basic {}", app.api_key))
        .send()
        .await
        .unwrap();
    problem(wrong_scheme, 401).await;
}

#[tokio::test]
async fn the_api_key_is_stored_only_as_a_hash() {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use nudge_db::schema::api_keys;
    let app = spawn_app().await;
    let mut conn = app.db.connect().await;
    let (prefix, hash): (String, String) = api_keys::table
        .select((api_keys::prefix, api_keys::key_hash))
        .first(&mut conn)
        .await
        .unwrap();
    assert!(app.api_key.starts_with(&prefix));
    assert_ne!(hash, app.api_key);
    assert!(!hash.contains(&app.api_key[prefix.len()..]));
    assert_eq!(hash, nudge_db::tenants::hash_key(&app.api_key));
}

#[tokio::test]
async fn shops_crud() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let id = shop["id"].as_str().unwrap();
    assert_eq!(shop["sender_number"], "+15017122661");
    assert_eq!(shop["time_zone"], "Europe/Paris");

    let fetched: Value = app
        .get(&format!("/v1/shops/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched["name"], "XYZ Bags");

    let patched = app
        .request(Method::PATCH, &format!("/v1/shops/{id}"), &app.api_key)
        .json(&json!({"name": "XYZ Bags & Co", "time_zone": "Asia/Kolkata"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(patched["name"], "XYZ Bags & Co");
    assert_eq!(patched["time_zone"], "Asia/Kolkata");
    assert_eq!(patched["sender_number"], "+15017122661");

    let bad = app
        .request(Method::PATCH, &format!("/v1/shops/{id}"), &app.api_key)
        .json(&json!({"time_zone": "Mars/Olympus", "sender_number": "12"}))
        .send()
        .await
        .unwrap();
    let body = problem(bad, 422).await;
    assert_eq!(error_fields(&body), vec!["sender_number", "time_zone"]);
    let unchanged: Value = app
        .get(&format!("/v1/shops/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(unchanged["time_zone"], "Asia/Kolkata");

    let deleted = app
        .request(Method::DELETE, &format!("/v1/shops/{id}"), &app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    problem(app.get(&format!("/v1/shops/{id}")).await, 404).await;
    problem(app.get("/v1/shops/not-a-uuid").await, 404).await;
}

#[tokio::test]
async fn a_shop_with_messages_cannot_be_deleted() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let id = shop["id"].as_str().unwrap();
    let sent = app
        .post(
            "/v1/messages",
            &json!({"shop_id": id, "to": "+14155550100", "body": "Hello", "category": "transactional"}),
        )
        .await;
    assert_eq!(sent.status(), 202);
    let refused = app
        .request(Method::DELETE, &format!("/v1/shops/{id}"), &app.api_key)
        .send()
        .await
        .unwrap();
    problem(refused, 409).await;
    assert_eq!(app.get(&format!("/v1/shops/{id}")).await.status(), 200);
}

#[tokio::test]
async fn lists_are_cursor_paginated_newest_first() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let response = app
            .post(
                "/v1/templates",
                &json!({"name": format!("t{n}"), "body": "Hi {{name}}"}),
            )
            .await;
        ids.push(
            response.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut path = "/v1/templates?limit=2".to_owned();
    loop {
        let page: Value = app.get(&path).await.json().await.unwrap();
        for item in page["data"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/templates?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ids);

    let bad = problem(app.get("/v1/templates?limit=500&cursor=%21%21").await, 422).await;
    assert_eq!(error_fields(&bad), vec!["limit", "cursor"]);
}

#[tokio::test]
async fn customers_crud_and_one_per_shop_and_phone() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let shop_id = shop["id"].as_str().unwrap();
    let customer = app.create_customer(shop_id, "+1 (415) 555-0100").await;
    let id = customer["id"].as_str().unwrap();
    assert_eq!(customer["phone"], "+14155550100");
    assert_eq!(customer["attributes"]["tier"], "gold");

    let duplicate = app
        .post(
            "/v1/customers",
            &json!({"shop_id": shop_id, "phone": "+14155550100"}),
        )
        .await;
    problem(duplicate, 409).await;

    let patched: Value = app
        .request(Method::PATCH, &format!("/v1/customers/{id}"), &app.api_key)
        .json(&json!({"name": null, "attributes": {"tier": "silver"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(patched["name"], Value::Null);
    assert_eq!(patched["attributes"]["tier"], "silver");

    let listed: Value = app
        .get(&format!("/v1/customers?shop_id={shop_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);

    let bad = app
        .post(
            "/v1/customers",
            &json!({"shop_id": "nope", "phone": "555", "attributes": []}),
        )
        .await;
    let body = problem(bad, 422).await;
    assert_eq!(error_fields(&body), vec!["attributes"]);

    let bad = app
        .post("/v1/customers", &json!({"shop_id": "nope", "phone": "555"}))
        .await;
    let body = problem(bad, 422).await;
    assert_eq!(error_fields(&body), vec!["phone", "shop_id"]);

    let deleted = app
        .request(Method::DELETE, &format!("/v1/customers/{id}"), &app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    problem(app.get(&format!("/v1/customers/{id}")).await, 404).await;
}

#[tokio::test]
async fn templates_are_parsed_and_unique_by_name() {
    let app = spawn_app().await;
    let template = app
        .create_template("cart", "Hi {{ first_name }}, code {{code}}")
        .await;
    assert_eq!(template["variables"], json!(["code", "first_name"]));
    problem(
        app.post("/v1/templates", &json!({"name": "cart", "body": "x"}))
            .await,
        409,
    )
    .await;

    let unclosed = problem(
        app.post("/v1/templates", &json!({"name": "b", "body": "Hi {{name"}))
            .await,
        422,
    )
    .await;
    assert_eq!(error_fields(&unclosed), vec!["body"]);
    assert!(unclosed["errors"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("never closed"));

    let wrong_type = problem(
        app.post("/v1/templates", &json!({"name": 7, "body": "x"}))
            .await,
        422,
    )
    .await;
    assert_eq!(error_fields(&wrong_type), vec!["name"]);

    let not_json = app
        .request(Method::POST, "/v1/templates", &app.api_key)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    problem(not_json, 400).await;
    let not_json_type = app
        .request(Method::POST, "/v1/templates", &app.api_key)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    problem(not_json_type, 415).await;
}
