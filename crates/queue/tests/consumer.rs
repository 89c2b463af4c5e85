//! The consumer loop against LocalStack: a worker that may hold more than ten messages
//! keeps one receive waiting per ten, since one receive brings at most ten.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use nudge_queue::consumer::{self, Handler};
use nudge_queue::{Disposition, ReceivedMessage, SqsQueue};
use nudge_testkit::TestQueue;
use support::{counted_client, CallsInFlight};
use tokio_util::sync::CancellationToken;

struct NoWork;

impl Handler for NoWork {
    async fn process(&self, _message: &ReceivedMessage) -> Disposition {
        Disposition::Delete
    }
}

/// How many receives a worker of `concurrency` keeps waiting on an empty queue (where
/// every call it makes is a long poll).
async fn receives_waiting(concurrency: usize) -> usize {
    let test_queue = TestQueue::new("consumer-loops", 3).await;
    let calls = Arc::new(CallsInFlight::default());
    let queue = SqsQueue::new(counted_client(calls.clone()), &test_queue.url);
    let stop = CancellationToken::new();
    let worker = tokio::spawn(consumer::run(
        Arc::new(NoWork),
        queue,
        concurrency,
        stop.clone(),
    ));
    // Long polls last 20 s: give every loop time to start one, well within that.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let waiting = calls.now.load(Ordering::SeqCst);
    assert_eq!(
        waiting,
        calls.most.load(Ordering::SeqCst),
        "receives ended early on an empty queue"
    );
    // Its last long polls would wait out their 20 s.
    worker.abort();
    waiting
}

#[tokio::test]
async fn a_worker_keeps_one_receive_waiting_per_ten_messages_it_may_hold() {
    assert_eq!(receives_waiting(1).await, 1);
    assert_eq!(receives_waiting(10).await, 1);
    assert_eq!(receives_waiting(25).await, 3);
}
