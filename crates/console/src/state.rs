//! What the console's handlers share (`web::Data<ConsoleState>`), built by
//! messaging-api beside its own state: the same pool, and the same wake-ups of the
//! background work the API runs.

use std::sync::Arc;

use nudge_db::{DbConn, DbPool};
use tokio::sync::Notify;

use crate::error::ConsoleError;
use crate::ConsoleSettings;

pub struct ConsoleState {
    pub pool: DbPool,
    pub settings: ConsoleSettings,
    /// Wakes the outbox relay as soon as a message is accepted.
    pub relay_wakeup: Arc<Notify>,
    /// Wakes the relay of the lead-search queue as soon as a search is accepted.
    pub lead_search_wakeup: Arc<Notify>,
    /// Wakes the campaign expander as soon as a campaign is created.
    pub campaign_wakeup: Arc<Notify>,
    /// Wakes the mailer as soon as an email is queued.
    pub mail_wakeup: Arc<Notify>,
    /// MMS images.
    pub media: nudge_aws::media_store::MediaStore,
    /// Each tenant's messages today, shared with the API's sends in this process.
    pub daily_counts: Arc<nudge_usecases::send::DailyCounts>,
    /// Tells the API in this process that a tenant's keys changed (a revocation), so
    /// that it forgets them at once; other replicas hear it from the database.
    pub keys_changed: Arc<dyn Fn(nudge_domain::TenantId) + Send + Sync>,
}

impl ConsoleState {
    /// A connection, or the "try again" page if the database cannot give one.
    pub async fn conn(&self) -> Result<DbConn, ConsoleError> {
        Ok(self.pool.get().await.map_err(nudge_db::DbError::from)?)
    }
}
