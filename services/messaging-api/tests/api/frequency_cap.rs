//! The shop's marketing frequency cap, per recipient and rolling window.

use serde_json::{json, Value};

use crate::helpers::{error_fields, problem, spawn_app};

#[tokio::test]
async fn marketing_past_the_cap_is_refused_and_stores_nothing() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    assert_eq!(
        shop["frequency_cap"],
        json!({"count": 3, "window_hours": 24}),
        "the default"
    );
    let shop_id = shop["id"].as_str().unwrap();
    let patched: Value = app
        .request(
            reqwest::Method::PATCH,
            &format!("/v1/shops/{shop_id}"),
            &app.api_key,
        )
        .json(&json!({"frequency_cap": {"count": 2, "window_hours": 12}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        patched["frequency_cap"],
        json!({"count": 2, "window_hours": 12})
    );

    let asha = app.create_customer(shop_id, "+14155550100").await;
    let promo = |customer: &Value| json!({"shop_id": shop_id, "customer_id": customer["id"], "body": "20% off", "category": "marketing"});
    let first: Value = app
        .post("/v1/messages", &promo(&asha))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(app.post("/v1/messages", &promo(&asha)).await.status(), 202);
    let before = app.stored_messages().await;
    let refused = problem(app.post("/v1/messages", &promo(&asha)).await, 422).await;
    assert_eq!(
        refused["type"],
        "https://nudge.dev/problems/frequency-cap-exceeded"
    );
    assert_eq!(app.stored_messages().await, before);

    // Transactional messages and other customers are not capped.
    let receipt = json!({"shop_id": shop_id, "customer_id": asha["id"], "body": "Order #1001 confirmed", "category": "transactional"});
    assert_eq!(app.post("/v1/messages", &receipt).await.status(), 202);
    let ben = app.create_customer(shop_id, "+14155550101").await;
    assert_eq!(app.post("/v1/messages", &promo(&ben)).await.status(), 202);

    // A cancelled message gives its place back.
    let scheduled = json!({"shop_id": shop_id, "customer_id": ben["id"], "body": "later", "category": "marketing",
                           "send_at": (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339()});
    let scheduled: Value = app
        .post("/v1/messages", &scheduled)
        .await
        .json()
        .await
        .unwrap();
    problem(app.post("/v1/messages", &promo(&ben)).await, 422).await;
    app.post(
        &format!("/v1/messages/{}/cancel", scheduled["id"].as_str().unwrap()),
        &json!({}),
    )
    .await;
    assert_eq!(app.post("/v1/messages", &promo(&ben)).await.status(), 202);
    assert!(first["id"].is_string());

    let bad = app
        .request(
            reqwest::Method::PATCH,
            &format!("/v1/shops/{shop_id}"),
            &app.api_key,
        )
        .json(&json!({"frequency_cap": {"count": -1, "window_hours": 0}}))
        .send()
        .await
        .unwrap();
    let bad = problem(bad, 422).await;
    assert_eq!(
        error_fields(&bad),
        vec!["frequency_cap.count", "frequency_cap.window_hours"]
    );
}

#[tokio::test]
async fn concurrent_sends_cannot_both_take_the_last_place() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let shop_id = shop["id"].as_str().unwrap();
    app.request(
        reqwest::Method::PATCH,
        &format!("/v1/shops/{shop_id}"),
        &app.api_key,
    )
    .json(&json!({"frequency_cap": {"count": 1, "window_hours": 24}}))
    .send()
    .await
    .unwrap();
    let asha = app.create_customer(shop_id, "+14155550100").await;
    let promo = json!({"shop_id": shop_id, "customer_id": asha["id"], "body": "20% off", "category": "marketing"});
    let sends = (0..8).map(|_| app.post("/v1/messages", &promo));
    let statuses: Vec<u16> = futures_statuses(sends).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 202).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(app.stored_counts().await.0, 1);
}

async fn futures_statuses<F: std::future::Future<Output = reqwest::Response>>(
    sends: impl Iterator<Item = F>,
) -> Vec<u16> {
    let handles: Vec<_> = sends.collect();
    let mut statuses = Vec::new();
    for response in join_all(handles).await {
        statuses.push(response.status().as_u16());
    }
    statuses
}

/// Runs the futures concurrently (a tiny join_all, to avoid a dependency for one test).
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
