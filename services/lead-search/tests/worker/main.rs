//! lead-search against real Postgres, real LocalStack SQS and the sandbox's fakes of
//! Google Custom Search, Brave and SearXNG (their documented shapes, limits and
//! errors): paging to each provider's limit, waits on 429s and budgets, crashes,
//! tenants, poison messages.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

mod database;
mod failures;
mod helpers;
mod paging;
