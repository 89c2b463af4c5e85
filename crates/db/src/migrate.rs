//! Applies the embedded migrations. diesel's migration harness is synchronous, so it
//! runs on a blocking thread over diesel-async's connection wrapper (no libpq needed),
//! on a connection opened as every other is (TLS as the URL's `sslmode` says).

use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::AsyncPgConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::DbError;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Runs every pending migration; returns how many ran.
pub async fn run_pending(database_url: &str) -> Result<usize, DbError> {
    let conn = crate::pool::connect(database_url).await?;
    tokio::task::spawn_blocking(move || {
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::from(conn);
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| DbError::Unavailable(format!("migration failed: {e}")))?;
        Ok(applied.len())
    })
    .await
    .map_err(|e| DbError::Unavailable(format!("migration task failed: {e}")))?
}
