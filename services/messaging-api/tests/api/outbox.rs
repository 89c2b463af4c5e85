//! The outbox: a message accepted while SQS is unreachable is kept and delivered to the
//! queue once SQS is back.

use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nudge_testkit::TcpProxy;
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, Overrides};

#[tokio::test]
async fn sqs_down_at_accept_time_then_back_the_message_reaches_the_queue() {
    let sqs = TcpProxy::new("127.0.0.1:4566".parse().unwrap()).await; // starts down
    let app = spawn_app_with(|_| Overrides {
        sqs_endpoint: Some(sqs.url("http")),
        ..Overrides::default()
    })
    .await;
    let shop = app.create_shop().await;
    let response = app
        .post(
            "/v1/messages",
            &json!({"shop_id": shop["id"], "to": "+14155550100", "body": "Back in stock", "category": "transactional"}),
        )
        .await;
    assert_eq!(response.status(), 202, "accepted although SQS is down");
    let message: Value = response.json().await.unwrap();

    // The relay tried, failed, and kept the row.
    let attempts = nudge_testkit::eventually(
        "a failed relay attempt",
        Duration::from_secs(15),
        || async {
            use nudge_db::schema::outbox;
            let mut conn = app.db.connect().await;
            let rows: Vec<(i32, Option<String>)> = outbox::table
                .select((outbox::attempts, outbox::last_error))
                .load(&mut conn)
                .await
                .unwrap();
            assert_eq!(rows.len(), 1, "the outbox row must stay while SQS is down");
            (rows[0].0 >= 1).then(|| rows[0].clone())
        },
    )
    .await;
    assert!(attempts.1.is_some());
    assert!(app
        .queue
        .peek(&app.queue.url, Duration::from_secs(0))
        .await
        .is_empty());

    sqs.up().await;
    let (envelope, _) = app.next_outbound(Duration::from_secs(30)).await;
    assert_eq!(envelope["payload"]["message_id"], message["id"]);
    nudge_testkit::eventually("the outbox to drain", Duration::from_secs(10), || async {
        (app.stored_counts().await.2 == 0).then_some(())
    })
    .await;
}
