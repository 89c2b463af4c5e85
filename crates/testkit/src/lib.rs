//! Test helpers shared by the services' test suites (dev-dependency only):
//!
//! - [`TestDb`]: a fresh database per test, cloned from a migrated template (made once
//!   per migration set, under an advisory lock, so parallel test processes share it);
//!   [`TestDb::logical`] makes it on the server with `wal_level=logical`;
//! - [`TestQueue`]: an SQS queue with a random name and its own dead-letter queue on
//!   the shared LocalStack;
//! - [`queued_message`]: a message and its outbox row as the API would store them, and
//!   [`accepted_message`] stored;
//! - [`TestStream`]: a Kinesis stream of its own, and everything on it read back;
//! - [`TcpProxy`]: a port that can be switched between "refuses connections" and
//!   "forwards to X", to take a dependency away and bring it back mid-test;
//! - [`run_browser_script`]: one of the console's Chromium scripts;
//! - [`SmtpSink`]: an SMTP server that keeps what it is sent;
//! - [`Cluster`]: a Postgres server of the test's own, to restart or stop.
//!
//! Environment: `NUDGE_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432`) and
//! the AWS SDK's `AWS_ENDPOINT_URL` (default `http://127.0.0.1:4566`).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test support: a panic is how a test fails"
)]

mod aws;
mod browser;
mod cluster;
mod db;
mod fixtures;
mod kinesis;
mod proxy;
mod smtp;

pub use aws::{
    ensure_media_bucket, localstack_config, localstack_config_at, sqs_client, TestQueue,
};
pub use browser::run_browser_script;
pub use cluster::Cluster;
pub use db::{server_url, TestDb};
pub use fixtures::{
    accepted_message, customer_texts, give_number, insert_shop, queued_message, shop,
    tenant_with_shop, twilio_status_callback, SHOP_NUMBER, TEST_KEYRING,
};
pub use kinesis::{kinesis_client, StreamRecord, TestStream};
pub use proxy::TcpProxy;
pub use smtp::SmtpSink;

/// Runs `cleanup` to completion from a `Drop`: on a thread and a runtime of its own,
/// since `Drop` runs inside the test's runtime, which is blocked until it returns.
/// `cleanup` makes its own clients: the test's pool connections on the blocked runtime.
pub(crate) fn clean_up_in_drop<F, Fut>(cleanup: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let _ = std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(cleanup());
    })
    .join();
}

/// Polls `check` until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: std::time::Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
