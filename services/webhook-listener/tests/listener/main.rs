//! webhook-listener's integration tests: the real app on a random port against a fresh
//! database, called the way Twilio calls it (signed forms).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

mod accounts;
mod care;
mod fairness;
mod helpers;
mod inbound;
mod numbers;
mod signatures;
mod status_callbacks;
