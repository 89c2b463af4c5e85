//! The last net under "accepted work is never lost": a search left `running` by a
//! worker that died, whose queue message is gone as well (dead-lettered, purged, lost
//! with a LocalStack restart), would otherwise wait for ever. Every `interval` the
//! sweeper queues such searches again (`lead_searches::resume_orphans`). Normally a dead
//! worker's message comes back after its lease and the next worker takes over long
//! before this.

use std::time::Duration;

use nudge_db::DbPool;
use tokio_util::sync::CancellationToken;

pub async fn run(
    pool: DbPool,
    stale_for: Duration,
    interval: Duration,
    metrics: crate::metrics::Metrics,
    stop: CancellationToken,
) {
    let stale_for = chrono::Duration::from_std(stale_for).unwrap_or(chrono::Duration::minutes(5));
    loop {
        let swept = async {
            let mut conn = pool.get().await?;
            nudge_db::lead_searches::resume_orphans(&mut conn, stale_for).await
        }
        .await;
        match swept {
            Ok(0) => {}
            Ok(count) => {
                metrics
                    .orphans_requeued
                    .inc_by(u64::try_from(count).unwrap_or(0));
                tracing::warn!(
                    count,
                    "lead searches orphaned by a dead worker queued again"
                );
            }
            Err(error) => tracing::warn!(%error, "could not look for orphaned lead searches"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}
