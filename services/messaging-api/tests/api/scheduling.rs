//! Scheduled sends: the database is the schedule, relayed once among replicas, and a
//! message can be cancelled until it reaches the queue.

use std::time::Duration;

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{error_fields, problem, spawn_app, spawn_app_with, Overrides, TestApp};

fn in_minutes(minutes: i64) -> String {
    (Utc::now() + chrono::Duration::minutes(minutes)).to_rfc3339()
}

async fn schedule(app: &TestApp, shop_id: &Value, minutes: i64) -> Value {
    let response = app
        .post(
            "/v1/messages",
            &json!({"shop_id": shop_id, "to": "+14155550100", "body": "Your order ships today",
                    "category": "transactional", "send_at": in_minutes(minutes)}),
        )
        .await;
    assert_eq!(response.status(), 202);
    response.json().await.unwrap()
}

/// Time passes: every scheduled outbox row becomes due now.
async fn make_due(app: &TestApp) {
    use nudge_db::schema::outbox;
    let mut conn = app.db.connect().await;
    diesel::update(outbox::table)
        .set(outbox::available_at.eq(diesel::dsl::now))
        .execute(&mut conn)
        .await
        .unwrap();
}

fn event_types(message: &Value) -> Vec<String> {
    message["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn send_at_must_be_between_one_minute_and_35_days_ahead() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    for send_at in [
        in_minutes(0),
        in_minutes(36 * 24 * 60),
        "tomorrow morning".to_owned(),
    ] {
        let body = json!({"shop_id": shop["id"], "to": "+14155550100", "body": "x", "category": "transactional", "send_at": send_at});
        let refused = problem(app.post("/v1/messages", &body).await, 422).await;
        assert_eq!(error_fields(&refused), vec!["send_at"], "{send_at}");
    }
    assert_eq!(app.stored_counts().await, (0, 0, 0));
}

#[tokio::test]
async fn a_scheduled_message_waits_in_the_database_then_reaches_the_queue() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let message = schedule(&app, &shop["id"], 10).await;
    assert_eq!(message["status"], "scheduled");
    assert!(message["send_at"].is_string());
    assert_eq!(event_types(&message), vec!["scheduled"]);
    let id = message["id"].as_str().unwrap();
    // The request's send_at had nanoseconds; the answer shows it as stored.
    let shown = app.message(id).await;
    assert_eq!(shown["send_at"], message["send_at"]);
    assert_eq!(shown["created_at"], message["created_at"]);

    // Not before its time.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(app.queue.depth(&app.queue.url).await, 0);

    make_due(&app).await;
    let (envelope, _) = app.next_outbound(Duration::from_secs(15)).await;
    assert_eq!(envelope["payload"]["message_id"], id);
    let queued = nudge_testkit::eventually(
        "the message to be queued",
        Duration::from_secs(10),
        || async {
            let message = app.message(id).await;
            (message["status"] == "queued").then_some(message)
        },
    )
    .await;
    assert_eq!(event_types(&queued), vec!["scheduled", "queued"]);
}

#[tokio::test]
async fn two_api_replicas_relay_a_scheduled_message_exactly_once() {
    let first = spawn_app().await;
    let url = first.db.url.clone();
    let second = spawn_app_with(|_| Overrides {
        database_url: Some(url),
        ..Overrides::default()
    })
    .await;
    let shop = first.create_shop().await;
    for _ in 0..5 {
        schedule(&first, &shop["id"], 10).await;
    }
    make_due(&first).await;
    nudge_testkit::eventually("every row relayed", Duration::from_secs(15), || async {
        (first.stored_counts().await.2 == 0).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let total =
        first.queue.depth(&first.queue.url).await + second.queue.depth(&second.queue.url).await;
    assert_eq!(total, 5, "each message on exactly one replica's queue");
}

#[tokio::test]
async fn a_message_can_be_cancelled_until_it_reaches_the_queue() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let message = schedule(&app, &shop["id"], 10).await;
    let id = message["id"].as_str().unwrap();
    let intruder = app.other_tenant().await;
    let attack = app
        .request(
            Method::POST,
            &format!("/v1/messages/{id}/cancel"),
            &intruder,
        )
        .send()
        .await
        .unwrap();
    problem(attack, 404).await;

    let cancelled = app
        .post(&format!("/v1/messages/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(cancelled.status(), 200);
    let cancelled: Value = cancelled.json().await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(event_types(&cancelled), vec!["scheduled", "cancelled"]);
    assert_eq!(app.stored_counts().await.2, 0, "its outbox row is gone");

    make_due(&app).await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(app.queue.depth(&app.queue.url).await, 0, "nothing goes out");
    let again = problem(
        app.post(&format!("/v1/messages/{id}/cancel"), &json!({}))
            .await,
        409,
    )
    .await;
    assert_eq!(again["type"], "https://nudge.dev/problems/not-cancellable");

    // A message already on the queue is too late to cancel.
    let now: Value = app
        .post("/v1/messages", &json!({"shop_id": shop["id"], "to": "+14155550100", "body": "x", "category": "transactional"}))
        .await
        .json()
        .await
        .unwrap();
    app.next_outbound(Duration::from_secs(15)).await;
    nudge_testkit::eventually("the outbox to drain", Duration::from_secs(10), || async {
        (app.stored_counts().await.2 == 0).then_some(())
    })
    .await;
    let late = app
        .post(
            &format!("/v1/messages/{}/cancel", now["id"].as_str().unwrap()),
            &json!({}),
        )
        .await;
    problem(late, 409).await;
}
