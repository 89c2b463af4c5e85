//! Usage counters behind the limits: requests per API key per minute (fixed windows in
//! the database, so every API replica counts against the same number) and messages per
//! tenant per UTC day.

use chrono::{DateTime, Duration, DurationRound, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use nudge_domain::TenantId;
use uuid::Uuid;

use crate::schema::{api_key_usage, messages};
use crate::DbError;

/// The current window's count for a key, this request included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowUsage {
    pub requests: i32,
    pub window_end: DateTime<Utc>,
}

/// Counts one request of `api_key_id` in the current minute.
pub async fn count_request(
    conn: &mut AsyncPgConnection,
    api_key_id: Uuid,
) -> Result<WindowUsage, DbError> {
    let now = Utc::now();
    let window_start = now.duration_trunc(Duration::minutes(1)).unwrap_or(now);
    let requests = diesel::insert_into(api_key_usage::table)
        .values((
            api_key_usage::api_key_id.eq(api_key_id),
            api_key_usage::window_start.eq(window_start),
            api_key_usage::requests.eq(1),
        ))
        .on_conflict((api_key_usage::api_key_id, api_key_usage::window_start))
        .do_update()
        .set(api_key_usage::requests.eq(api_key_usage::requests + 1))
        .returning(api_key_usage::requests)
        .get_result(conn)
        .await?;
    Ok(WindowUsage {
        requests,
        window_end: window_start + Duration::minutes(1),
    })
}

/// Drops windows older than an hour (housekeeping).
pub async fn purge_old_windows(conn: &mut AsyncPgConnection) -> Result<usize, DbError> {
    Ok(diesel::delete(api_key_usage::table)
        .filter(api_key_usage::window_start.lt(Utc::now() - Duration::hours(1)))
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
        .filter(messages::tenant_id.eq(tenant.as_uuid()))
        .filter(messages::created_at.ge(midnight))
        .count()
        .get_result(conn)
        .await?)
}

/// The tenant's daily message cap (campaign expansion reads it per page).
pub async fn daily_message_cap(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
) -> Result<i32, DbError> {
    Ok(crate::schema::tenants::table
        .filter(crate::schema::tenants::id.eq(tenant.as_uuid()))
        .select(crate::schema::tenants::daily_message_cap)
        .first(conn)
        .await?)
}
