//! Idempotency-Key: replay, mismatch, in flight, per tenant, expiry and purge.

use chrono::{Duration, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nudge_db::schema::idempotency_keys;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{problem, spawn_app, TestApp};

async fn post_with_key(
    app: &TestApp,
    api_key: &str,
    path: &str,
    key: &str,
    body: &Value,
) -> reqwest::Response {
    app.request(Method::POST, path, api_key)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn insert_key(app: &TestApp, key: &str, state: &str, expires_in: Duration) {
    let mut conn = app.db.connect().await;
    diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::tenant_id.eq(Uuid::parse_str(&app.tenant_id).unwrap()),
            idempotency_keys::key.eq(key),
            idempotency_keys::request_hash.eq("some other request"),
            idempotency_keys::state.eq(state),
            idempotency_keys::response_status.eq(Some(201)),
            idempotency_keys::response_body.eq(Some(b"{}".to_vec())),
            idempotency_keys::expires_at.eq(Utc::now() + expires_in),
        ))
        .execute(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_retry_with_the_same_key_replays_the_first_response_and_sends_once() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let body = json!({"shop_id": shop["id"], "to": "+14155550100", "body": "Your order shipped", "category": "transactional"});
    let first = post_with_key(
        &app,
        &app.api_key,
        "/v1/messages",
        "order-1001-shipped",
        &body,
    )
    .await;
    assert_eq!(first.status(), 202);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();

    let retry = post_with_key(
        &app,
        &app.api_key,
        "/v1/messages",
        "order-1001-shipped",
        &body,
    )
    .await;
    assert_eq!(retry.status(), 202);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(retry.headers()["content-type"], "application/json");
    assert_eq!(retry.json::<Value>().await.unwrap(), first);
    assert_eq!(app.stored_counts().await.0, 1, "one message, not two");

    // The same key with another request is refused, and changes nothing.
    let mut other = body.clone();
    other["body"] = json!("Your order was delivered");
    let reused = problem(
        post_with_key(
            &app,
            &app.api_key,
            "/v1/messages",
            "order-1001-shipped",
            &other,
        )
        .await,
        422,
    )
    .await;
    assert_eq!(
        reused["type"],
        "https://nudge.dev/problems/idempotency-key-reused"
    );
    assert_eq!(app.stored_counts().await.0, 1);

    // Another endpoint is another request too.
    let elsewhere = post_with_key(
        &app,
        &app.api_key,
        "/v1/templates",
        "order-1001-shipped",
        &body,
    )
    .await;
    problem(elsewhere, 422).await;
}

#[tokio::test]
async fn keys_belong_to_their_tenant() {
    let app = spawn_app().await;
    // The same key and body from two tenants (each naming a number it owns).
    let body = json!({"name": "XYZ Bags", "sender_number": "+15017122661"});
    let mine: Value = post_with_key(&app, &app.api_key, "/v1/shops", "k-1", &body)
        .await
        .json()
        .await
        .unwrap();
    let intruder = app.other_tenant().await;
    let body = json!({"name": "XYZ Bags", "sender_number": crate::helpers::OTHER_NUMBER});
    let theirs = post_with_key(&app, &intruder, "/v1/shops", "k-1", &body).await;
    assert_eq!(theirs.status(), 201);
    assert!(theirs.headers().get("idempotent-replayed").is_none());
    assert_ne!(theirs.json::<Value>().await.unwrap()["id"], mine["id"]);
}

#[tokio::test]
async fn a_request_still_in_flight_with_the_key_is_a_409() {
    let app = spawn_app().await;
    insert_key(&app, "busy", "in_flight", Duration::hours(24)).await;
    let body = json!({"name": "XYZ Bags", "sender_number": "+15017122661"});
    let response = problem(
        post_with_key(&app, &app.api_key, "/v1/shops", "busy", &body).await,
        409,
    )
    .await;
    assert_eq!(
        response["type"],
        "https://nudge.dev/problems/idempotency-key-in-flight"
    );
    let shops: Value = app.get("/v1/shops").await.json().await.unwrap();
    assert_eq!(shops["data"], json!([]));
}

#[tokio::test]
async fn a_request_that_failed_validation_can_be_fixed_and_retried_with_its_key() {
    let app = spawn_app().await;
    let bad = json!({"name": "XYZ Bags", "sender_number": "12"});
    problem(
        post_with_key(&app, &app.api_key, "/v1/shops", "k-2", &bad).await,
        422,
    )
    .await;
    let good = json!({"name": "XYZ Bags", "sender_number": "+15017122661"});
    assert_eq!(
        post_with_key(&app, &app.api_key, "/v1/shops", "k-2", &good)
            .await
            .status(),
        201
    );
    let bad_key = app
        .request(Method::POST, "/v1/shops", &app.api_key)
        .header("Idempotency-Key", "x".repeat(256))
        .json(&good)
        .send()
        .await
        .unwrap();
    problem(bad_key, 422).await;
}

#[tokio::test]
async fn expired_keys_start_afresh_and_are_purged() {
    let app = spawn_app().await;
    insert_key(&app, "old", "done", Duration::hours(-1)).await;
    let body = json!({"name": "XYZ Bags", "sender_number": "+15017122661"});
    let response = post_with_key(&app, &app.api_key, "/v1/shops", "old", &body).await;
    assert_eq!(response.status(), 201, "an expired key is a new key");
    assert!(response.headers().get("idempotent-replayed").is_none());

    insert_key(&app, "older", "done", Duration::hours(-2)).await;
    let mut conn = app.db.connect().await;
    assert_eq!(
        nudge_db::idempotency::purge_expired(&mut conn)
            .await
            .unwrap(),
        1
    );
    let left: Vec<String> = idempotency_keys::table
        .select(idempotency_keys::key)
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(left, vec!["old".to_owned()]);
}

/// Deletes every idempotency key's record, as if none had been kept.
async fn forget_keys(app: &TestApp) {
    let mut conn = app.db.connect().await;
    diesel::delete(idempotency_keys::table)
        .execute(&mut conn)
        .await
        .unwrap();
}

/// The database went away after a send was stored but before its key's record was
/// written (the client got a 503 and the key was let go): the retry with the key gets
/// the message stored the first time, not a second one. The key is kept with the
/// message, in the transaction that stores it.
#[tokio::test]
async fn a_retry_after_the_keys_record_was_lost_gets_the_first_message_not_a_second() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let body = json!({"shop_id": shop["id"], "to": "+14155550100", "body": "Your order shipped", "category": "transactional"});
    let first = post_with_key(&app, &app.api_key, "/v1/messages", "order-77", &body).await;
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    // What a failed `finish` followed by a release leaves: no record of the key.
    forget_keys(&app).await;

    let retry = post_with_key(&app, &app.api_key, "/v1/messages", "order-77", &body).await;
    assert_eq!(retry.status(), 202);
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(retry["id"], first["id"], "the same message");
    assert_eq!(app.stored_counts().await.0, 1, "one message, not two");

    // Another request with that key is still refused, and stores nothing.
    forget_keys(&app).await;
    let mut other = body.clone();
    other["body"] = json!("Your order was delivered");
    let reused = problem(
        post_with_key(&app, &app.api_key, "/v1/messages", "order-77", &other).await,
        422,
    )
    .await;
    assert_eq!(
        reused["type"],
        "https://nudge.dev/problems/idempotency-key-reused"
    );
    assert_eq!(app.stored_counts().await.0, 1);
}

/// A secret shown once (a new API key, a webhook endpoint's signing secret) is never
/// kept with the key's response: the stored body holds a placeholder, and a replay
/// shows it in place of the secret.
#[tokio::test]
async fn secrets_in_an_answer_are_not_kept_for_replays() {
    let app = spawn_app().await;
    for (path, body, field) in [
        ("/v1/api-keys", json!({"name": "warehouse"}), "key"),
        (
            "/v1/webhook-endpoints",
            json!({"url": "https://hooks.example.com/nudge", "events": ["message.delivered"]}),
            "secret",
        ),
    ] {
        let first = post_with_key(&app, &app.api_key, path, "make-it-once", &body).await;
        assert_eq!(first.status(), 201, "{path}");
        let first: Value = first.json().await.unwrap();
        let secret = first[field]
            .as_str()
            .expect("the secret, shown once")
            .to_owned();
        assert!(!secret.starts_with("redacted"));

        let mut conn = app.db.connect().await;
        let kept: Vec<Option<Vec<u8>>> = idempotency_keys::table
            .select(idempotency_keys::response_body)
            .load(&mut conn)
            .await
            .unwrap();
        for body in kept.iter().flatten() {
            assert!(
                !String::from_utf8_lossy(body).contains(&secret),
                "{path}: the secret is kept at rest"
            );
        }

        let replay = post_with_key(&app, &app.api_key, path, "make-it-once", &body).await;
        assert_eq!(replay.status(), 201);
        assert_eq!(replay.headers()["idempotent-replayed"], "true");
        let replay: Value = replay.json().await.unwrap();
        assert_eq!(replay["id"], first["id"], "{path}: the same resource");
        assert_eq!(
            replay[field], "redacted: shown only in the first response",
            "{path}"
        );
        forget_keys(&app).await;
    }
}
