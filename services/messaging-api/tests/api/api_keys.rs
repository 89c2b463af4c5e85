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

/// A key of the test tenant with these scopes, made through the API.
async fn key_with(app: &crate::helpers::TestApp, scopes: &[&str]) -> String {
    let created = app
        .post(
            "/v1/api-keys",
            &json!({"name": scopes.join("+"), "scopes": scopes}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["scopes"], json!(scopes));
    created["key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_route_refuses_a_key_without_the_scope_it_needs() {
    let app = spawn_app().await;
    let keys = [
        ("send", key_with(&app, &["send"]).await),
        ("read", key_with(&app, &["read"]).await),
        ("manage", key_with(&app, &["manage"]).await),
    ];
    let routes = crate::isolation::mounted_routes();
    let mut by_scope = std::collections::BTreeMap::<&str, usize>::new();
    for (method, path) in routes
        .iter()
        .filter(|(_, path)| !crate::isolation::PUBLIC_ROUTES.contains(&path.as_str()))
    {
        let concrete = format!(
            "/v1{}",
            path.replace("{id}", &uuid::Uuid::now_v7().to_string())
        );
        let needed = nudge_domain::ApiScope::required_for(method.as_str(), &concrete);
        *by_scope.entry(needed.as_str()).or_default() += 1;
        for (scope, key) in &keys {
            let response = app
                .request(method.clone(), &concrete, key)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            if *scope == needed.as_str() {
                assert_ne!(status, 403, "{method} {concrete} with a {scope} key");
            } else {
                let body = problem(response, 403).await;
                assert_eq!(body["type"], "https://nudge.dev/problems/missing-scope");
                assert!(
                    body["detail"].as_str().unwrap().contains(needed.as_str()),
                    "{body}"
                );
            }
        }
    }
    // The table covers all three kinds of route.
    assert!(
        by_scope.values().all(|n| *n > 0) && by_scope.len() == 3,
        "{by_scope:?}"
    );
}

#[tokio::test]
async fn only_a_manage_key_mints_keys_and_never_beyond_its_own_scopes() {
    let app = spawn_app().await;
    let sender = key_with(&app, &["send", "read"]).await;
    let minted = app
        .request(Method::POST, "/v1/api-keys", &sender)
        .json(&json!({"name": "escalate"}))
        .send()
        .await
        .unwrap();
    problem(minted, 403).await;

    let manager = key_with(&app, &["manage"]).await;
    let minted = app
        .request(Method::POST, "/v1/api-keys", &manager)
        .json(&json!({"name": "escalate", "scopes": ["manage", "send"]}))
        .send()
        .await
        .unwrap();
    let body = problem(minted, 422).await;
    assert_eq!(body["errors"][0]["field"], "scopes");
    let minted = app
        .request(Method::POST, "/v1/api-keys", &manager)
        .json(&json!({"name": "same"}))
        .send()
        .await
        .unwrap();
    assert_eq!(minted.status(), 201);
    let minted: Value = minted.json().await.unwrap();
    assert_eq!(
        minted["scopes"],
        json!(["manage"]),
        "defaults to the minter's"
    );

    for bad in [
        json!({"scopes": []}),
        json!({"scopes": ["root"]}),
        json!({"expires_at": "tomorrow"}),
        json!({"expires_at": "2020-01-01T00:00:00Z"}),
    ] {
        let response = app.post("/v1/api-keys", &bad).await;
        problem(response, 422).await;
    }
}

#[tokio::test]
async fn a_tenant_holds_a_bounded_number_of_keys() {
    let app = spawn_app().await;
    let max = nudge_db::tenants::MAX_ACTIVE_KEYS;
    // The tenant's first key is one of them.
    for n in 1..max {
        let response = app
            .post("/v1/api-keys", &json!({"name": format!("k{n}")}))
            .await;
        assert_eq!(response.status(), 201, "key {n}");
    }
    let refused = app
        .post("/v1/api-keys", &json!({"name": "one too many"}))
        .await;
    let body = problem(refused, 409).await;
    assert!(
        body["detail"].as_str().unwrap().contains("revoke"),
        "{body}"
    );
    // Revoking one makes room.
    let listed: Value = app.get("/v1/api-keys?limit=1").await.json().await.unwrap();
    let id = listed["data"][0]["id"].as_str().unwrap();
    let revoked = app
        .request(Method::DELETE, &format!("/v1/api-keys/{id}"), &app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    assert_eq!(
        app.post("/v1/api-keys", &json!({"name": "room again"}))
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn an_expired_key_is_refused_and_a_used_key_shows_its_last_use() {
    let app = spawn_app().await;
    let expires = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let created: Value = app
        .post(
            "/v1/api-keys",
            &json!({"name": "temp", "expires_at": expires}),
        )
        .await
        .json()
        .await
        .unwrap();
    let key = created["key"].as_str().unwrap();
    assert!(created["last_used_at"].is_null());
    let with_temp = app
        .request(Method::GET, "/v1/shops", key)
        .send()
        .await
        .unwrap();
    assert_eq!(with_temp.status(), 200);
    let listed: Value = app.get("/v1/api-keys").await.json().await.unwrap();
    let temp = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == created["id"])
        .unwrap();
    assert!(temp["last_used_at"].is_string(), "{temp}");
    assert!(temp["expires_at"].is_string(), "{temp}");

    // Its hour passes.
    {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        use nudge_db::schema::api_keys;
        let mut conn = app.db.connect().await;
        let id: uuid::Uuid = created["id"].as_str().unwrap().parse().unwrap();
        diesel::update(api_keys::table.filter(api_keys::id.eq(id)))
            .set(api_keys::expires_at.eq(chrono::Utc::now() - chrono::Duration::seconds(1)))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    // Changed behind the API's back: refused once the change is announced (a few
    // milliseconds; docs/performance.md), well before the key cache's lifetime.
    let started = std::time::Instant::now();
    let expired = loop {
        let response = app
            .request(Method::GET, "/v1/shops", key)
            .send()
            .await
            .unwrap();
        if response.status() != 200 || started.elapsed() > std::time::Duration::from_secs(2) {
            break response;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    problem(expired, 401).await;
}
