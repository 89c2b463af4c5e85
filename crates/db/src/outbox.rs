//! The outbox relay's side of the table: take a batch of due rows under
//! `FOR UPDATE SKIP LOCKED` (several API replicas can relay at once without sending a
//! row twice), publish them, delete the ones the queue took and push back the others.

use std::future::Future;

use chrono::{Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::models::OutboxRow;
use crate::schema::outbox;
use crate::DbError;

/// The logical queue of outbound SMS (the relay maps it to the configured SQS queue).
pub const OUTBOUND_SMS_QUEUE: &str = "outbound-sms";

/// What happened to one batch.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RelayOutcome {
    pub published: usize,
    pub failed: usize,
}

/// A row the queue refused, and why.
pub struct Refused {
    pub id: Uuid,
    pub error: String,
}

/// Relays up to `limit` due rows of `queue` through `publish`, which returns the rows the queue
/// refused. Rows stay locked until the queue has answered; a row is deleted only once
/// the queue has it, so a crash anywhere means a resend, never a loss.
pub async fn relay_batch<F, Fut>(
    conn: &mut AsyncPgConnection,
    queue: &str,
    limit: i64,
    publish: F,
) -> Result<RelayOutcome, DbError>
where
    F: FnOnce(Vec<OutboxRow>) -> Fut + Send,
    Fut: Future<Output = Vec<Refused>> + Send,
{
    conn.transaction::<_, DbError, _>(async move |conn| {
        let rows: Vec<OutboxRow> = outbox::table
            .filter(outbox::queue.eq(queue))
            .filter(outbox::available_at.le(diesel::dsl::now))
            .order(outbox::id.asc())
            .limit(limit)
            .for_update()
            .skip_locked()
            .select(OutboxRow::as_select())
            .load(conn)
            .await?;
        if rows.is_empty() {
            return Ok(RelayOutcome::default());
        }
        let attempts: std::collections::HashMap<Uuid, i32> =
            rows.iter().map(|row| (row.id, row.attempts)).collect();
        let announced: std::collections::HashMap<Uuid, Uuid> = rows
            .iter()
            .filter_map(|row| Some((row.id, row.message_id?)))
            .collect();
        let all: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
        let refused = publish(rows).await;
        let refused_ids: Vec<Uuid> = refused.iter().map(|r| r.id).collect();
        let published: Vec<Uuid> = all
            .into_iter()
            .filter(|id| !refused_ids.contains(id))
            .collect();
        diesel::delete(outbox::table.filter(outbox::id.eq_any(&published)))
            .execute(conn)
            .await?;
        let released: Vec<Uuid> = published
            .iter()
            .filter_map(|id| announced.get(id).copied())
            .collect();
        crate::messages::release_scheduled(conn, &released).await?;
        for row in &refused {
            let tries = attempts.get(&row.id).copied().unwrap_or(0) + 1;
            diesel::update(outbox::table.filter(outbox::id.eq(row.id)))
                .set((
                    outbox::attempts.eq(tries),
                    outbox::last_error.eq(&row.error),
                    outbox::available_at.eq(Utc::now() + retry_delay(tries)),
                ))
                .execute(conn)
                .await?;
        }
        Ok(RelayOutcome {
            published: published.len(),
            failed: refused.len(),
        })
    })
    .await
}

/// Exponential backoff for a refused row: 1 s, 2 s, 4 s ... capped at one minute, so a
/// queue that comes back is caught up with quickly.
fn retry_delay(attempts: i32) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(6);
    Duration::seconds((1_i64 << exponent).min(60))
}

/// How many rows wait to be relayed (for readiness and metrics).
pub async fn pending(conn: &mut AsyncPgConnection) -> Result<i64, DbError> {
    Ok(outbox::table.count().get_result(conn).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(retry_delay(1), Duration::seconds(1));
        assert_eq!(retry_delay(2), Duration::seconds(2));
        assert_eq!(retry_delay(4), Duration::seconds(8));
        assert_eq!(retry_delay(50), Duration::seconds(60));
    }
}
