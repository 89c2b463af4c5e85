//! Working one lead search: take its lease, then page by page spend a query of the
//! budgets, ask the provider, parse the results and store the page, until the search
//! has its results, the provider has no more, or it must wait.
//!
//! Nothing is kept in memory between pages that is not in the database: a worker that
//! dies leaves the search at its last stored page, and the next one (after the lease)
//! goes on from there. Waits (a 429, a spent quota or budget, an outage) are stored
//! with an outbox row that hands the search back to the queue when the wait is over, so
//! a wait of hours costs no SQS receives and cannot exhaust the redrive policy.

use std::time::Duration;

use chrono::{DateTime, Days, Utc};
use nudge_db::lead_searches::{self, Budget, Claim, PageRecord};
use nudge_db::models::LeadSearch;
use nudge_db::{DbError, DbPool};
use nudge_domain::{LeadQuery, LeadSearchId, TenantId};
use nudge_queue::Disposition;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::profile::parse_hit;
use crate::providers::{ProviderError, SearchProvider};

/// What the worker needs to work searches.
pub struct Searcher {
    pub pool: DbPool,
    pub provider: Box<dyn SearchProvider>,
    pub worker_id: String,
    pub lease: Duration,
    pub page_delay: Duration,
    pub tenant_daily_queries: i32,
    pub key_daily_queries: i32,
    pub max_failures: i32,
    /// Cancelled when the process stops: searches are handed back between pages.
    pub stop: CancellationToken,
    pub metrics: Metrics,
}

/// What runs before each provider request: the worker extends its queue message's
/// visibility there, so that SQS does not hand the message to another worker.
pub trait BeforePage: Sync {
    fn before_page(&self) -> impl std::future::Future<Output = ()> + Send;
}

/// How a run of a search ended, for the queue message that brought it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Completed, failed, cancelled, waiting (with its own wake-up), or taken over.
    Done,
    /// Another worker holds it: this message is a second copy (the holder's own
    /// message stays in flight while it works, and outlives its lease if it dies).
    Busy,
    /// The process stops: the search was handed back; deliver the message again now.
    HandedBack,
    /// No such search in the tenant.
    Missing,
    /// The database was away before the search was claimed: nothing is held, so the
    /// consumer keeps the message in hand and receives no more until it answers.
    DatabaseUnavailable,
    /// The database failed: try again later (the lease expires meanwhile).
    DatabaseError(String),
}

impl Outcome {
    pub fn disposition(&self, lease: Duration) -> Disposition {
        match self {
            Outcome::Done => Disposition::Delete,
            Outcome::Busy => Disposition::Delete,
            Outcome::HandedBack => Disposition::RetryAfter(0),
            Outcome::Missing => Disposition::DeadLetter,
            Outcome::DatabaseUnavailable => Disposition::Unavailable,
            Outcome::DatabaseError(_) => {
                Disposition::RetryAfter(u32::try_from(lease.as_secs()).unwrap_or(60).max(10))
            }
        }
    }
}

impl Searcher {
    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.lease).unwrap_or(chrono::Duration::seconds(60))
    }

    /// The tenant's budget (its own, or the worker's default) and the key's.
    fn budgets(&self, tenant: TenantId, tenant_own: Option<i32>) -> [Budget; 2] {
        [
            Budget {
                scope: format!("tenant:{tenant}"),
                per_day: tenant_own.unwrap_or(self.tenant_daily_queries),
            },
            Budget {
                scope: format!(
                    "key:{}:{}",
                    self.provider.name(),
                    self.provider.key_fingerprint()
                ),
                per_day: self.key_daily_queries,
            },
        ]
    }

    /// Works the search until it ends or must wait.
    pub async fn run(
        &self,
        tenant: TenantId,
        id: LeadSearchId,
        on_page: &impl BeforePage,
    ) -> Outcome {
        let search = match self.claim(tenant, id).await {
            Ok(Ok(search)) => search,
            Ok(Err(outcome)) => return outcome,
            Err(DbError::Unavailable(error)) => {
                tracing::warn!(%error, "lead search not claimed: the database is unavailable");
                return Outcome::DatabaseUnavailable;
            }
            Err(error) => return Self::interrupted(&error),
        };
        self.metrics.in_progress.inc();
        let outcome = self.run_claimed(tenant, id, search, on_page).await;
        self.metrics.in_progress.dec();
        outcome.unwrap_or_else(|error| Self::interrupted(&error))
    }

    fn interrupted(error: &DbError) -> Outcome {
        tracing::warn!(%error, "lead search interrupted by the database");
        Outcome::DatabaseError(error.to_string())
    }

    /// Takes the search's lease: the search, or why there is nothing to do.
    async fn claim(
        &self,
        tenant: TenantId,
        id: LeadSearchId,
    ) -> Result<Result<LeadSearch, Outcome>, DbError> {
        let mut conn = self.pool.get().await?;
        let claim = lead_searches::claim(
            &mut conn,
            tenant,
            id,
            &self.worker_id,
            self.provider.name(),
            self.lease(),
        )
        .await?;
        Ok(match claim {
            Claim::Claimed(search) => Ok(*search),
            Claim::Missing => Err(Outcome::Missing),
            Claim::Ended(status) => {
                tracing::debug!(status, "lead search already ended");
                Err(Outcome::Done)
            }
            Claim::NotYet(at) => {
                tracing::debug!(%at, "lead search waits; its wake-up is queued");
                Err(Outcome::Done)
            }
            Claim::Busy(until) => {
                tracing::info!(%until, "lead search held by another worker; this copy is dropped");
                Err(Outcome::Busy)
            }
        })
    }

    /// Works a search this worker holds the lease of. A database error here leaves the
    /// lease to lapse; the message comes back after it.
    async fn run_claimed(
        &self,
        tenant: TenantId,
        id: LeadSearchId,
        search: LeadSearch,
        on_page: &impl BeforePage,
    ) -> Result<Outcome, DbError> {
        let mut conn = self.pool.get().await?;
        let own_budget = nudge_db::tenants::lead_search_budget(&mut conn, tenant).await?;
        drop(conn);
        let query = match serde_json::from_value::<LeadQuery>(search.query.clone()) {
            Ok(query) => query,
            Err(error) => {
                let mut conn = self.pool.get().await?;
                lead_searches::finish(
                    &mut conn,
                    tenant,
                    id,
                    &self.worker_id,
                    Some(&format!("the stored query is unreadable: {error}")),
                )
                .await?;
                return Ok(Outcome::Done);
            }
        };
        tracing::info!(
            provider = self.provider.name(),
            offset = search.next_offset,
            results_seen = search.results_seen,
            "working lead search"
        );
        let budgets = self.budgets(tenant, own_budget);
        self.pages(tenant, id, search, &query.search_terms(), &budgets, on_page)
            .await
    }

    async fn pages(
        &self,
        tenant: TenantId,
        id: LeadSearchId,
        mut search: LeadSearch,
        terms: &str,
        budgets: &[Budget],
        on_page: &impl BeforePage,
    ) -> Result<Outcome, DbError> {
        loop {
            let mut conn = self.pool.get().await?;
            if self.stop.is_cancelled() {
                lead_searches::release(&mut conn, tenant, id, &self.worker_id).await?;
                return Ok(Outcome::HandedBack);
            }
            let wanted = search.max_results - search.results_seen;
            if wanted <= 0 {
                if lead_searches::finish(&mut conn, tenant, id, &self.worker_id, None).await? {
                    self.metrics.ended(lead_searches::COMPLETED);
                }
                return Ok(Outcome::Done);
            }
            // The lease for this page, renewed before the queue message's visibility is
            // extended (so the message always outlives the lease), and a cancel or a
            // takeover noticed before a query is spent.
            if !lead_searches::renew_lease(&mut conn, tenant, id, &self.worker_id, self.lease())
                .await?
            {
                tracing::info!("lead search cancelled or taken over");
                return Ok(Outcome::Done);
            }
            if let Some(spent) = lead_searches::spend_query(&mut conn, budgets).await? {
                let whose = if spent.scope.starts_with("tenant:") {
                    "the tenant's"
                } else {
                    "the provider key's"
                };
                let reason = format!(
                    "{whose} daily budget of {} provider queries is spent",
                    spent.per_day
                );
                tracing::info!(reason, "lead search waits for tomorrow's budget");
                self.metrics.wait("budget");
                lead_searches::wait(
                    &mut conn,
                    tenant,
                    id,
                    &self.worker_id,
                    next_utc_midnight(Utc::now()),
                    &reason,
                    None,
                )
                .await?;
                return Ok(Outcome::Done);
            }
            drop(conn);
            on_page.before_page().await;
            let offset = search.next_offset;
            let started = std::time::Instant::now();
            let result = self.provider.search(terms, offset, wanted).await;
            let outcome = result.as_ref().map_or_else(ProviderError::label, |_| "ok");
            self.metrics
                .request(self.provider.name(), outcome, started.elapsed());
            let mut conn = self.pool.get().await?;
            let page = match result {
                Ok(page) => page,
                Err(error) => {
                    return self
                        .after_failure(&mut conn, tenant, id, &search, error)
                        .await
                }
            };
            let mut hits = page.hits;
            hits.truncate(usize::try_from(wanted).unwrap_or(0));
            let results = i32::try_from(hits.len()).unwrap_or(i32::MAX);
            let leads: Vec<_> = hits.iter().filter_map(parse_hit).collect();
            let skipped = results - i32::try_from(leads.len()).unwrap_or(0);
            let finished = page.next.is_none() || results == 0 || results >= wanted;
            let record = PageRecord {
                offset,
                next_offset: page.next.unwrap_or(offset),
                results,
                skipped,
                leads,
                finished,
            };
            match lead_searches::record_page(&mut conn, tenant, id, &self.worker_id, &record)
                .await?
            {
                None => {
                    tracing::info!("lead search cancelled or taken over; page not stored");
                    return Ok(Outcome::Done);
                }
                Some(stored) => {
                    self.metrics.results(
                        stored.leads_new - search.leads_new,
                        stored.duplicates - search.duplicates,
                        skipped,
                    );
                    tracing::info!(
                        page = stored.pages_fetched,
                        results,
                        leads_new = stored.leads_new,
                        duplicates = stored.duplicates,
                        "lead search page stored"
                    );
                    if finished {
                        self.metrics.ended(lead_searches::COMPLETED);
                        return Ok(Outcome::Done);
                    }
                    search = stored;
                }
            }
            drop(conn);
            tokio::select! {
                () = tokio::time::sleep(self.page_delay) => {}
                () = self.stop.cancelled() => {}
            }
        }
    }

    /// A provider failure: wait (rate limit, quota, outage) or fail (a refusal, or an
    /// outage that lasted `max_failures` tries).
    async fn after_failure(
        &self,
        conn: &mut nudge_db::AsyncPgConnection,
        tenant: TenantId,
        id: LeadSearchId,
        search: &LeadSearch,
        error: ProviderError,
    ) -> Result<Outcome, DbError> {
        let now = Utc::now();
        let provider = self.provider.name();
        let message = error.to_string();
        let (until, reason) = match &error {
            ProviderError::RateLimited { retry_after } => (
                now + to_chrono(retry_after.unwrap_or_else(|| backoff(search.errors, 30))),
                format!("rate limited by {provider}"),
            ),
            ProviderError::QuotaExhausted { resets_at } => (
                resets_at.unwrap_or(now + chrono::Duration::hours(1)),
                format!("the {provider} key's quota is spent"),
            ),
            ProviderError::Unavailable(detail) if search.errors + 1 < self.max_failures => (
                now + to_chrono(backoff(search.errors, 10)),
                format!("{provider} unavailable: {detail}"),
            ),
            ProviderError::Unavailable(detail) => {
                let failure = format!(
                    "{provider} unavailable {} times in a row; last: {detail}",
                    self.max_failures
                );
                tracing::warn!(%failure, "lead search failed");
                self.metrics.ended(lead_searches::FAILED);
                lead_searches::finish(conn, tenant, id, &self.worker_id, Some(&failure)).await?;
                return Ok(Outcome::Done);
            }
            ProviderError::Refused(detail) => {
                tracing::warn!(%detail, "lead search refused by the provider");
                self.metrics.ended(lead_searches::FAILED);
                lead_searches::finish(conn, tenant, id, &self.worker_id, Some(detail)).await?;
                return Ok(Outcome::Done);
            }
        };
        tracing::info!(%until, reason, "lead search waits");
        self.metrics.wait(error.label());
        lead_searches::wait(
            conn,
            tenant,
            id,
            &self.worker_id,
            until,
            &reason,
            Some(&message),
        )
        .await?;
        Ok(Outcome::Done)
    }
}

/// `base` seconds doubled per earlier failure, at most an hour, with up to 20% jitter
/// so that searches held by one outage do not all come back at once.
fn backoff(earlier_failures: i32, base: u64) -> Duration {
    let exponent = u32::try_from(earlier_failures.clamp(0, 12)).unwrap_or(0);
    let seconds = base.saturating_mul(1 << exponent).min(3_600);
    let jitter = rand::random_range(0..=seconds / 5);
    Duration::from_secs(seconds + jitter)
}

fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::hours(1))
}

/// Budgets are per UTC day.
fn next_utc_midnight(now: DateTime<Utc>) -> DateTime<Utc> {
    now.date_naive()
        .checked_add_days(Days::new(1))
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map(|midnight| midnight.and_utc())
        .unwrap_or(now + chrono::Duration::hours(24))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert!((10..=12).contains(&backoff(0, 10).as_secs()));
        assert!((40..=48).contains(&backoff(2, 10).as_secs()));
        assert!((3_600..=4_320).contains(&backoff(30, 10).as_secs()));
    }

    #[test]
    fn budgets_renew_at_utc_midnight() {
        let now = Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59).unwrap();
        assert_eq!(
            next_utc_midnight(now),
            Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
        );
    }
}
