//! `sms-sender`: long-polls `outbound-sms`, claims each message in the database so that
//! a redelivered queue message never sends twice, calls the Twilio Messages API, and
//! records the outcome in the message's timeline.
//!
//! `process` decides what to do with one queue message and returns a
//! [`nudge_queue::Disposition`]; `worker` is the loop that receives and applies it.

pub mod accounts;
pub mod batcher;
pub mod batches;
pub mod config;
pub mod metrics;
pub mod process;
pub mod retry;
pub mod startup;
pub mod throughput;
pub mod twilio;
pub mod worker;

pub use config::Config;
pub use startup::Application;
