//! The consumer loop against LocalStack: a worker that may hold more than ten messages
//! keeps one receive waiting per ten, since one receive brings at most ten.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::config::interceptors::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_sqs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_sqs::error::BoxError;
use nudge_queue::consumer::{self, Handler};
use nudge_queue::{Disposition, ReceivedMessage, SqsQueue};
use nudge_testkit::TestQueue;
use tokio_util::sync::CancellationToken;

/// SQS calls in progress through one client, and the most there were at once.
#[derive(Debug, Default)]
struct CallsInFlight {
    now: AtomicUsize,
    most: AtomicUsize,
}

#[derive(Debug)]
struct CountCalls(Arc<CallsInFlight>);

impl Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "CountCalls"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let now = self.0.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.0.most.fetch_max(now, Ordering::SeqCst);
        Ok(())
    }

    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    }
}

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
    let config = aws_sdk_sqs::config::Builder::from(&nudge_testkit::localstack_config())
        .interceptor(CountCalls(calls.clone()))
        .build();
    let queue = SqsQueue::new(aws_sdk_sqs::Client::from_conf(config), &test_queue.url);
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
