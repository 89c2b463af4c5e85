//! Group commit for single sends: concurrent `POST /v1/messages` requests share one
//! transaction, so that the API is bounded by what Postgres can commit in rows, not in
//! transactions.
//!
//! Each accepted send is a durable commit. Alone, that costs a WAL flush and two round
//! trips per message, and on this hardware the raw one-message transaction commits
//! about 1,500/s whatever the API does around it. Here a request that has done its
//! lookups and checks hands its rows to a committer and waits for the answer; a
//! committer takes every send waiting at that moment (up to [`MAX_GROUP`]) and stores
//! them with [`insert_accepted_many`], one transaction. Nothing waits for a group to
//! fill: a send that arrives when a committer is free is committed at once, alone, so
//! a quiet API answers as fast as before, and a busy one commits in groups as large as
//! its backlog.
//!
//! What a send sees is unchanged: it is answered only after its transaction committed
//! (accepted is durable), and its frequency cap is decided under the same locks and
//! counts as before, including the other messages of the group
//! ([`insert_accepted_many`]). A group whose transaction fails for a reason other than
//! the database being away is stored again one send at a time, so that one tenant's
//! send that the database refuses cannot fail another tenant's.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Mutex};

use super::{insert_accepted_many, CapReached, NewAccepted};
use crate::models::{Message, MessageEvent};
use crate::{DbError, DbPool};

/// Most sends in one transaction (about 25 parameters each, well under Postgres's limit
/// for one statement).
pub const MAX_GROUP: usize = 256;

/// Sends waiting for a committer beyond which a request waits to hand its rows over:
/// back-pressure, so memory stays bounded when the database is slow.
const QUEUE_CAPACITY: usize = 4_096;

/// What a send gets back: stored (the message and its first event), or its frequency
/// cap reached, or the database's error.
pub type Outcome = Result<Result<(Message, MessageEvent), CapReached>, DbError>;

struct Job {
    item: NewAccepted,
    answer: oneshot::Sender<Outcome>,
}

/// The handle requests commit through. Cheap to clone; the committers stop when the
/// last handle is dropped, after committing what they had taken.
#[derive(Clone)]
pub struct GroupCommit {
    jobs: mpsc::Sender<Job>,
}

impl GroupCommit {
    /// Starts `committers` tasks on the current runtime, each with a connection from
    /// `pool` while it commits. Two or more keep the database busy while a group's
    /// answer travels back.
    pub fn start(pool: DbPool, committers: usize) -> Self {
        let (jobs, waiting) = mpsc::channel(QUEUE_CAPACITY);
        let waiting = Arc::new(Mutex::new(waiting));
        for _ in 0..committers.max(1) {
            tokio::spawn(commit_groups(pool.clone(), waiting.clone()));
        }
        Self { jobs }
    }

    /// Stores one message with its first event and outbox row (unless its cap is
    /// reached), in a transaction it may share with other sends; answers once that
    /// transaction has committed.
    pub async fn store(&self, item: NewAccepted) -> Outcome {
        let (answer, outcome) = oneshot::channel();
        self.jobs
            .send(Job { item, answer })
            .await
            .map_err(|_| DbError::Unavailable("the committers have stopped".into()))?;
        outcome.await.map_err(|_| {
            // A committer ended mid-group (its runtime is shutting down): the
            // transaction never committed, so nothing of this send is stored.
            DbError::Unavailable("the send's transaction was abandoned".into())
        })?
    }
}

/// One committer: takes every send waiting (after the first, without waiting for
/// more), commits them together, answers each; until every handle is gone.
async fn commit_groups(pool: DbPool, waiting: Arc<Mutex<mpsc::Receiver<Job>>>) {
    loop {
        let group = {
            let mut waiting = waiting.lock().await;
            let Some(first) = waiting.recv().await else {
                return;
            };
            let mut group = vec![first];
            while group.len() < MAX_GROUP {
                match waiting.try_recv() {
                    Ok(job) => group.push(job),
                    Err(_) => break,
                }
            }
            group
        };
        commit(&pool, group).await;
    }
}

async fn commit(pool: &DbPool, group: Vec<Job>) {
    let (items, answers): (Vec<NewAccepted>, Vec<oneshot::Sender<Outcome>>) =
        group.into_iter().map(|job| (job.item, job.answer)).unzip();
    let size = items.len();
    // Kept to store the sends one by one if the group's transaction is refused.
    let retry: Option<Vec<NewAccepted>> = (size > 1).then(|| items.clone());
    match insert_together(pool, items).await {
        Ok(outcomes) => {
            for (answer, outcome) in answers.into_iter().zip(outcomes) {
                // A request that went away still had its message stored: accepted
                // work is kept.
                let _ = answer.send(Ok(outcome));
            }
        }
        Err(error) => match retry {
            Some(items) if !matches!(error, DbError::Unavailable(_)) => {
                tracing::warn!(%error, sends = size, "a group commit failed; storing its sends one by one");
                for (item, answer) in items.into_iter().zip(answers) {
                    let outcome = insert_together(pool, vec![item])
                        .await
                        .map(|mut outcomes| outcomes.remove(0));
                    let _ = answer.send(outcome);
                }
            }
            _ => {
                let message = error.to_string();
                let mut answers = answers.into_iter();
                if let Some(first) = answers.next() {
                    let _ = first.send(Err(error));
                }
                for answer in answers {
                    let _ = answer.send(Err(DbError::Unavailable(message.clone())));
                }
            }
        },
    }
}

async fn insert_together(
    pool: &DbPool,
    items: Vec<NewAccepted>,
) -> Result<Vec<Result<(Message, MessageEvent), CapReached>>, DbError> {
    let count = items.len();
    let mut conn = pool.get().await?;
    let outcomes = insert_accepted_many(&mut conn, items).await?;
    if outcomes.len() != count {
        return Err(DbError::Corrupt(format!(
            "{} outcomes for {count} sends",
            outcomes.len()
        )));
    }
    Ok(outcomes)
}
