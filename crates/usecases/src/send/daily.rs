//! Each tenant's count of today's messages, for the daily cap, without counting the
//! day's rows at every send. Counting them (`count(*)` over today's messages) costs
//! more the more the tenant sends: at 1,000 messages/s it was the dearest statement of
//! a send. A replica counts once per refresh interval per tenant and adds its own
//! accepted sends in between.
//!
//! The count is approximate, as the cap always was under concurrency: between two
//! refreshes a replica does not see what other replicas (and campaigns) accepted, so
//! a tenant may pass its cap by what the others accept in one refresh interval
//! (docs/performance.md). A cap is a spending bound, not an exact quota.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use nudge_db::{AsyncPgConnection, DbError};
use nudge_domain::TenantId;

/// Most tenants remembered at once; past it, the counts start again (one count each).
const MAX_TENANTS: usize = 100_000;

pub struct DailyCounts {
    refresh_every: Duration,
    tenants: Mutex<HashMap<TenantId, DayCount>>,
}

struct DayCount {
    day: NaiveDate,
    /// What the database counted at `counted_at`.
    counted: i64,
    /// This replica's sends accepted since.
    added: i64,
    counted_at: Instant,
    /// A send is counting again: the others use the count they have meanwhile.
    recounting: bool,
}

impl DailyCounts {
    /// `refresh_every`: how long a count is reused; zero counts at every send.
    pub fn new(refresh_every: Duration) -> Self {
        Self {
            refresh_every,
            tenants: Mutex::new(HashMap::new()),
        }
    }

    /// The tenant's messages accepted since the start of the UTC day, as far as this
    /// replica knows.
    pub async fn today(
        &self,
        conn: &AsyncPgConnection,
        tenant: TenantId,
        now: DateTime<Utc>,
    ) -> Result<i64, DbError> {
        let day = now.date_naive();
        {
            let mut tenants = self.lock();
            if let Some(count) = tenants.get_mut(&tenant).filter(|c| c.day == day) {
                if count.recounting || count.counted_at.elapsed() < self.refresh_every {
                    return Ok(count.counted + count.added);
                }
                count.recounting = true;
            }
        }
        let counted = nudge_db::limits::messages_today(conn, tenant).await;
        let mut tenants = self.lock();
        let counted = match counted {
            Ok(counted) => counted,
            Err(error) => {
                if let Some(count) = tenants.get_mut(&tenant) {
                    count.recounting = false;
                }
                return Err(error);
            }
        };
        if tenants.len() >= MAX_TENANTS && !tenants.contains_key(&tenant) {
            tenants.clear();
        }
        tenants.insert(
            tenant,
            DayCount {
                day,
                counted,
                added: 0,
                counted_at: Instant::now(),
                recounting: false,
            },
        );
        Ok(counted)
    }

    /// Notes `messages` more accepted for the tenant today.
    pub fn accepted(&self, tenant: TenantId, messages: i64) {
        if let Some(count) = self.lock().get_mut(&tenant) {
            count.added += messages;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, DayCount>> {
        // The map holds plain counts: one left by a panicking thread is still usable.
        self.tenants
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
