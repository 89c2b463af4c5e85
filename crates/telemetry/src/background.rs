//! The background loops a service runs beside its HTTP server (outbox relays, the
//! campaign expander, the mailer, housekeeping, queue consumers, the webhook
//! dispatcher), watched. Each loop runs until the shared stop token is cancelled; one
//! that ends before that (a panic, or a return after an error it could not ride out) is
//! reported by [`Background::failed`], so that the service stops with a non-zero exit
//! and its orchestrator restarts it, instead of serving on without, say, its relay.

use std::collections::HashMap;
use std::future::Future;

use tokio::task::{JoinError, JoinSet};
use tokio_util::sync::CancellationToken;

/// A background loop that ended before it was asked to stop.
#[derive(Debug, thiserror::Error)]
#[error("background task '{name}' {how}")]
pub struct TaskFailed {
    pub name: &'static str,
    how: String,
}

#[derive(Default)]
pub struct Background {
    tasks: JoinSet<()>,
    names: HashMap<tokio::task::Id, &'static str>,
    stop: CancellationToken,
}

impl Background {
    pub fn new() -> Self {
        Self::default()
    }

    /// Loops that stop when `stop` is cancelled (by [`Background::stop`] too).
    pub fn stopped_by(stop: CancellationToken) -> Self {
        Self {
            stop,
            ..Self::default()
        }
    }

    /// The token every loop watches: cancelled by [`Background::stop`].
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Runs `task` (a loop that returns once the stop token is cancelled) as `name`.
    pub fn spawn<F>(&mut self, name: &'static str, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = self.tasks.spawn(task);
        self.names.insert(handle.id(), name);
    }

    /// Resolves when a loop ends although nobody asked it to stop; never, while they
    /// all run. Cancel-safe: for `tokio::select!` beside the server.
    pub async fn failed(&mut self) -> TaskFailed {
        loop {
            match self.tasks.join_next_with_id().await {
                None => std::future::pending::<()>().await,
                // Asked to stop: an end is expected; `stop` reports panics.
                Some(_) if self.stop.is_cancelled() => continue,
                Some(Ok((id, ()))) => return self.failure(id, "returned".to_owned()),
                Some(Err(error)) => {
                    let id = error.id();
                    return self.failure(id, describe(error));
                }
            }
        }
    }

    /// Asks every loop to stop and waits for all of them: the first that panicked, if
    /// one did.
    pub async fn stop(mut self) -> Result<(), TaskFailed> {
        self.stop.cancel();
        let mut first = None;
        while let Some(ended) = self.tasks.join_next_with_id().await {
            if let Err(error) = ended {
                let id = error.id();
                let failed = self.failure(id, describe(error));
                first.get_or_insert(failed);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Runs `work` (a worker that returns once the stop token is cancelled, after
    /// handing back what it holds) beside the loops. A loop that fails first cancels
    /// the token, so the work drains and returns; then the loops stop. The result is
    /// that failure, or the first loop that panicked while stopping.
    pub async fn run_beside(mut self, work: impl Future<Output = ()>) -> Result<(), TaskFailed> {
        tokio::pin!(work);
        let failed = tokio::select! {
            () = &mut work => None,
            failed = self.failed() => {
                self.stop.cancel();
                work.await;
                Some(failed)
            }
        };
        let stopped = self.stop().await;
        failed.map_or(stopped, Err)
    }

    fn failure(&self, id: tokio::task::Id, how: String) -> TaskFailed {
        let name = self.names.get(&id).copied().unwrap_or("unnamed");
        tracing::error!(task = name, how, "a background task ended unasked");
        TaskFailed { name, how }
    }
}

/// Serves `server` until it stops (actix stops it on SIGINT/SIGTERM), then stops
/// `background`. A background task that fails first stops the server (gracefully), and
/// the result is that failure, for the process to exit non-zero.
pub async fn serve(
    mut server: actix_web::dev::Server,
    mut background: Background,
) -> std::io::Result<()> {
    let handle = server.handle();
    let served = tokio::select! {
        served = &mut server => served,
        failed = background.failed() => {
            handle.stop(true).await;
            Err(std::io::Error::other(failed))
        }
    };
    let stopped = background.stop().await.map_err(std::io::Error::other);
    served.and(stopped)
}

/// What became of a task that did not finish normally.
fn describe(error: JoinError) -> String {
    if !error.is_panic() {
        return "was cancelled".to_owned();
    }
    let payload = error.into_panic();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    format!("panicked: {message}")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A loop that runs until asked to stop, as the services' loops do.
    async fn well_behaved(stop: CancellationToken) {
        stop.cancelled().await;
    }

    #[tokio::test]
    async fn a_loop_that_panics_is_reported_by_name_while_the_others_run() {
        let mut background = Background::new();
        background.spawn("relay", well_behaved(background.stop_token()));
        background.spawn("mailer", async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            panic!("lost the connection");
        });
        let failed = tokio::time::timeout(Duration::from_secs(5), background.failed())
            .await
            .expect("the panic is reported");
        assert_eq!(failed.name, "mailer");
        assert_eq!(
            failed.to_string(),
            "background task 'mailer' panicked: lost the connection"
        );
        assert!(
            background.stop().await.is_ok(),
            "the panic was reported once"
        );
    }

    #[tokio::test]
    async fn a_loop_that_returns_unasked_is_a_failure_too() {
        let mut background = Background::new();
        background.spawn("relay", well_behaved(background.stop_token()));
        background.spawn("dispatcher", async {});
        let failed = tokio::time::timeout(Duration::from_secs(5), background.failed())
            .await
            .expect("the early return is reported");
        assert_eq!(failed.to_string(), "background task 'dispatcher' returned");
    }

    #[tokio::test]
    async fn while_every_loop_runs_nothing_is_reported_and_stop_waits_for_all() {
        let mut background = Background::new();
        let ended = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        for name in ["relay", "expander"] {
            let (stop, ended) = (background.stop_token(), ended.clone());
            background.spawn(name, async move {
                stop.cancelled().await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                ended.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
        let quiet = tokio::time::timeout(Duration::from_millis(200), background.failed()).await;
        assert!(quiet.is_err(), "no failure while they run");
        assert!(background.stop().await.is_ok());
        assert_eq!(ended.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_panic_while_stopping_is_returned_by_stop() {
        let mut background = Background::new();
        let stop = background.stop_token();
        background.spawn("housekeeping", async move {
            stop.cancelled().await;
            panic!("could not flush");
        });
        let stopped = background.stop().await.unwrap_err();
        assert_eq!(stopped.name, "housekeeping");
    }

    #[tokio::test]
    async fn a_failing_loop_stops_the_work_beside_it_after_it_drains() {
        let stop = CancellationToken::new();
        let mut background = Background::stopped_by(stop.clone());
        background.spawn("sampler", async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            panic!("bad answer");
        });
        let drained = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let work = {
            let (stop, drained) = (stop.clone(), drained.clone());
            async move {
                stop.cancelled().await;
                drained.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        };
        let ran = tokio::time::timeout(Duration::from_secs(5), background.run_beside(work))
            .await
            .expect("the failure stops the work");
        assert_eq!(ran.unwrap_err().name, "sampler");
        assert!(drained.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[tokio::test]
    async fn work_that_ends_on_the_stop_token_ends_the_loops_quietly() {
        let stop = CancellationToken::new();
        let mut background = Background::stopped_by(stop.clone());
        background.spawn("sampler", well_behaved(stop.clone()));
        let work = {
            let stop = stop.clone();
            async move { stop.cancelled().await }
        };
        stop.cancel();
        let ran = tokio::time::timeout(Duration::from_secs(5), background.run_beside(work)).await;
        assert!(ran.expect("everything stops").is_ok());
    }
}
