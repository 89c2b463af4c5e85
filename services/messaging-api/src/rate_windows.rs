//! Each tenant's requests of the current minute, counted in memory and added to the
//! shared window in the database every flush interval (one statement for all
//! tenants), instead of one upsert on the tenant's hot row per request.
//!
//! A replica admits a request while the tenant's shared total (as of its last flush)
//! plus what it counted since stays within the limit. With one replica that is exact.
//! With several, each learns the others' requests at its next flush, so a tenant may
//! pass its limit by what the other replicas admit within one flush interval (100 ms
//! by default): docs/performance.md.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, DurationRound, Utc};
use nudge_db::limits::WindowDelta;
use nudge_db::DbPool;
use nudge_domain::TenantId;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How often a key's `last_used_at` is written at most (per replica).
const KEY_USE_NOTED_EVERY: Duration = Duration::from_secs(60);

/// Where a request stands in its tenant's window, itself included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowUsage {
    pub requests: i32,
    pub window_end: DateTime<Utc>,
}

pub struct RateWindows {
    flush_every: Duration,
    state: Mutex<Windows>,
}

#[derive(Default)]
struct Windows {
    /// The minute being counted; a new minute starts from nothing.
    start: Option<DateTime<Utc>>,
    tenants: HashMap<TenantId, Count>,
    /// Keys whose use should be noted (at most once a minute each).
    keys_noted: HashMap<Uuid, Instant>,
}

#[derive(Default, Clone, Copy)]
struct Count {
    /// The shared total at the last flush (every replica's, this one's included).
    shared: i32,
    /// Counted here since.
    pending: i32,
}

impl RateWindows {
    pub fn new(flush_every: Duration) -> Self {
        Self {
            flush_every,
            state: Mutex::new(Windows::default()),
        }
    }

    /// Counts one request of the tenant now.
    pub fn count(&self, tenant: TenantId, now: DateTime<Utc>) -> WindowUsage {
        let start = minute_of(now);
        let mut windows = self.lock();
        if windows.start != Some(start) {
            windows.start = Some(start);
            windows.tenants.clear();
        }
        let count = windows.tenants.entry(tenant).or_default();
        count.pending += 1;
        WindowUsage {
            requests: count.shared.saturating_add(count.pending),
            window_end: start + chrono::Duration::minutes(1),
        }
    }

    /// Whether the key's use should be written now (the first time in a minute); the
    /// caller writes it.
    pub fn key_use_to_note(&self, api_key_id: Uuid) -> bool {
        let mut windows = self.lock();
        let now = Instant::now();
        match windows.keys_noted.get(&api_key_id) {
            Some(at) if now.duration_since(*at) < KEY_USE_NOTED_EVERY => false,
            _ => {
                if windows.keys_noted.len() > 100_000 {
                    windows
                        .keys_noted
                        .retain(|_, at| now.duration_since(*at) < KEY_USE_NOTED_EVERY);
                }
                windows.keys_noted.insert(api_key_id, now);
                true
            }
        }
    }

    /// Adds what was counted here to the shared windows and learns their totals.
    pub async fn flush(&self, pool: &DbPool) -> Result<(), nudge_db::DbError> {
        let (start, deltas) = {
            let mut windows = self.lock();
            let Some(start) = windows.start else {
                return Ok(());
            };
            let deltas: Vec<WindowDelta> = windows
                .tenants
                .iter_mut()
                .filter(|(_, count)| count.pending > 0)
                .map(|(tenant, count)| {
                    let delta = WindowDelta {
                        tenant: *tenant,
                        requests: count.pending,
                    };
                    // Counted as shared from now on: the total that comes back has it.
                    count.shared = count.shared.saturating_add(count.pending);
                    count.pending = 0;
                    delta
                })
                .collect();
            (start, deltas)
        };
        if deltas.is_empty() {
            return Ok(());
        }
        let totals = match pool.get().await {
            Ok(mut conn) => nudge_db::limits::add_requests(&mut conn, start, &deltas).await,
            Err(error) => Err(error.into()),
        };
        let mut windows = self.lock();
        if windows.start != Some(start) {
            // A new minute began meanwhile: the old one's totals no longer matter.
            return totals.map(drop);
        }
        match totals {
            Ok(totals) => {
                for total in totals {
                    if let Some(count) = windows.tenants.get_mut(&total.tenant) {
                        count.shared = total.requests;
                    }
                }
                Ok(())
            }
            Err(error) => {
                // Not lost: they go with the next flush.
                let tenants = deltas.len();
                for delta in deltas {
                    if let Some(count) = windows.tenants.get_mut(&delta.tenant) {
                        count.shared -= delta.requests;
                        count.pending += delta.requests;
                    }
                }
                tracing::warn!(%error, tenants, "could not add the rate windows' counts; trying again");
                Err(error)
            }
        }
    }

    /// Flushes every interval until `stop`, and once more then.
    pub async fn run(&self, pool: DbPool, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(self.flush_every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => {
                    let _ = self.flush(&pool).await;
                    return;
                }
                _ = ticks.tick() => {
                    let _ = self.flush(&pool).await;
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Windows> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn minute_of(now: DateTime<Utc>) -> DateTime<Utc> {
    now.duration_trunc(chrono::Duration::minutes(1))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_count_up_within_a_minute_and_start_again_in_the_next() {
        let windows = RateWindows::new(Duration::from_millis(100));
        let (a, b) = (TenantId::new(), TenantId::new());
        let at = "2026-12-07T10:00:05Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(windows.count(a, at).requests, 1);
        assert_eq!(windows.count(a, at).requests, 2);
        assert_eq!(windows.count(b, at).requests, 1, "tenants apart");
        let usage = windows.count(a, at + chrono::Duration::seconds(30));
        assert_eq!(usage.requests, 3);
        assert_eq!(
            usage.window_end,
            "2026-12-07T10:01:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            windows
                .count(a, at + chrono::Duration::seconds(60))
                .requests,
            1
        );
    }

    #[test]
    fn a_keys_use_is_noted_once_a_minute() {
        let windows = RateWindows::new(Duration::from_millis(100));
        let key = Uuid::now_v7();
        assert!(windows.key_use_to_note(key));
        assert!(!windows.key_use_to_note(key));
        assert!(windows.key_use_to_note(Uuid::now_v7()));
    }
}
