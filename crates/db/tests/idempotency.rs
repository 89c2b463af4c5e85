//! Idempotency keys under concurrency, against a real Postgres: the interleavings
//! that a fuzzer found once in thousands of requests, forced here every time.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

use std::time::Duration;

use diesel_async::{AnsiTransactionManager, RunQueryDsl, TransactionManager};
use nudge_db::idempotency::{begin, Begin};
use nudge_domain::TenantId;
use nudge_testkit::TestDb;

async fn a_tenant(conn: &mut nudge_db::AsyncPgConnection) -> TenantId {
    let issued = nudge_db::tenants::create_with_key(conn, "t").await.unwrap();
    TenantId::from_uuid(issued.tenant.id)
}

/// Request A holds the key and is refused by validation (it frees the key); request B,
/// with the same key, found the key held when it tried to insert it, and reads it just
/// as A's delete commits. B must start afresh, not fail on a row that is gone (it was
/// a 500 "Record not found").
#[tokio::test]
async fn a_key_freed_between_the_insert_and_the_read_is_taken_not_a_500() {
    let db = TestDb::new().await;
    let mut holder = db.connect().await;
    let tenant = a_tenant(&mut holder).await;
    assert_eq!(
        begin(&mut holder, tenant, "order-1", "request A")
            .await
            .unwrap(),
        Begin::Started
    );

    // A's connection locks the row, as its delete (`abandon`) is about to.
    AnsiTransactionManager::begin_transaction(&mut holder)
        .await
        .unwrap();
    diesel::sql_query("SELECT 1 FROM idempotency_keys WHERE key = 'order-1' FOR UPDATE")
        .execute(&mut holder)
        .await
        .unwrap();

    // B's insert sees the committed row and does nothing; its read waits on A's lock.
    let pool = db.pool();
    let racer = tokio::spawn(async move {
        let mut conn = pool.get().await.unwrap();
        begin(&mut conn, tenant, "order-1", "request B").await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!racer.is_finished(), "B should be waiting on A's row lock");

    // A frees the key.
    diesel::sql_query("DELETE FROM idempotency_keys WHERE key = 'order-1'")
        .execute(&mut holder)
        .await
        .unwrap();
    AnsiTransactionManager::commit_transaction(&mut holder)
        .await
        .unwrap();

    let begun = tokio::time::timeout(Duration::from_secs(10), racer)
        .await
        .expect("B finishes once A commits")
        .unwrap();
    assert_eq!(begun.unwrap(), Begin::Started, "B takes the freed key");
}

/// Many requests with one key at once, half of them refused (freeing the key) and
/// half accepted: every one gets an answer, never an error.
#[tokio::test]
async fn concurrent_takes_and_frees_of_one_key_never_fail() {
    let db = TestDb::new().await;
    let tenant = a_tenant(&mut db.connect().await).await;
    let mut tasks = Vec::new();
    for n in 0..16 {
        let pool = db.pool();
        tasks.push(tokio::spawn(async move {
            let mut conn = pool.get().await.unwrap();
            for _ in 0..20 {
                let begun = begin(&mut conn, tenant, "shared", &format!("request {n}")).await?;
                if begun == Begin::Started {
                    nudge_db::idempotency::abandon(&mut conn, tenant, "shared").await?;
                }
            }
            Ok::<_, nudge_db::DbError>(())
        }));
    }
    for task in tasks {
        task.await.unwrap().expect("no request with the key fails");
    }
}
