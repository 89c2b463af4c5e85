//! API keys: shown once, listed by prefix, revoked from the next request on.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{problem, spawn_app};

#[tokio::test]
async fn keys_are_created_listed_by_prefix_and_revoked_at_once() {
    let app = spawn_app().await;
    let created = app
        .post("/v1/api-keys", &json!({"name": "warehouse"}))
        .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let new_key = created["key"].as_str().unwrap().to_owned();
    assert!(new_key.starts_with(created["prefix"].as_str().unwrap()));
    assert_eq!(created["name"], "warehouse");

    // The new key works.
    let with_new = app
        .request(Method::GET, "/v1/shops", &new_key)
        .send()
        .await
        .unwrap();
    assert_eq!(with_new.status(), 200);

    // Listed by prefix: no secret, no hash.
    let listed = app.get("/v1/api-keys").await.text().await.unwrap();
    assert!(!listed.contains(&new_key) && !listed.contains(&app.api_key));
    assert!(!listed.contains(&nudge_db::tenants::hash_key(&new_key)));
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);
    assert_eq!(listed["data"][0]["prefix"], created["prefix"]);

    // Revoked: refused from the very next request.
    let id = created["id"].as_str().unwrap();
    let revoked = app
        .request(Method::DELETE, &format!("/v1/api-keys/{id}"), &app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    problem(
        app.request(Method::GET, "/v1/shops", &new_key)
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    let listed: Value = app.get("/v1/api-keys").await.json().await.unwrap();
    assert!(listed["data"][0]["revoked_at"].is_string());
}

#[tokio::test]
async fn the_last_active_key_cannot_be_revoked_and_other_tenants_keys_are_out_of_reach() {
    let app = spawn_app().await;
    let keys: Value = app.get("/v1/api-keys").await.json().await.unwrap();
    let only = keys["data"][0]["id"].as_str().unwrap().to_owned();
    let refused = app
        .request(
            Method::DELETE,
            &format!("/v1/api-keys/{only}"),
            &app.api_key,
        )
        .send()
        .await
        .unwrap();
    problem(refused, 409).await;
    assert_eq!(app.get("/v1/shops").await.status(), 200);

    let intruder = app.other_tenant().await;
    let theirs: Value = app
        .request(Method::GET, "/v1/api-keys", &intruder)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["data"].as_array().unwrap().len(), 1);
    assert_ne!(theirs["data"][0]["id"], only.as_str());
    // Give the intruder a second key so that the last-key rule is not what stops them.
    app.request(Method::POST, "/v1/api-keys", &intruder)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let attack = app
        .request(Method::DELETE, &format!("/v1/api-keys/{only}"), &intruder)
        .send()
        .await
        .unwrap();
    problem(attack, 404).await;
    assert_eq!(app.get("/v1/shops").await.status(), 200);
}
