//! The database away while searches wait on the queue (a restart, a failover, a
//! maintenance window): the worker holds the messages it has, receives nothing more
//! until the database answers, so SQS counts no receives and no search reaches the
//! dead-letter queue; every search finishes once it is back.

use std::time::Duration;

use nudge_testkit::{eventually, Cluster, TestDb, TestQueue};

use crate::helpers::{everyone, Harness, LEASE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_away_dead_letters_no_search_and_all_finish_once_it_is_back() {
    let cluster = Cluster::start();
    let db = TestDb::on(cluster.url.clone()).await;
    // Two receives before the dead-letter queue, a message back after a lease: a
    // worker that kept receiving (and failing to claim) through the outage would lose
    // its searches to the dead-letter queue within about 20 seconds.
    let queue =
        TestQueue::with_visibility("lead-away", 2, u32::try_from(LEASE.as_secs()).unwrap()).await;
    let harness = Harness::on("google", db, queue);
    let tenant = harness.tenant("a").await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(harness.search(tenant, everyone(), 10).await);
    }
    eventually(
        "the searches on the queue",
        Duration::from_secs(20),
        || async { (harness.queue.depth(&harness.queue.url).await >= 3).then_some(()) },
    )
    .await;

    cluster.stop();
    harness.start(harness.worker("w1", "sandbox-key", 100).await);
    tokio::time::sleep(Duration::from_secs(40)).await;
    assert_eq!(
        harness.queue.depth(&harness.queue.dlq_url).await,
        0,
        "no search dead-lettered while the database was away"
    );

    cluster.start_again();
    for id in ids {
        let done = harness.until_status(tenant, id, "completed").await;
        assert_eq!(done.results_seen, 10);
    }
    assert_eq!(harness.queue.depth(&harness.queue.dlq_url).await, 0);
}
