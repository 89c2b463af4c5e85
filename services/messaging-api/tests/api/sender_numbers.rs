//! Sender numbers are owned, never declared: a shop may send only from its tenant's
//! numbers, and a tenant cannot tell another tenant's number from nobody's.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{problem, spawn_app, OTHER_NUMBER, SHOP_NUMBER, SPARE_NUMBER};

/// What a refusal says, without what differs between any two requests.
fn refusal(mut body: Value) -> Value {
    body.as_object_mut().unwrap().remove("instance");
    body
}

#[tokio::test]
async fn another_tenants_number_is_refused_exactly_as_a_number_nobody_owns() {
    let app = spawn_app().await;
    let a_shop = app.create_shop().await;
    let intruder = app.other_tenant().await;
    let as_b = |method: Method, path: &str, body: Value| {
        app.request(method, path, &intruder).json(&body).send()
    };

    let theirs = as_b(
        Method::POST,
        "/v1/shops",
        json!({"name": "Totally XYZ Bags", "sender_number": SHOP_NUMBER}),
    )
    .await
    .unwrap();
    let theirs = refusal(problem(theirs, 422).await);
    let nobodys = as_b(
        Method::POST,
        "/v1/shops",
        json!({"name": "Totally XYZ Bags", "sender_number": "+15550001234"}),
    )
    .await
    .unwrap();
    let nobodys = refusal(problem(nobodys, 422).await);
    assert_eq!(
        theirs, nobodys,
        "the refusal must not tell who owns a number"
    );
    assert_eq!(theirs["errors"][0]["field"], "sender_number", "{theirs}");

    // B's own shop, on B's own number, is fine; moving it onto A's number is not.
    let b_shop: Value = as_b(
        Method::POST,
        "/v1/shops",
        json!({"name": "B's shop", "sender_number": OTHER_NUMBER}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let path = format!("/v1/shops/{}", b_shop["id"].as_str().unwrap());
    let moved = as_b(Method::PATCH, &path, json!({"sender_number": SHOP_NUMBER}))
        .await
        .unwrap();
    assert_eq!(refusal(problem(moved, 422).await), nobodys);
    let unchanged: Value = app
        .request(Method::GET, &path, &intruder)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(unchanged["sender_number"], OTHER_NUMBER);

    // A may move its shop between its own numbers.
    let a_path = format!("/v1/shops/{}", a_shop["id"].as_str().unwrap());
    let response = app
        .request(Method::PATCH, &a_path, &app.api_key)
        .json(&json!({"sender_number": SPARE_NUMBER}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = app
        .request(Method::PATCH, &a_path, &app.api_key)
        .json(&json!({"sender_number": OTHER_NUMBER}))
        .send()
        .await
        .unwrap();
    problem(response, 422).await;
}

#[tokio::test]
async fn a_tenant_lists_its_own_numbers_with_the_shops_that_use_them() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let listed: Value = app.get("/v1/sender-numbers").await.json().await.unwrap();
    let numbers: Vec<(&str, Vec<Value>)> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["number"].as_str().unwrap(),
                n["shop_ids"].as_array().unwrap().clone(),
            )
        })
        .collect();
    assert_eq!(
        numbers,
        vec![
            (SHOP_NUMBER, vec![shop["id"].clone()]),
            (SPARE_NUMBER, vec![]),
        ]
    );
}

#[tokio::test]
async fn an_operator_gives_a_number_to_one_tenant_and_takes_it_back_only_when_unused() {
    let app = spawn_app().await;
    let mut conn = app.db.connect().await;
    let tenant: nudge_domain::TenantId = app.tenant_id.parse().unwrap();
    let other = {
        let created = messaging_api::admin::create_tenant(&mut conn, "Other", &[], true)
            .await
            .unwrap();
        let created: Value = serde_json::from_str(&created).unwrap();
        created["tenant_id"]
            .as_str()
            .unwrap()
            .parse::<nudge_domain::TenantId>()
            .unwrap()
    };
    use messaging_api::admin::numbers;

    // A number is one tenant's: giving it to another is refused, again to its owner a no-op.
    let refused = numbers::add(&mut conn, other, SHOP_NUMBER)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("already belongs"), "{refused}");
    let again: Value =
        serde_json::from_str(&numbers::add(&mut conn, tenant, SHOP_NUMBER).await.unwrap()).unwrap();
    assert_eq!(again["added"], false);
    assert!(numbers::add(&mut conn, other, "555-1234").await.is_err());
    let refused =
        messaging_api::admin::create_tenant(&mut conn, "Copycat", &[SHOP_NUMBER.into()], true)
            .await
            .unwrap_err();
    assert!(refused.to_string().contains("already belongs"), "{refused}");
    let tenants: i64 = {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        nudge_db::schema::tenants::table
            .count()
            .get_result(&mut conn)
            .await
            .unwrap()
    };
    assert_eq!(tenants, 2, "the refused tenant was not created");

    // In use by a shop: kept. Once the shop moves: removed, and free for another tenant.
    let shop = app.create_shop().await;
    let refused = numbers::remove(&mut conn, SHOP_NUMBER).await.unwrap_err();
    assert!(refused.to_string().contains("1 shop"), "{refused}");
    let response = app
        .request(
            Method::PATCH,
            &format!("/v1/shops/{}", shop["id"].as_str().unwrap()),
            &app.api_key,
        )
        .json(&json!({"sender_number": SPARE_NUMBER}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    numbers::remove(&mut conn, SHOP_NUMBER).await.unwrap();
    assert!(numbers::remove(&mut conn, SHOP_NUMBER).await.is_err());
    numbers::add(&mut conn, other, SHOP_NUMBER).await.unwrap();
    let listed = numbers::list(&mut conn, Some(other)).await.unwrap();
    assert!(listed.contains(SHOP_NUMBER), "{listed}");
    let listed = numbers::list(&mut conn, Some(tenant)).await.unwrap();
    assert!(!listed.contains(SHOP_NUMBER), "{listed}");
}

#[tokio::test]
async fn a_number_with_messages_waiting_to_go_is_not_taken_away() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let shop_id = shop["id"].as_str().unwrap();
    let response = app
        .post(
            "/v1/messages",
            &json!({"shop_id": shop_id, "to": "+14155550100", "body": "Your order shipped",
                    "category": "transactional",
                    "send_at": (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339()}),
        )
        .await;
    assert_eq!(response.status(), 202);
    let response = app
        .request(Method::PATCH, &format!("/v1/shops/{shop_id}"), &app.api_key)
        .json(&json!({"sender_number": SPARE_NUMBER}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut conn = app.db.connect().await;
    let refused = messaging_api::admin::numbers::remove(&mut conn, SHOP_NUMBER)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("waiting"), "{refused}");
}
