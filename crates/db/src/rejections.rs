//! Queue messages that can never be processed, recorded before the queue's redrive
//! policy moves them to the dead-letter queue, so an operator can see why.

use chrono::Utc;
use diesel::{BoolExpressionMethods, ExpressionMethods, QueryDsl, SelectableHelper};
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
        body_excerpt: excerpt(body),
        receive_count,
        at: Utc::now(),
    };
    diesel::insert_into(queue_rejections::table)
        .values(&row)
        .execute(conn)
        .await?;
    Ok(())
}

/// The recorded rejections of these queue messages, newest first: matched by SQS
/// message id, or by body for a message that came back under a new id (a redrive).
pub async fn for_messages(
    conn: &mut AsyncPgConnection,
    sqs_message_ids: &[String],
    bodies: &[String],
) -> Result<Vec<QueueRejection>, DbError> {
    let excerpts: Vec<String> = bodies.iter().map(|body| excerpt(body)).collect();
    Ok(queue_rejections::table
        .filter(
            queue_rejections::sqs_message_id
                .eq_any(sqs_message_ids)
                .or(queue_rejections::body_excerpt.eq_any(excerpts)),
        )
        .order(queue_rejections::at.desc())
        .select(QueueRejection::as_select())
        .load(conn)
        .await?)
}

/// What is stored of a rejected body.
pub fn excerpt(body: &str) -> String {
    body.chars().take(EXCERPT_CHARS).collect()
}
