//! sms-sender's integration tests: the real worker against a fresh database, a fresh
//! SQS queue with a DLQ on LocalStack, and a wiremock Twilio.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

mod accounts;
mod delivery;
mod failures;
mod helpers;
mod metrics;
mod outages;
mod recheck;
mod reconcile;
mod throughput;
mod trace_context;
mod twilio_contract;
mod unsubscribed;
