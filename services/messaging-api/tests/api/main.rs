//! messaging-api's integration tests: the real app on a random port, a fresh database
//! per test, a fresh SQS queue per test on LocalStack.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

mod admission;
mod api_keys;
mod batch;
mod campaigns;
mod capture;
mod consent;
mod console;
mod conversations;
mod dead_letters;
mod frequency_cap;
mod health;
mod helpers;
mod idempotency;
mod isolation;
mod leads;
mod limits;
mod messages;
mod openapi;
mod outbox;
mod provider_accounts;
mod quiet_hours;
mod resources;
mod sandbox;
mod scheduling;
mod sender_numbers;
mod smart_encoding;
mod tenancy;
