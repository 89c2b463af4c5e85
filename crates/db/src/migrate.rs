//! Applies the embedded migrations. diesel's migration harness is synchronous, so it
//! runs on a blocking thread over diesel-async's connection wrapper (no libpq needed).

use diesel::Connection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::AsyncPgConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::DbError;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Runs every pending migration; returns how many ran.
pub async fn run_pending(database_url: &str) -> Result<usize, DbError> {
    let url = database_url.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)
            .map_err(|e| DbError::Unavailable(e.to_string()))?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| DbError::Unavailable(format!("migration failed: {e}")))?;
        Ok(applied.len())
    })
    .await
    .map_err(|e| DbError::Unavailable(format!("migration task failed: {e}")))?
}
