//! Nudge's database: the migrations, the diesel schema generated from them, the models
//! beside it, and the queries. Every query of merchant data takes a `TenantId` and
//! filters on it; there is no function here that reads a merchant's row without one.
//!
//! The sender and the outbox relay work across tenants by nature (they drain queues);
//! their functions still carry the tenant the queue message names. The one lookup
//! without a tenant is a provider's callback finding its message by the provider's
//! sid (`callbacks`): the provider does not know tenants; what follows is scoped by the
//! tenant of the message found. The console's sign-in (by email) and session lookup (by
//! the cookie's token) are the others: they are how a person's tenant is learnt. An
//! inbound SMS finds its tenant through the owner of the number it was sent to
//! (`sender_numbers::owner`).

pub mod bot_rules;
pub mod callbacks;
pub mod campaigns;
pub mod consent;
pub mod console;
pub mod conversations;
pub mod customers;
pub mod error;
pub mod idempotency;
pub mod inbound;
pub mod lead_searches;
pub mod leads;
pub mod limits;
mod locks;
pub mod media;
pub mod messages;
pub mod migrate;
pub mod models;
pub mod outbound;
pub mod outbox;
pub mod page;
pub mod pool;
mod prepared;
pub mod provider_accounts;
pub mod rate;
pub mod rejections;
pub mod schema;
pub mod scope;
pub mod sender_numbers;
pub mod shops;
pub mod templates;
pub mod tenants;
pub mod verified_numbers;
pub mod webhooks;

pub use diesel::result::Error as DieselError;
pub use diesel_async::{AsyncConnection, AsyncPgConnection};
pub use error::DbError;
pub use page::{Page, PageRequest};
pub use pool::{build_pool, build_pool_verifying_after, connect, ping, DbConn, DbPool};
