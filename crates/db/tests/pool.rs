//! The pool hands out connections without a `SELECT 1` when they were just in use, yet
//! never one whose server process is gone.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

use std::time::Duration;

use diesel::sql_types::Integer;
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use nudge_testkit::TestDb;

#[derive(QueryableByName)]
struct Backend {
    #[diesel(sql_type = Integer)]
    pid: i32,
}

async fn backend_pid(pool: &nudge_db::DbPool) -> Result<i32, diesel::result::Error> {
    let mut conn = pool.get().await.expect("a connection");
    let row: Backend = diesel::sql_query("SELECT pg_backend_pid() AS pid")
        .get_result(&mut conn)
        .await?;
    Ok(row.pid)
}

/// Kills the server process behind `pid`, as a restart or a dropped TCP session would.
async fn terminate(db: &TestDb, pid: i32) {
    let mut admin = db.connect().await;
    diesel::sql_query("SELECT pg_terminate_backend($1)")
        .bind::<Integer, _>(pid)
        .execute(&mut admin)
        .await
        .unwrap();
    // pg_terminate_backend only signals; wait until the process is gone.
    nudge_testkit::eventually("the backend gone", Duration::from_secs(10), || async {
        let mut admin = db.connect().await;
        let alive: Vec<Backend> =
            diesel::sql_query("SELECT pid FROM pg_stat_activity WHERE pid = $1")
                .bind::<Integer, _>(pid)
                .load(&mut admin)
                .await
                .unwrap();
        alive.is_empty().then_some(())
    })
    .await;
}

/// Whether or not the checkout pings, a connection whose server process is gone is
/// never handed out: the pool sees it closed (or the ping fails) and opens another.
#[tokio::test]
async fn a_connection_whose_server_process_died_is_replaced_at_checkout() {
    for verify_after_idle in [Duration::from_millis(100), Duration::from_secs(600)] {
        let db = TestDb::new().await;
        let pool = nudge_db::build_pool_verifying_after(&db.url, 1, verify_after_idle).unwrap();
        let first = backend_pid(&pool).await.unwrap();
        assert_eq!(
            backend_pid(&pool).await.unwrap(),
            first,
            "the pool reuses it"
        );
        terminate(&db, first).await;
        tokio::time::sleep(Duration::from_millis(200)).await;

        let second = backend_pid(&pool).await.unwrap_or_else(|e| {
            panic!("{verify_after_idle:?}: the dead connection was handed out: {e}")
        });
        assert_ne!(first, second);
    }
}

/// A query running when its server process is told to go (FATAL 57P01, what a fast
/// shutdown or a failover sends every backend) fails as "unavailable", which the API
/// answers 503 and the workers wait out, never as a query error (a 500).
#[tokio::test]
async fn a_query_cut_by_an_administrator_shutdown_is_unavailable() {
    let db = TestDb::new().await;
    let pool = nudge_db::build_pool(&db.url, 1).unwrap();
    let pid = backend_pid(&pool).await.unwrap();
    let running = tokio::spawn({
        let pool = pool.clone();
        async move {
            let mut conn = pool.get().await.unwrap();
            diesel::sql_query("SELECT pg_sleep(30)")
                .execute(&mut conn)
                .await
                .map_err(nudge_db::DbError::from)
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    terminate(&db, pid).await;
    let error = tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the query ends with its backend")
        .unwrap()
        .expect_err("the query was cut");
    assert!(
        matches!(error, nudge_db::DbError::Unavailable(_)),
        "{error:?}"
    );
}

/// A connection first opened from another runtime (an actix-web HTTP worker's, which
/// stops at shutdown before the app's background tasks) still works after that runtime
/// is gone: the pool opens every connection on the runtime that built it. Before, the
/// connection's I/O task died with the worker, and the outbox relay, still running on
/// the main runtime, lost its transaction after SQS had taken the batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_opened_from_a_worker_runtime_outlives_that_runtime() {
    let db = TestDb::new().await;
    let pool = nudge_db::build_pool(&db.url, 1).unwrap();
    let worker_pool = pool.clone();
    let opened_by_worker = std::thread::spawn(move || {
        let worker = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let pid = worker.block_on(backend_pid(&worker_pool)).unwrap();
        drop(worker);
        pid
    })
    .join()
    .unwrap();

    let after = backend_pid(&pool)
        .await
        .expect("the connection outlives the worker's runtime");
    assert_eq!(after, opened_by_worker, "the same connection, still open");
}
