//! Throughput buckets in the database: shared by every connection (every replica),
//! refilled by the database's clock, taken all-or-none across keys.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

use nudge_db::rate::{take, Rate};
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
