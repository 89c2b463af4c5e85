//! What the queue's tests share: counting the SQS calls a client has in flight.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aws_sdk_sqs::config::interceptors::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_sqs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_sqs::error::BoxError;

/// SQS calls in progress through one client, and the most there were at once.
#[derive(Debug, Default)]
pub struct CallsInFlight {
    pub now: AtomicUsize,
    pub most: AtomicUsize,
}

impl CallsInFlight {
    /// The most calls there were in flight at once.
    #[allow(
        dead_code,
        reason = "not every test binary that shares this module uses it"
    )]
    pub fn most(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }
}

#[derive(Debug)]
pub struct CountCalls(pub Arc<CallsInFlight>);

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

/// An SQS client to LocalStack whose calls are counted in `calls`.
pub fn counted_client(calls: Arc<CallsInFlight>) -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::config::Builder::from(&nudge_testkit::localstack_config())
        .interceptor(CountCalls(calls))
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}
