//! The webhook dispatcher: posts due deliveries (events, care hand-offs) to merchants'
//! endpoints and records every attempt. A delivery is leased before its call, so
//! replicas never post the same one at once; a 2xx ends it, anything else schedules the
//! next attempt from the retry schedule (with a little jitter, so that an endpoint that
//! comes back is not hit by every retry in the same second), and after the last one it
//! is `failed`. The merchant sees all of it in the endpoint's delivery log.
//!
//! Fair across tenants (docs/tenancy.md): calls run side by side, at most
//! [`MAX_IN_FLIGHT`] at once and at most [`PER_TENANT_IN_FLIGHT`] of one tenant's; a
//! finished call frees its place at once (no round waits for its slowest call), and
//! each lease takes every tenant's oldest delivery before anyone's second. So a tenant
//! whose endpoints never answer holds at most its own places, and another tenant's
//! delivery is leased within one dispatch interval of falling due.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use nudge_db::webhooks::{AttemptResult, Due};
use nudge_db::DbPool;
use rand::Rng;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::merchant_http::MerchantClient;

/// Calls in flight at once, all tenants together (per replica).
pub const MAX_IN_FLIGHT: usize = 32;
/// Calls in flight at once for one tenant (per replica).
pub const PER_TENANT_IN_FLIGHT: i32 = 4;

pub struct Dispatcher {
    pub pool: DbPool,
    pub client: MerchantClient,
    /// Seconds before each retry; attempts = retries + 1.
    pub retry_delays: Vec<u64>,
    pub timeout: Duration,
}

/// The calls in flight, by tenant.
#[derive(Default)]
struct InFlight {
    calls: JoinSet<Uuid>,
    by_tenant: HashMap<Uuid, i32>,
}

impl InFlight {
    fn started(&mut self, tenant: Uuid) {
        *self.by_tenant.entry(tenant).or_default() += 1;
    }

    fn finished(&mut self, tenant: Uuid) {
        if let Some(count) = self.by_tenant.get_mut(&tenant) {
            *count -= 1;
            if *count <= 0 {
                self.by_tenant.remove(&tenant);
            }
        }
    }

    fn counts(&self) -> Vec<(Uuid, i32)> {
        self.by_tenant.iter().map(|(t, n)| (*t, *n)).collect()
    }
}

impl Dispatcher {
    pub async fn run(self, interval: Duration, stop: CancellationToken) {
        let this = Arc::new(self);
        let mut in_flight = InFlight::default();
        loop {
            while let Some(done) = in_flight.calls.try_join_next() {
                if let Ok(tenant) = done {
                    in_flight.finished(tenant);
                }
            }
            let free = MAX_IN_FLIGHT.saturating_sub(in_flight.calls.len());
            let more_due = if free == 0 {
                false
            } else {
                match this.lease(free, &in_flight.counts()).await {
                    Ok(due) => {
                        let full = due.len() == free;
                        for item in due {
                            in_flight.started(item.delivery.tenant_id);
                            let this = this.clone();
                            in_flight.calls.spawn(async move {
                                let tenant = item.delivery.tenant_id;
                                if let Err(error) = this.deliver(item).await {
                                    tracing::warn!(%error, "webhook attempt not recorded; retried after its lease");
                                }
                                tenant
                            });
                        }
                        full
                    }
                    Err(error) => {
                        tracing::warn!(%error, "webhook dispatcher could not reach the database");
                        false
                    }
                }
            };
            if more_due {
                continue;
            }
            // Wait for a place to free up, the next interval, or the end.
            tokio::select! {
                () = stop.cancelled() => break,
                Some(done) = in_flight.calls.join_next(), if !in_flight.calls.is_empty() => {
                    if let Ok(tenant) = done {
                        in_flight.finished(tenant);
                    }
                }
                () = tokio::time::sleep(interval) => {}
            }
        }
        // Let the calls in flight record their attempts (each ends within its timeout).
        while in_flight.calls.join_next().await.is_some() {}
    }

    /// How long a leased delivery is ours: its call's timeout, and time to record it.
    fn lease_length(&self) -> Duration {
        self.timeout + Duration::from_secs(30)
    }

    /// Leases up to `free` due deliveries, fairly across tenants.
    async fn lease(
        &self,
        free: usize,
        in_flight: &[(Uuid, i32)],
    ) -> Result<Vec<Due>, nudge_db::DbError> {
        let lease = chrono::Duration::from_std(self.lease_length())
            .unwrap_or(chrono::Duration::seconds(60));
        let mut conn = self.pool.get().await?;
        nudge_db::webhooks::lease_due(
            &mut conn,
            i64::try_from(free).unwrap_or(i64::MAX),
            lease,
            PER_TENANT_IN_FLIGHT,
            in_flight,
        )
        .await
    }

    async fn deliver(&self, due: Due) -> Result<(), nudge_db::DbError> {
        let Due { delivery, endpoint } = due;
        let leased_until = tokio::time::Instant::now() + self.lease_length();
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
        self.record(&delivery, &result, retry_at, leased_until)
            .await
    }

    /// Records an attempt, retrying a database that is briefly away (a busy pool, a
    /// restart) until shortly before the lease ends. The merchant may already have the
    /// event: an attempt left unrecorded is posted again by whoever leases it next.
    async fn record(
        &self,
        delivery: &nudge_db::models::WebhookDelivery,
        result: &AttemptResult,
        retry_at: Option<chrono::DateTime<Utc>>,
        leased_until: tokio::time::Instant,
    ) -> Result<(), nudge_db::DbError> {
        let mut pause = Duration::from_millis(100);
        loop {
            let recorded = async {
                let mut conn = self.pool.get().await?;
                nudge_db::webhooks::record_attempt(&mut conn, delivery, result, retry_at).await
            }
            .await;
            match recorded {
                Ok(()) => return Ok(()),
                Err(error)
                    if tokio::time::Instant::now() + pause + RECORD_MARGIN < leased_until =>
                {
                    tracing::warn!(%error, delivery = %delivery.id, "webhook attempt not recorded yet; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                Err(error) => return Err(error),
            }
        }
    }
}

/// Recording stops this long before the lease ends, so that no other dispatcher posts
/// the delivery while this one still records it.
const RECORD_MARGIN: Duration = Duration::from_secs(5);

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
