//! Database writes that must be durable before the sender goes on (the claim before the
//! provider call, the provider's sid after it) are each one commit, and a commit waits
//! for the disk. The messages a sender has in hand make their writes through a batcher:
//! whatever has piled up while the previous batch was committing goes in the next
//! transaction together, so a busy sender pays one wait for the disk for many messages
//! and an idle one adds no delay (a lone request is sent at once). Reads that every
//! message makes (its row, before the throttle) are batched the same way, for the round
//! trips.
//!
//! A batch that fails for any reason but the database being away is tried again one
//! request at a time, so that a request the database refuses fails alone.

use std::future::Future;
use std::sync::Arc;

use nudge_db::DbError;
use tokio::sync::{mpsc, oneshot};

/// What a batch of requests answers: one result per request, in order; the outer `Err`
/// (nothing was written) goes to every request.
pub type BatchAnswer<A> = Result<Vec<Result<A, DbError>>, DbError>;

/// A request's answer: the batch's error is shared by all its requests.
pub type Answer<A> = Result<A, Arc<DbError>>;

struct Request<R, A> {
    request: R,
    answer: oneshot::Sender<Answer<A>>,
}

/// Hands requests of type `R` to a task that runs them in batches of at most `max`.
pub struct Batcher<R, A> {
    requests: mpsc::Sender<Request<R, A>>,
}

impl<R: Clone + Send + 'static, A: Send + 'static> Batcher<R, A> {
    /// Starts the task; it ends when the batcher is dropped. `run` writes a batch.
    pub fn start<F, Fut>(max: usize, run: F) -> Self
    where
        F: Fn(Vec<R>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = BatchAnswer<A>> + Send,
    {
        let max = max.max(1);
        let (requests, mut received) = mpsc::channel::<Request<R, A>>(max * 4);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(max);
            while received.recv_many(&mut batch, max).await > 0 {
                let (requests, answers): (Vec<R>, Vec<_>) = batch
                    .drain(..)
                    .map(|Request { request, answer }| (request, answer))
                    .unzip();
                match run_isolating_failures(&run, requests).await {
                    Ok(results) => {
                        for (answer, result) in answers.into_iter().zip(results) {
                            // A requester that gave up (its task stopped) needs no answer.
                            let _ = answer.send(result.map_err(Arc::new));
                        }
                    }
                    Err(error) => {
                        let error = Arc::new(error);
                        for answer in answers {
                            let _ = answer.send(Err(error.clone()));
                        }
                    }
                }
            }
        });
        Self { requests }
    }

    /// Runs `request` in the next batch and waits for its answer.
    pub async fn submit(&self, request: R) -> Answer<A> {
        let (answer, answered) = oneshot::channel();
        let stopped = || Arc::new(DbError::Unavailable("the batcher has stopped".into()));
        self.requests
            .send(Request { request, answer })
            .await
            .map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

/// Runs the batch; if it fails, and not for want of a database, runs each request
/// alone.
async fn run_isolating_failures<R, A, F, Fut>(run: &F, requests: Vec<R>) -> BatchAnswer<A>
where
    R: Clone,
    F: Fn(Vec<R>) -> Fut,
    Fut: Future<Output = BatchAnswer<A>>,
{
    let size = requests.len();
    match run(requests.clone()).await {
        Err(error) if size > 1 && !matches!(error, DbError::Unavailable(_)) => {
            tracing::warn!(%error, size, "a batch failed; trying its requests one at a time");
            let mut results = Vec::with_capacity(size);
            for request in requests {
                results.push(match run(vec![request]).await {
                    Ok(mut one) => one.pop().unwrap_or_else(|| {
                        Err(DbError::Corrupt("a batch of one without an answer".into()))
                    }),
                    Err(error) => Err(error),
                });
            }
            Ok(results)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn requests_that_pile_up_go_together_and_each_gets_its_own_answer() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let batcher = Arc::new(Batcher::start(4, move |batch: Vec<u32>| {
            seen.lock().unwrap().push(batch.len());
            async move {
                // Slow enough for the others to pile up behind the first.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                Ok(batch
                    .into_iter()
                    .map(|n| {
                        if n == 3 {
                            Err(DbError::Corrupt("three".into()))
                        } else {
                            Ok(n * 10)
                        }
                    })
                    .collect())
            }
        }));
        let waiting: Vec<_> = (0..9)
            .map(|n| {
                let batcher = batcher.clone();
                tokio::spawn(async move { batcher.submit(n).await.map_err(|e| e.to_string()) })
            })
            .collect();
        let mut answers = Vec::new();
        for answer in waiting {
            answers.push(answer.await.unwrap());
        }
        for (n, answer) in answers.iter().enumerate() {
            if n == 3 {
                assert!(answer.as_ref().is_err_and(|e| e.contains("three")));
            } else {
                assert_eq!(answer, &Ok(n as u32 * 10));
            }
        }
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 9);
        assert!(sizes.iter().all(|size| *size <= 4), "{sizes:?}");
        assert!(sizes.len() < 9, "batched: {sizes:?}");
    }

    #[tokio::test]
    async fn a_request_that_fails_its_batch_fails_alone() {
        let batcher = Arc::new(Batcher::start(10, |batch: Vec<u32>| async move {
            if batch.contains(&3) {
                // As a statement the database refuses fails the whole transaction.
                return Err(DbError::Corrupt("three".into()));
            }
            Ok(batch.into_iter().map(Ok).collect())
        }));
        let waiting: Vec<_> = (0..6)
            .map(|n| {
                let batcher = batcher.clone();
                tokio::spawn(async move { batcher.submit(n).await.map_err(|e| e.to_string()) })
            })
            .collect();
        for (n, answer) in waiting.into_iter().enumerate() {
            let answer = answer.await.unwrap();
            if n == 3 {
                assert!(answer.is_err());
            } else {
                assert_eq!(answer, Ok(n as u32));
            }
        }
    }

    #[tokio::test]
    async fn a_failed_batch_fails_each_of_its_requests() {
        let batcher = Batcher::start(10, |_batch: Vec<u32>| async {
            Err::<Vec<Result<u32, DbError>>, _>(DbError::Unavailable("down".into()))
        });
        let answer = batcher.submit(1).await;
        assert!(answer.is_err_and(|e| e.to_string().contains("down")));
    }
}
