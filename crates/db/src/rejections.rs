//! Queue messages that can never be processed, recorded before the queue's redrive
//! policy moves them to the dead-letter queue, so an operator can see why.

use chrono::Utc;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::models::QueueRejection;
use crate::schema::queue_rejections;
use crate::DbError;

/// Enough of the body to recognise it; the whole body stays in the DLQ.
const EXCERPT_CHARS: usize = 2_000;

pub async fn record(
    conn: &mut AsyncPgConnection,
    queue: &str,
    sqs_message_id: &str,
    reason: &str,
    body: &str,
    receive_count: i32,
) -> Result<(), DbError> {
    let row = QueueRejection {
        id: Uuid::now_v7(),
        queue: queue.to_owned(),
        sqs_message_id: sqs_message_id.to_owned(),
        reason: reason.to_owned(),
        body_excerpt: body.chars().take(EXCERPT_CHARS).collect(),
        receive_count,
        at: Utc::now(),
    };
    diesel::insert_into(queue_rejections::table)
        .values(&row)
        .execute(conn)
        .await?;
    Ok(())
}
