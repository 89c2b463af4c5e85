//! Many sends at once (`POST /v1/messages/batch`): the same rules as one send, item by
//! item, with the database work done for the whole batch. Every item's lookups are
//! pipelined together (one round trip for the batch), the tenant's rules and day are
//! read once, and the accepted messages without a frequency cap to check
//! (transactional ones) are stored with three multi-row inserts. Marketing items are
//! stored one by one, each under its recipient's cap lock.
//!
//! The batch is one transaction, committed once: one durable commit instead of one
//! per item. If the commit fails nothing was stored, and the whole call fails.

use chrono::{SubsecRound, Utc};
use nudge_db::messages::{Accepted, NewAccepted};
use nudge_db::models::Message;
use nudge_db::{AsyncConnection, AsyncPgConnection};

use super::{
    check_daily_cap, check_request, frequency_cap_refusal, look_up, ready, Ready, SendRequest,
    Sender,
};
use crate::Error;

/// One outcome per request, in order. An `Err` of the whole call means the batch
/// could not be worked at all (the database).
pub async fn accept_batch(
    conn: &mut AsyncPgConnection,
    sender: Sender<'_>,
    requests: Vec<SendRequest>,
    traceparent: Option<String>,
) -> Result<Vec<Result<Message, Error>>, Error> {
    let outcomes = conn
        .transaction::<_, Error, _>(async |conn| {
            accept_in_transaction(conn, sender, requests, traceparent).await
        })
        .await?;
    let accepted = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
    // Counted once committed.
    sender
        .daily
        .accepted(sender.tenant, i64::try_from(accepted).unwrap_or(i64::MAX));
    Ok(outcomes)
}

async fn accept_in_transaction(
    conn: &mut AsyncPgConnection,
    sender: Sender<'_>,
    requests: Vec<SendRequest>,
    traceparent: Option<String>,
) -> Result<Vec<Result<Message, Error>>, Error> {
    let tenant = sender.tenant;
    // As Postgres stores it: the messages answered are not read back.
    let now = Utc::now().trunc_subsecs(6);
    let (references, (rules, today)) = {
        let shared: &AsyncPgConnection = conn;
        futures_util::future::join(
            futures_util::future::try_join_all(
                requests
                    .iter()
                    .map(|request| look_up(shared, tenant, request)),
            ),
            futures_util::future::join(
                nudge_db::tenants::sending_rules(shared, tenant),
                sender.daily.today(shared, tenant, now),
            ),
        )
        .await
    };
    let (references, rules, mut today) = (references?, rules?, today?);

    // Each item checked as a single send would be, in the same order of answers.
    let mut outcomes: Vec<Result<Ready, Error>> = Vec::with_capacity(requests.len());
    for (request, references) in requests.into_iter().zip(references) {
        let outcome = check_request(request, references, now).and_then(|checked| {
            rules.check(&checked.to)?;
            check_daily_cap(sender, today, now)?;
            let ready = ready(
                tenant,
                checked.delivery(sender.origin),
                now,
                traceparent.clone(),
            )?;
            today += 1;
            Ok(ready)
        });
        outcomes.push(outcome);
    }

    // Those without a cap to check, together; the others one by one, under their lock.
    let (mut together_at, mut together) = (Vec::new(), Vec::new());
    let mut results: Vec<Option<Result<Message, Error>>> = Vec::with_capacity(outcomes.len());
    for (index, outcome) in outcomes.into_iter().enumerate() {
        match outcome {
            Err(error) => results.push(Some(Err(error))),
            Ok(ready) if ready.cap.is_none() => {
                together_at.push(index);
                together.push(NewAccepted {
                    message: ready.message,
                    outbox_row: ready.outbox_row,
                    detail: ready.first_event_detail,
                });
                results.push(None);
            }
            Ok(ready) => {
                let cap = ready.cap;
                let stored = nudge_db::messages::insert_accepted_within_cap(
                    conn,
                    &ready.message,
                    &ready.outbox_row,
                    ready.cap,
                    ready.first_event_detail,
                    None,
                )
                .await?;
                results.push(Some(match stored {
                    Accepted::Stored { message, .. } => Ok(*message),
                    Accepted::CapReached { already } => {
                        Err(frequency_cap_refusal(already, cap).into())
                    }
                }));
            }
        }
    }
    nudge_db::messages::insert_accepted_many(conn, &together).await?;
    for (index, row) in together_at.into_iter().zip(together) {
        results[index] = Some(Ok(row.message));
    }
    Ok(results
        .into_iter()
        .map(|result| {
            result.unwrap_or_else(|| {
                Err(Error::Internal(anyhow::anyhow!(
                    "a batch item was left without an outcome"
                )))
            })
        })
        .collect())
}
