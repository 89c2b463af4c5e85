//! Periodic clean-up that any API replica may do: purging expired idempotency keys, old
//! rate-limit windows, and console sessions and links that can no longer be used.
//! Deleting is idempotent, so replicas doing it at once is harmless.

use std::time::Duration;

use nudge_db::DbPool;
use tokio_util::sync::CancellationToken;

const EVERY: Duration = Duration::from_secs(600);

pub async fn run(pool: DbPool, stop: CancellationToken) {
    loop {
        match purge(&pool).await {
            Ok(0) => {}
            Ok(purged) => {
                tracing::info!(purged, "expired idempotency keys and rate windows purged")
            }
            Err(error) => tracing::warn!(%error, "housekeeping failed"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(EVERY) => {}
        }
    }
}

async fn purge(pool: &DbPool) -> Result<usize, nudge_db::DbError> {
    let mut conn = pool.get().await?;
    let keys = nudge_db::idempotency::purge_expired(&mut conn).await?;
    let sends = nudge_db::messages::purge_accepted_requests(
        &mut conn,
        nudge_db::idempotency::KEY_LIFETIME_HOURS,
    )
    .await?;
    let windows = nudge_db::limits::purge_old_windows(&mut conn).await?;
    let console = nudge_db::console::delete_expired(&mut conn, chrono::Utc::now()).await?;
    Ok(keys + sends + windows + console)
}
