//! The sender's database work that is made in batches (see `batcher`): the lookup
//! before the throttle, the claim before the provider call and the record after it.
//! Each message still makes its own requests; whatever piles up while the previous
//! batch is in the database goes in the next one.

use nudge_db::messages::{Claim, Lease, SentRecord};
use nudge_db::models::Message;
use nudge_db::DbPool;
use nudge_domain::{MessageId, TenantId};

use crate::batcher::Batcher;

/// A message looked up in its tenant (`nudge_db::messages::find_many`).
pub type LookupBatcher = Batcher<(TenantId, MessageId), Option<Message>>;

/// Claims (`nudge_db::messages::claim_many`): one transaction, and one wait for the
/// disk, for all the messages whose claim is waiting.
pub type ClaimBatcher = Batcher<(TenantId, MessageId), Claim>;

/// Sends recorded (`nudge_db::messages::record_sent_many`): one transaction for all
/// the sends whose record is waiting.
pub type RecordBatcher = Batcher<SentRecord, ()>;

pub struct Batches {
    pub lookups: LookupBatcher,
    pub claims: ClaimBatcher,
    pub records: RecordBatcher,
}

impl Batches {
    /// The batchers of a sender with this pool, name and lease, each batch at most
    /// `max` requests (the sender's concurrency: no more can be waiting).
    pub fn start(pool: &DbPool, worker_id: &str, lease: chrono::Duration, max: usize) -> Self {
        Self {
            lookups: lookups(pool.clone(), max),
            claims: claims(pool.clone(), worker_id.to_owned(), lease, max),
            records: records(pool.clone(), max),
        }
    }
}

fn lookups(pool: DbPool, max: usize) -> LookupBatcher {
    Batcher::start(max, move |wanted: Vec<(TenantId, MessageId)>| {
        let pool = pool.clone();
        async move {
            let mut conn = pool.get().await?;
            let found = nudge_db::messages::find_many(&mut conn, &wanted).await?;
            Ok(found.into_iter().map(Ok).collect())
        }
    })
}

fn claims(pool: DbPool, worker_id: String, lease: chrono::Duration, max: usize) -> ClaimBatcher {
    Batcher::start(max, move |items| {
        let (pool, worker) = (pool.clone(), worker_id.clone());
        async move {
            let mut conn = pool.get().await?;
            let lease = Lease {
                worker: &worker,
                duration: lease,
            };
            nudge_db::messages::claim_many(&mut conn, &items, &lease).await
        }
    })
}

fn records(pool: DbPool, max: usize) -> RecordBatcher {
    Batcher::start(max, move |records: Vec<SentRecord>| {
        let pool = pool.clone();
        async move {
            let mut conn = pool.get().await?;
            nudge_db::messages::record_sent_many(&mut conn, &records).await?;
            Ok(records.iter().map(|_| Ok(())).collect())
        }
    })
}
