//! `lead-search`: an SQS worker that turns lead searches into leads (docs/leads.md).
//!
//! Layout: `providers` speaks each web search API behind one trait, `profile` reads a
//! result into a lead (canonical profile URL, name, headline, company, location),
//! `job` works one search page by page with its progress in the database, `worker`
//! puts it on the shared queue consumer, `sweeper` queues again searches a dead worker
//! left behind, `config` reads and checks the environment once, and `startup` builds
//! and runs the whole (as `main`, the tests and the benchmark do).

pub mod config;
pub mod job;
pub mod metrics;
pub mod profile;
pub mod providers;
pub mod startup;
pub mod sweeper;
pub mod worker;

pub use config::Config;
pub use startup::Application;
