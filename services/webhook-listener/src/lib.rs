//! `webhook-listener`: the public endpoint the SMS provider calls, and what follows from
//! its calls. Every request's `X-Twilio-Signature` is checked against the public URL and
//! the form before anything is read or stored; then the request is stored and answered
//! at once, and the slow work happens behind a queue:
//!
//! - `routes`: status callbacks (`POST /twilio/status`) and inbound SMS
//!   (`POST /twilio/inbound`, stored in a conversation, `inbound_sms.v1` queued);
//! - `processing`: the worker on `inbound-sms` (STOP/START/HELP, the shop's bot and its
//!   fulfilment, hand-off to care);
//! - `dispatch`: merchants' webhooks (events, care hand-offs), signed and retried;
//! - `merchant_http`: the one way to call a merchant's URL (signed, SSRF-checked).

pub mod config;
pub mod dispatch;
pub mod error;
pub mod merchant_http;
pub mod processing;
pub mod routes;
pub mod startup;

pub use config::Config;
pub use startup::Application;
