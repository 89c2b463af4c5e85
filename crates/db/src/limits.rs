//! Usage counters behind the limits: requests per tenant per minute (fixed windows in
//! the database, so every API replica counts against the same number, and a tenant's
//! keys share one limit however many it mints) and messages per tenant per UTC day.

use chrono::{DateTime, Duration, DurationRound, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use nudge_domain::TenantId;
use uuid::Uuid;

use crate::prepared::{bind, prepared};
use crate::schema::{messages, tenant_request_usage};
use crate::scope::OfTenant;
use crate::DbError;

/// The current window's count for a tenant, this request included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowUsage {
    pub requests: i32,
    pub window_end: DateTime<Utc>,
}

/// Counts the request in the tenant's window and notes the key's last use, in one
/// round trip. `last_used_at` is written at most once a minute per key, so a busy key
/// does not rewrite its row at every request.
const COUNT: &str = "\
WITH touched AS (
    UPDATE api_keys SET last_used_at = now()
    WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
)
INSERT INTO tenant_request_usage (tenant_id, window_start, requests)
VALUES ($2, $3, 1)
ON CONFLICT (tenant_id, window_start)
DO UPDATE SET requests = tenant_request_usage.requests + 1
RETURNING requests";

#[derive(QueryableByName)]
struct Counted {
    #[diesel(sql_type = Integer)]
    requests: i32,
}

/// Counts one request of `tenant` (made with `api_key_id`) in the current minute.
pub async fn count_request(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    api_key_id: Uuid,
) -> Result<WindowUsage, DbError> {
    let now = Utc::now();
    let window_start = now.duration_trunc(Duration::minutes(1)).unwrap_or(now);
    let counted: Counted = prepared(
        COUNT,
        vec![
            Box::new(bind::<SqlUuid, _>(api_key_id)),
            Box::new(bind::<SqlUuid, _>(tenant.as_uuid())),
            Box::new(bind::<Timestamptz, _>(window_start)),
        ],
    )
    .get_result(conn)
    .await?;
    Ok(WindowUsage {
        requests: counted.requests,
        window_end: window_start + Duration::minutes(1),
    })
}

/// Drops windows older than an hour (housekeeping).
pub async fn purge_old_windows(conn: &mut AsyncPgConnection) -> Result<usize, DbError> {
    Ok(diesel::delete(tenant_request_usage::table)
        .filter(tenant_request_usage::window_start.lt(Utc::now() - Duration::hours(1)))
        .execute(conn)
        .await?)
}

/// Messages the tenant has had accepted since the start of the UTC day.
pub async fn messages_today(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
) -> Result<i64, DbError> {
    let now = Utc::now();
    let midnight = now.duration_trunc(Duration::days(1)).unwrap_or(now);
    Ok(messages::table
        .of(tenant)
        .filter(messages::created_at.ge(midnight))
        .count()
        .get_result(conn)
        .await?)
}

/// The tenant's daily message cap as it applies now (the sandbox's at most, until the
/// tenant is approved); campaign expansion reads it per page.
pub async fn daily_message_cap(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
) -> Result<i32, DbError> {
    use crate::schema::tenants;
    let (cap, approved_at): (i32, Option<DateTime<Utc>>) = tenants::table
        .filter(tenants::id.eq(tenant.as_uuid()))
        .select((tenants::daily_message_cap, tenants::approved_at))
        .first(conn)
        .await?;
    Ok(nudge_domain::SendingRules::daily_cap(
        approved_at.is_some(),
        cap,
    ))
}
