//! Throughput buckets in the database: shared by every connection (every replica),
//! refilled by the database's clock, taken all-or-none across keys.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

use nudge_db::rate::{take, take_all_present, Rate};
use nudge_testkit::TestDb;

const ONE_PER_SECOND: Rate = Rate {
    per_second: 1.0,
    burst: 1.0,
};
const PLENTY: Rate = Rate {
    per_second: 100.0,
    burst: 100.0,
};

#[tokio::test]
async fn a_bucket_is_shared_and_taken_all_or_none() {
    let db = TestDb::new().await;
    let (mut first, mut second) = (db.connect().await, db.connect().await);
    let keys = [
        ("number:+15017122661", ONE_PER_SECOND),
        ("account:AC1", PLENTY),
    ];
    assert_eq!(take(&mut first, &keys, 1.0).await.unwrap(), None);
    // Another connection (another replica) sees the same bucket: it must wait about 1 s.
    let wait = take(&mut second, &keys, 1.0)
        .await
        .unwrap()
        .expect("a wait");
    assert!(
        wait.as_secs_f64() > 0.5 && wait.as_secs_f64() <= 1.0,
        "{wait:?}"
    );
    // Another number has its own bucket; the account's was not charged by the refusal.
    let other = [
        ("number:+15017122662", ONE_PER_SECOND),
        ("account:AC1", PLENTY),
    ];
    assert_eq!(take(&mut second, &other, 1.0).await.unwrap(), None);
    // A three-segment message goes at once when the bucket is full, and the number's
    // next second(s) pay for it.
    let long = [("number:+15017122663", ONE_PER_SECOND)];
    assert_eq!(take(&mut first, &long, 3.0).await.unwrap(), None);
    let wait = take(&mut first, &long, 1.0).await.unwrap().expect("a wait");
    assert!(wait.as_secs_f64() > 2.5, "{wait:?}");
    // After the wait, the turn comes.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    assert_eq!(take(&mut second, &keys, 1.0).await.unwrap(), None);
}

#[tokio::test]
async fn concurrent_takers_never_get_more_than_the_bucket_holds() {
    let db = TestDb::new().await;
    let scarce = Rate {
        per_second: 0.001,
        burst: 5.0,
    };
    let mut conns = Vec::new();
    for _ in 0..20 {
        conns.push(db.connect().await);
    }
    let takers = conns.into_iter().map(|mut conn| {
        tokio::spawn(async move {
            let keys = [("number:+15017122661", scarce), ("account:AC1", PLENTY)];
            take(&mut conn, &keys, 1.0).await.unwrap().is_none()
        })
    });
    let mut taken = 0;
    for taker in takers.collect::<Vec<_>>() {
        taken += usize::from(taker.await.unwrap());
    }
    assert_eq!(taken, 5);
    // A refusal charged nothing: the account still has its whole burst minus the five.
    let mut conn = db.connect().await;
    let account = [(
        "account:AC1",
        Rate {
            per_second: 0.001,
            burst: 100.0,
        },
    )];
    assert_eq!(take(&mut conn, &account, 95.0).await.unwrap(), None);
}

#[tokio::test]
async fn taking_several_messages_at_once_never_borrows_from_the_seconds_ahead() {
    let db = TestDb::new().await;
    let mut conn = db.connect().await;
    let two_per_second = Rate {
        per_second: 2.0,
        burst: 2.0,
    };
    let keys = [("number:+15017122661", two_per_second)];
    // Three segments together are more than the bucket can ever hold: refused, and
    // nothing taken...
    assert!(take_all_present(&mut conn, &keys, 3.0)
        .await
        .unwrap()
        .is_some());
    // ...so the two it holds are still there, for two messages together.
    assert_eq!(take_all_present(&mut conn, &keys, 2.0).await.unwrap(), None);
    // Now empty: even one segment must wait, where a lone message's take would too.
    assert!(take_all_present(&mut conn, &keys, 1.0)
        .await
        .unwrap()
        .is_some());
    assert!(take(&mut conn, &keys, 1.0).await.unwrap().is_some());
}

/// Taking tokens is on every send's path: the statement is prepared once per
/// connection and kept, not parsed and planned at every call (a statement diesel does
/// not cache is closed after its call and would not be listed).
#[tokio::test]
async fn the_statement_that_takes_is_prepared_once_per_connection() {
    use diesel::sql_types::BigInt;
    use diesel_async::RunQueryDsl;

    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        count: i64,
    }

    let db = TestDb::new().await;
    let mut conn = db.connect().await;
    for key in [
        "number:+15017122661",
        "number:+15017122662",
        "number:+15017122663",
    ] {
        take(&mut conn, &[(key, PLENTY)], 1.0).await.unwrap();
    }
    let prepared: Count = diesel::sql_query(
        "SELECT count(*) FROM pg_prepared_statements \
         WHERE statement LIKE '%FOR UPDATE OF b%' AND statement NOT LIKE '%pg_prepared%'",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(prepared.count, 1);
}
