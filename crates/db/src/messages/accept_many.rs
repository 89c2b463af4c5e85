//! Many accepted messages stored at once (a batch request, a page of a campaign): the
//! same rows and the same frequency cap as [`super::insert_accepted_within_cap`], with
//! a fixed number of statements whatever the count: the cap locks in one statement, the
//! cap counts in one, then three multi-row inserts, pipelined.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Interval, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use uuid::Uuid;

use super::{first_event, FrequencyCap};
use crate::models::{Message, MessageEvent, OutboxRow};
use crate::prepared::{bind, prepared};
use crate::schema::{message_events, messages, outbox};
use crate::DbError;

/// Rows per multi-row insert: Postgres takes at most 65,535 parameters per statement,
/// and a message has about 25 columns.
const ROWS_PER_INSERT: usize = 1_000;

/// A message ready to store with its outbox row, its first event's detail, and the
/// frequency cap it must fit under (marketing), if any.
#[derive(Debug, Clone)]
pub struct NewAccepted {
    pub message: Message,
    pub outbox_row: OutboxRow,
    pub detail: Value,
    pub cap: Option<FrequencyCap>,
}

/// A message refused because its recipient already has `already` marketing messages
/// in the cap's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapReached {
    pub already: i64,
}

/// Stores `accepted` in one transaction (a savepoint inside the caller's): each message
/// with its first event and outbox row, unless its cap is reached. One outcome per
/// message, in order: the message stored and its first event, or the cap reached.
///
/// The caps are decided as one send would decide them: under the per-(shop, recipient)
/// transaction locks (taken together, sorted, so that two writers cannot deadlock),
/// counting the recipient's marketing messages within the window of this one's send
/// time, including those stored earlier in the same call.
pub async fn insert_accepted_many(
    conn: &mut AsyncPgConnection,
    accepted: Vec<NewAccepted>,
) -> Result<Vec<Result<(Message, MessageEvent), CapReached>>, DbError> {
    if accepted.is_empty() {
        return Ok(Vec::new());
    }
    conn.transaction::<_, DbError, _>(async |conn| {
        let verdicts = decide_caps(conn, &accepted).await?;
        let mut stored = Vec::with_capacity(accepted.len());
        let mut outcomes = Vec::with_capacity(accepted.len());
        for (item, verdict) in accepted.into_iter().zip(verdicts) {
            match verdict {
                Some(reached) => outcomes.push(Some(reached)),
                None => {
                    let event = first_event(&item.message, item.detail);
                    stored.push((item.message, item.outbox_row, event));
                    outcomes.push(None);
                }
            }
        }
        insert_rows(conn, &stored).await?;
        let mut stored = stored.into_iter();
        Ok(outcomes
            .into_iter()
            .filter_map(|outcome| match outcome {
                Some(reached) => Some(Err(reached)),
                None => stored
                    .next()
                    .map(|(message, _, event)| Ok((message, event))),
            })
            .collect())
    })
    .await
}

/// The three multi-row inserts of each chunk, sent together (the server runs them in
/// order, so a message precedes what refers to it): one round trip per chunk.
async fn insert_rows(
    conn: &mut AsyncPgConnection,
    stored: &[(Message, OutboxRow, MessageEvent)],
) -> Result<(), DbError> {
    let shared: &AsyncPgConnection = conn;
    for chunk in stored.chunks(ROWS_PER_INSERT) {
        let messages: Vec<&Message> = chunk.iter().map(|(message, _, _)| message).collect();
        let outbox_rows: Vec<&OutboxRow> = chunk.iter().map(|(_, row, _)| row).collect();
        let events: Vec<&MessageEvent> = chunk.iter().map(|(_, _, event)| event).collect();
        futures_util::future::try_join3(
            diesel::insert_into(messages::table)
                .values(messages)
                .execute(&mut &*shared),
            diesel::insert_into(message_events::table)
                .values(events)
                .execute(&mut &*shared),
            diesel::insert_into(outbox::table)
                .values(outbox_rows)
                .execute(&mut &*shared),
        )
        .await?;
    }
    Ok(())
}

/// For each message, `Some` when its cap is reached. Messages without a cap are never
/// refused, and cost nothing here.
async fn decide_caps(
    conn: &mut AsyncPgConnection,
    accepted: &[NewAccepted],
) -> Result<Vec<Option<CapReached>>, DbError> {
    let capped: Vec<(&Message, FrequencyCap)> = accepted
        .iter()
        .filter_map(|item| Some((&item.message, item.cap?)))
        .collect();
    if capped.is_empty() {
        return Ok(vec![None; accepted.len()]);
    }
    let mut keys: Vec<String> = capped
        .iter()
        .map(|(message, _)| super::cap_lock_key(message))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    crate::locks::transaction_locks(conn, &keys).await?;
    let mut counts = count_in_windows(conn, &capped).await?.into_iter();

    // Those stored earlier in this call count too: (shop, recipient) -> their send times.
    let mut earlier: HashMap<(Uuid, &str), Vec<DateTime<Utc>>> = HashMap::new();
    let mut verdicts = Vec::with_capacity(accepted.len());
    for item in accepted {
        let Some(cap) = item.cap else {
            verdicts.push(None);
            continue;
        };
        let message = &item.message;
        let at = effective_at(message);
        let times = earlier
            .entry((message.shop_id, message.to_number.as_str()))
            .or_default();
        let in_this_call = times
            .iter()
            .filter(|t| (**t - at).abs() < cap.window)
            .count();
        let already = counts.next().unwrap_or(0) + i64::try_from(in_this_call).unwrap_or(i64::MAX);
        if already >= cap.count {
            verdicts.push(Some(CapReached { already }));
        } else {
            times.push(at);
            verdicts.push(None);
        }
    }
    Ok(verdicts)
}

/// When a message counts for the cap: its send time, else when it was accepted.
fn effective_at(message: &Message) -> DateTime<Utc> {
    message.send_at.unwrap_or(message.created_at)
}

/// The same count as [`super::count_in_window`] for each message, in order, in one
/// statement: the stored marketing messages (not failed or cancelled) to the same
/// recipient of the same shop within the window of the message's send time.
const COUNT_IN_WINDOWS: &str = "\
SELECT (SELECT count(*) FROM messages m \
         WHERE m.tenant_id = w.tenant_id AND m.shop_id = w.shop_id \
           AND m.to_number = w.to_number AND m.category = 'marketing' \
           AND m.status <> ALL (ARRAY['failed', 'cancelled']) \
           AND coalesce(m.send_at, m.created_at) > w.around - w.span \
           AND coalesce(m.send_at, m.created_at) < w.around + w.span) AS already \
  FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], $5::interval[]) \
       WITH ORDINALITY AS w(tenant_id, shop_id, to_number, around, span, position) \
 ORDER BY w.position";

#[derive(diesel::QueryableByName)]
struct Already {
    #[diesel(sql_type = BigInt)]
    already: i64,
}

async fn count_in_windows(
    conn: &mut AsyncPgConnection,
    capped: &[(&Message, FrequencyCap)],
) -> Result<Vec<i64>, DbError> {
    let tenants: Vec<Uuid> = capped.iter().map(|(m, _)| m.tenant_id).collect();
    let shops: Vec<Uuid> = capped.iter().map(|(m, _)| m.shop_id).collect();
    let numbers: Vec<&str> = capped.iter().map(|(m, _)| m.to_number.as_str()).collect();
    let times: Vec<DateTime<Utc>> = capped.iter().map(|(m, _)| effective_at(m)).collect();
    let windows: Vec<diesel::data_types::PgInterval> = capped
        .iter()
        .map(|(_, cap)| {
            diesel::data_types::PgInterval::from_microseconds(
                cap.window.num_microseconds().unwrap_or(i64::MAX),
            )
        })
        .collect();
    let rows: Vec<Already> = prepared(
        COUNT_IN_WINDOWS,
        vec![
            Box::new(bind::<Array<SqlUuid>, _>(tenants)),
            Box::new(bind::<Array<SqlUuid>, _>(shops)),
            Box::new(bind::<Array<Text>, _>(numbers)),
            Box::new(bind::<Array<Timestamptz>, _>(times)),
            Box::new(bind::<Array<Interval>, _>(windows)),
        ],
    )
    .load(conn)
    .await?;
    if rows.len() != capped.len() {
        return Err(DbError::Corrupt(format!(
            "{} cap counts for {} messages",
            rows.len(),
            capped.len()
        )));
    }
    Ok(rows.into_iter().map(|row| row.already).collect())
}
