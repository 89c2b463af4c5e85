//! Many sends at once (`POST /v1/messages/batch`): the same rules as one send, item by
//! item, with the database work done for the whole batch. Every item's lookups are
//! pipelined together (one round trip for the batch), the tenant's rules and day are
//! read once, and the accepted messages are stored together: the frequency caps of
//! marketing items decided under their recipients' locks in two statements, then three
//! multi-row inserts (`nudge_db::messages::insert_accepted_many`).
//!
//! The batch is one transaction, committed once: one durable commit instead of one
//! per item. If the commit fails nothing was stored, and the whole call fails.

use chrono::{SubsecRound, Utc};
use nudge_db::messages::{CapReached, FrequencyCap, NewAccepted};
use nudge_db::models::Message;
use nudge_db::{AsyncConnection, AsyncPgConnection};

use super::{
    check_daily_cap, check_request, frequency_cap_refusal, look_up, ready, SendRequest, Sender,
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
    let mut outcomes: Vec<Result<NewAccepted, Error>> = Vec::with_capacity(requests.len());
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

    // Stored together; a marketing item may still meet its recipient's cap. The
    // store answers one outcome per stored item, in order.
    let mut to_store = Vec::new();
    let checked: Vec<Result<Option<FrequencyCap>, Error>> = outcomes
        .into_iter()
        .map(|outcome| {
            outcome.map(|item| {
                let cap = item.cap;
                to_store.push(item);
                cap
            })
        })
        .collect();
    let mut stored = nudge_db::messages::insert_accepted_many(conn, to_store)
        .await?
        .into_iter();
    let results = checked
        .into_iter()
        .map(|checked| {
            let cap = checked?;
            match stored.next() {
                Some(Ok((message, _))) => Ok(message),
                Some(Err(CapReached { already })) => {
                    Err(frequency_cap_refusal(already, cap).into())
                }
                None => Err(Error::Internal(anyhow::anyhow!(
                    "the store answered fewer outcomes than items"
                ))),
            }
        })
        .collect();
    Ok(results)
}
