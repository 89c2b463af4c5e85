//! Usage counters behind the limits: requests per tenant per minute (fixed windows in
//! the database, to which every API replica adds what it counted, so that they count
//! against the same number, and a tenant's keys share one limit however many it mints)
//! and messages per tenant per UTC day.

use chrono::{DateTime, Duration, DurationRound, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Integer, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use nudge_domain::TenantId;
use uuid::Uuid;

use crate::prepared::{bind, prepared};
use crate::schema::{messages, tenant_request_usage};
use crate::scope::OfTenant;
use crate::DbError;

/// Requests counted by one API replica since it last reported, per tenant, all in the
/// same one-minute window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowDelta {
    pub tenant: TenantId,
    pub requests: i32,
}

/// Adds each tenant's requests to its shared window (one statement for all of them)
/// and returns each window's total, every replica's requests included.
const ADD_REQUESTS: &str = "\
INSERT INTO tenant_request_usage (tenant_id, window_start, requests)
SELECT tenant_id, $1, requests FROM unnest($2::uuid[], $3::int[]) AS d (tenant_id, requests)
ON CONFLICT (tenant_id, window_start)
DO UPDATE SET requests = tenant_request_usage.requests + excluded.requests
RETURNING tenant_id, requests";

#[derive(QueryableByName)]
struct WindowTotal {
    #[diesel(sql_type = SqlUuid)]
    tenant_id: Uuid,
    #[diesel(sql_type = Integer)]
    requests: i32,
}

/// Reports a replica's requests of the window starting at `window_start`; returns the
/// shared totals (the tenants in `deltas`, in no particular order).
pub async fn add_requests(
    conn: &mut AsyncPgConnection,
    window_start: DateTime<Utc>,
    deltas: &[WindowDelta],
) -> Result<Vec<WindowDelta>, DbError> {
    if deltas.is_empty() {
        return Ok(Vec::new());
    }
    let tenants: Vec<Uuid> = deltas.iter().map(|d| d.tenant.as_uuid()).collect();
    let requests: Vec<i32> = deltas.iter().map(|d| d.requests).collect();
    let totals: Vec<WindowTotal> = prepared(
        ADD_REQUESTS,
        vec![
            Box::new(bind::<Timestamptz, _>(window_start)),
            Box::new(bind::<Array<SqlUuid>, _>(tenants)),
            Box::new(bind::<Array<Integer>, _>(requests)),
        ],
    )
    .load(conn)
    .await?;
    Ok(totals
        .into_iter()
        .map(|total| WindowDelta {
            tenant: TenantId::from_uuid(total.tenant_id),
            requests: total.requests,
        })
        .collect())
}

/// Notes that a key was used now (the console shows it). Callers write it at most
/// once a minute per key, so that a busy key does not rewrite its row at every request.
pub async fn note_key_used(conn: &mut AsyncPgConnection, api_key_id: Uuid) -> Result<(), DbError> {
    use crate::schema::api_keys;
    diesel::update(api_keys::table.filter(api_keys::id.eq(api_key_id)))
        .set(api_keys::last_used_at.eq(diesel::dsl::now))
        .execute(conn)
        .await?;
    Ok(())
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
    mut conn: &AsyncPgConnection,
    tenant: TenantId,
) -> Result<i64, DbError> {
    let now = Utc::now();
    let midnight = now.duration_trunc(Duration::days(1)).unwrap_or(now);
    Ok(messages::table
        .of(tenant)
        .filter(messages::created_at.ge(midnight))
        .count()
        .get_result(&mut conn)
        .await?)
}

/// The tenant's daily message cap as it applies now (the sandbox's at most, until the
/// tenant is approved); campaign expansion reads it per page.
pub async fn daily_message_cap(
    mut conn: &AsyncPgConnection,
    tenant: TenantId,
) -> Result<i32, DbError> {
    use crate::schema::tenants;
    let (cap, approved_at): (i32, Option<DateTime<Utc>>) = tenants::table
        .filter(tenants::id.eq(tenant.as_uuid()))
        .select((tenants::daily_message_cap, tenants::approved_at))
        .first(&mut conn)
        .await?;
    Ok(nudge_domain::SendingRules::daily_cap(
        approved_at.is_some(),
        cap,
    ))
}
