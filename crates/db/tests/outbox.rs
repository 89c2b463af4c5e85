//! The outbox relay's database side, against a real Postgres: rows leave the outbox
//! only when the queue took them, and concurrent relays never take the same row.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nudge_db::models::OutboxRow;
use nudge_db::outbox::{relay_batch, Refused, RelayOutcome};
use nudge_db::schema::outbox;
use nudge_testkit::TestDb;
use serde_json::json;
use uuid::Uuid;

fn row(n: usize) -> OutboxRow {
    OutboxRow {
        id: Uuid::now_v7(),
        tenant_id: Uuid::now_v7(),
        queue: "outbound-sms".into(),
        message_type: "outbound_sms.v1".into(),
        body: json!({ "n": n }),
        traceparent: None,
        created_at: Utc::now(),
        attempts: 0,
        last_error: None,
        available_at: Utc::now(),
        message_id: None,
    }
}

async fn seed(db: &TestDb, count: usize) -> Vec<OutboxRow> {
    let rows: Vec<OutboxRow> = (0..count).map(row).collect();
    let mut conn = db.connect().await;
    diesel::insert_into(outbox::table)
        .values(&rows)
        .execute(&mut conn)
        .await
        .unwrap();
    rows
}

#[tokio::test]
async fn refused_entries_stay_with_their_error_and_a_later_retry_time() {
    let db = TestDb::new().await;
    let rows = seed(&db, 3).await;
    let refused_id = rows[1].id;
    let mut conn = db.connect().await;
    let outcome = relay_batch(&mut conn, "outbound-sms", 10, async |batch| {
        assert_eq!(batch.len(), 3);
        vec![Refused {
            id: refused_id,
            error: "InternalError: try again".into(),
        }]
    })
    .await
    .unwrap();
    assert_eq!(
        outcome,
        RelayOutcome {
            published: 2,
            failed: 1
        }
    );

    let left: Vec<OutboxRow> = outbox::table
        .select(OutboxRow::as_select())
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, refused_id);
    assert_eq!(left[0].attempts, 1);
    assert_eq!(
        left[0].last_error.as_deref(),
        Some("InternalError: try again")
    );
    assert!(left[0].available_at > Utc::now());

    // Not due yet: the next pass does not offer it.
    let outcome = relay_batch(&mut conn, "outbound-sms", 10, async |batch| {
        assert!(batch.is_empty());
        Vec::new()
    })
    .await
    .unwrap();
    assert_eq!(outcome, RelayOutcome::default());
}

#[tokio::test]
async fn a_whole_batch_refused_stays_whole() {
    let db = TestDb::new().await;
    seed(&db, 2).await;
    let mut conn = db.connect().await;
    relay_batch(&mut conn, "outbound-sms", 10, async |batch| {
        batch
            .iter()
            .map(|r| Refused {
                id: r.id,
                error: "connection refused".into(),
            })
            .collect()
    })
    .await
    .unwrap();
    let attempts: Vec<i32> = outbox::table
        .select(outbox::attempts)
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(attempts, vec![1, 1]);
}

#[tokio::test]
async fn concurrent_relays_never_take_the_same_row() {
    let db = TestDb::new().await;
    seed(&db, 20).await;
    let (mut first, mut second) = (db.connect().await, db.connect().await);
    let (release_first, hold_first) = tokio::sync::oneshot::channel::<()>();
    let first_pass = tokio::spawn(async move {
        relay_batch(&mut first, "outbound-sms", 10, async |batch| {
            // Hold the lock until the second relay has taken its batch.
            assert_eq!(batch.len(), 10);
            let _ = hold_first.await;
            Vec::new()
        })
        .await
        .unwrap()
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let second_outcome = relay_batch(&mut second, "outbound-sms", 10, async |batch| {
        assert_eq!(batch.len(), 10, "the second relay gets the other ten rows");
        Vec::new()
    })
    .await
    .unwrap();
    release_first.send(()).unwrap();
    let first_outcome = first_pass.await.unwrap();
    assert_eq!(first_outcome.published + second_outcome.published, 20);
    let mut conn = db.connect().await;
    let left: i64 = outbox::table.count().get_result(&mut conn).await.unwrap();
    assert_eq!(left, 0);
}
