//! The webhook dispatcher: posts due deliveries (events, care hand-offs) to merchants'
//! endpoints and records every attempt. A delivery is leased before its call, so
//! replicas never post the same one at once; a 2xx ends it, anything else schedules the
//! next attempt from the retry schedule (with a little jitter, so that an endpoint that
//! comes back is not hit by every retry in the same second), and after the last one it
//! is `failed`. The merchant sees all of it in the endpoint's delivery log.

use std::time::Duration;

use chrono::Utc;
use nudge_db::webhooks::{AttemptResult, Due};
use nudge_db::DbPool;
use rand::Rng;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::merchant_http::MerchantClient;

/// Deliveries taken per round.
const BATCH: i64 = 20;

pub struct Dispatcher {
    pub pool: DbPool,
    pub client: MerchantClient,
    /// Seconds before each retry; attempts = retries + 1.
    pub retry_delays: Vec<u64>,
    pub timeout: Duration,
}

impl Dispatcher {
    pub async fn run(self, interval: Duration, stop: CancellationToken) {
        let this = std::sync::Arc::new(self);
        loop {
            let busy = match this.round().await {
                Ok(count) => count == usize::try_from(BATCH).unwrap_or(usize::MAX),
                Err(error) => {
                    tracing::warn!(%error, "webhook dispatcher could not reach the database");
                    false
                }
            };
            if busy {
                continue;
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }

    /// Leases and posts one batch; returns how many were due.
    pub async fn round(self: &std::sync::Arc<Self>) -> Result<usize, nudge_db::DbError> {
        let lease = chrono::Duration::from_std(self.timeout + Duration::from_secs(30))
            .unwrap_or(chrono::Duration::seconds(60));
        let due = {
            let mut conn = self.pool.get().await?;
            nudge_db::webhooks::lease_due(&mut conn, BATCH, lease).await?
        };
        let count = due.len();
        let mut calls = JoinSet::new();
        for item in due {
            let this = self.clone();
            calls.spawn(async move { this.deliver(item).await });
        }
        while let Some(result) = calls.join_next().await {
            if let Ok(Err(error)) = result {
                tracing::warn!(%error, "webhook attempt not recorded; retried after its lease");
            }
        }
        Ok(count)
    }

    async fn deliver(&self, due: Due) -> Result<(), nudge_db::DbError> {
        let Due { delivery, endpoint } = due;
        let at = Utc::now();
        let body = serde_json::to_vec(&delivery.payload).unwrap_or_default();
        let outcome = self
            .client
            .post_signed(
                &endpoint.url,
                &endpoint.secret,
                &delivery.id.to_string(),
                body,
            )
            .await;
        let result = match outcome {
            Ok(answer) => AttemptResult {
                at,
                response_status: Some(i32::from(answer.status)),
                error: None,
                duration_ms: millis(answer.elapsed),
                succeeded: (200..300).contains(&answer.status),
            },
            Err(error) => AttemptResult {
                at,
                response_status: None,
                error: Some(error.to_string()),
                duration_ms: millis((Utc::now() - at).to_std().unwrap_or_default()),
                succeeded: false,
            },
        };
        let attempt = usize::try_from(delivery.attempts).unwrap_or(0) + 1;
        let retry_at = (!result.succeeded)
            .then(|| self.retry_delays.get(attempt - 1).copied())
            .flatten()
            .map(|seconds| at + jittered(seconds));
        tracing::info!(
            delivery = %delivery.id,
            endpoint = %endpoint.id,
            event = %delivery.event_type,
            attempt,
            status = result.response_status,
            error = result.error.as_deref(),
            retry_at = retry_at.map(|t| t.to_rfc3339()),
            "webhook attempt"
        );
        let mut conn = self.pool.get().await?;
        nudge_db::webhooks::record_attempt(&mut conn, &delivery, &result, retry_at).await
    }
}

/// Up to 10 % more than `seconds`, never less.
fn jittered(seconds: u64) -> chrono::Duration {
    let millis = seconds.saturating_mul(1_000);
    let extra = rand::rng().random_range(0..=millis / 10);
    chrono::Duration::milliseconds(i64::try_from(millis + extra).unwrap_or(i64::MAX / 2))
}

fn millis(elapsed: Duration) -> i32 {
    i32::try_from(elapsed.as_millis()).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_adds_at_most_a_tenth() {
        for _ in 0..100 {
            let d = jittered(10).num_milliseconds();
            assert!((10_000..=11_000).contains(&d), "{d}");
        }
        assert_eq!(jittered(0).num_milliseconds(), 0);
    }
}
