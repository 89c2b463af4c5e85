//! `webhook-listener`: the public endpoint the SMS provider calls. Every request's
//! `X-Twilio-Signature` is checked against the public URL and the form before anything
//! is read or stored; then the request is stored and answered at once.
//!
//! Built so far: status callbacks (`POST /twilio/status`, delivery receipts). Inbound
//! SMS, auto-replies and the hand-off to care come next (docs/webhooks.md says what is
//! built).

pub mod config;
pub mod error;
pub mod routes;
pub mod startup;

pub use config::Config;
pub use startup::Application;
