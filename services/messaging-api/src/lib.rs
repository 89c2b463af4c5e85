//! `messaging-api`: the REST gateway merchants call. See docs/api.md for the contract
//! and docs/configuration.md for its variables.
//!
//! Layout: `startup` wires the app (the binary only loads config and calls it), `routes`
//! holds one module per resource, `error` is the one place errors become HTTP, `auth`
//! and `extract` turn requests into typed, validated values. What a request asks for
//! (a send, a campaign, a lead search) is done by `nudge_usecases`, shared with the
//! console (`nudge_console`, mounted under `/console`). The outbox relay that moves
//! accepted messages from the database to SQS is `nudge_queue::relay`, shared with the
//! webhook listener.

pub mod admin;
pub mod auth;
pub mod config;
pub mod error;
pub mod extract;
pub mod housekeeping;
pub mod idempotency;
pub mod key_cache;
pub mod leads;
pub mod limits;
pub mod openapi;
pub mod rate_windows;
pub mod routes;
pub mod startup;
pub mod views;

pub use config::Config;
pub use startup::Application;
