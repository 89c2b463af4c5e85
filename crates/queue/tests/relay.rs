//! The outbox relay against Postgres and LocalStack: a round takes up to a hundred rows
//! in one transaction and sends them as several `SendMessageBatch` calls at once; a
//! call SQS refuses keeps only its own rows for a later round.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

mod support;

use std::collections::HashSet;
use std::sync::Arc;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nudge_db::schema::outbox;
use nudge_queue::relay::relay_once;
use nudge_queue::SqsQueue;
use nudge_testkit::{queued_message, tenant_with_shop, TestDb, TestQueue};
use support::{counted_client, CallsInFlight};

const QUEUE: &str = "outbound-sms";

#[tokio::test]
async fn a_round_sends_its_rows_in_calls_at_once_and_a_refused_call_keeps_only_its_rows() {
    let db = TestDb::new().await;
    let test_queue = TestQueue::new("relay-round", 5).await;
    let mut conn = db.connect().await;
    let (tenant, shop) = tenant_with_shop(&mut conn, "relay").await;

    // 45 rows: five calls, the last of five rows. One row is too big for SQS (1 MiB
    // a request), so its whole call is refused.
    let (mut ids, mut too_big) = (Vec::new(), None);
    for n in 0..45 {
        let (message, mut row, _) =
            queued_message(tenant, shop, &format!("+1415555{n:04}"), "Hi", QUEUE);
        if n == 25 {
            row.body = serde_json::json!({ "padding": "x".repeat(1100 * 1024) });
            too_big = Some(row.id);
        }
        nudge_db::messages::insert_accepted(&mut conn, &message, &row)
            .await
            .unwrap();
        ids.push(row.id);
    }

    let calls = Arc::new(CallsInFlight::default());
    let queue = SqsQueue::new(counted_client(calls.clone()), &test_queue.url);
    let outcome = relay_once(&db.pool(), QUEUE, &queue).await.unwrap();
    assert_eq!((outcome.published, outcome.failed), (35, 10));
    assert!(calls.most() > 1, "the round's calls went one at a time");

    // Kept: exactly the refused call's rows, each tried once. The relay takes rows in
    // id order, ten to a call.
    ids.sort();
    let call = ids.iter().position(|id| Some(*id) == too_big).unwrap() / 10;
    let refused_call: HashSet<uuid::Uuid> =
        ids[call * 10..call * 10 + 10].iter().copied().collect();
    let kept: Vec<(uuid::Uuid, i32)> = outbox::table
        .select((outbox::id, outbox::attempts))
        .load(&mut conn)
        .await
        .unwrap();
    let kept_ids: HashSet<uuid::Uuid> = kept.iter().map(|(id, _)| *id).collect();
    assert_eq!(kept_ids, refused_call);
    assert!(kept.iter().all(|(_, attempts)| *attempts == 1));

    // On SQS: the other 35, once each.
    let received = test_queue.read_all(&test_queue.url).await;
    assert_eq!(received.len(), 35);
}
