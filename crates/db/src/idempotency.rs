//! The database side of `Idempotency-Key`: claim a key for a request, record its
//! response, replay it. One row per (tenant, key); the row lock serialises concurrent
//! requests with the same key.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use nudge_domain::TenantId;

use crate::schema::idempotency_keys;
use crate::scope::OfTenant;
use crate::DbError;

/// How long a key and its response are kept.
pub const KEY_LIFETIME_HOURS: i64 = 24;
/// A key held this long by a request that never finished (a crash) is taken over.
pub const STALE_AFTER_SECONDS: i64 = 60;

/// A response kept for replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// What the request that brings a key may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// The key is now held by this request: run it, then `finish` or `abandon`.
    Started,
    /// A request with this key is still running.
    InFlight,
    /// The key was used with a different request.
    Mismatch,
    /// The key's request already ran: answer with its response.
    Replay(StoredResponse),
}

#[derive(Queryable)]
struct Existing {
    request_hash: String,
    state: String,
    response_status: Option<i32>,
    response_content_type: Option<String>,
    response_body: Option<Vec<u8>>,
    locked_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// How many times `begin` tries again when the key's row vanished between its insert
/// and its read (the request that held it was refused by validation and let it go).
const BEGIN_ATTEMPTS: usize = 3;

pub async fn begin(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    key: &str,
    request_hash: &str,
) -> Result<Begin, DbError> {
    for _ in 0..BEGIN_ATTEMPTS {
        if let Some(begun) = try_begin(conn, tenant, key, request_hash).await? {
            return Ok(begun);
        }
    }
    // Still racing with requests that take and free the key: a moment later, the
    // client's retry settles it.
    Ok(Begin::InFlight)
}

/// One attempt: `None` when another request freed the key between our insert (which
/// found it held) and our read (which found it gone).
async fn try_begin(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    key: &str,
    request_hash: &str,
) -> Result<Option<Begin>, DbError> {
    conn.transaction::<_, DbError, _>(async |conn| {
        let now = Utc::now();
        let expires_at = now + Duration::hours(KEY_LIFETIME_HOURS);
        let inserted = diesel::insert_into(idempotency_keys::table)
            .values((
                idempotency_keys::tenant_id.eq(tenant.as_uuid()),
                idempotency_keys::key.eq(key),
                idempotency_keys::request_hash.eq(request_hash),
                idempotency_keys::state.eq("in_flight"),
                idempotency_keys::locked_at.eq(now),
                idempotency_keys::expires_at.eq(expires_at),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        if inserted == 1 {
            return Ok(Some(Begin::Started));
        }
        let this_key = idempotency_keys::table
            .of(tenant)
            .filter(idempotency_keys::key.eq(key));
        let existing: Option<Existing> = this_key
            .select((
                idempotency_keys::request_hash,
                idempotency_keys::state,
                idempotency_keys::response_status,
                idempotency_keys::response_content_type,
                idempotency_keys::response_body,
                idempotency_keys::locked_at,
                idempotency_keys::expires_at,
            ))
            .for_update()
            .first(conn)
            .await
            .optional()?;
        let Some(existing) = existing else {
            return Ok(None);
        };
        let expired = existing.expires_at <= now;
        let stale = existing.state == "in_flight"
            && existing.locked_at <= now - Duration::seconds(STALE_AFTER_SECONDS);
        if expired || (stale && existing.request_hash == request_hash) {
            diesel::update(this_key)
                .set((
                    idempotency_keys::request_hash.eq(request_hash),
                    idempotency_keys::state.eq("in_flight"),
                    idempotency_keys::response_status.eq(None::<i32>),
                    idempotency_keys::response_content_type.eq(None::<String>),
                    idempotency_keys::response_body.eq(None::<Vec<u8>>),
                    idempotency_keys::locked_at.eq(now),
                    idempotency_keys::expires_at.eq(expires_at),
                ))
                .execute(conn)
                .await?;
            return Ok(Some(Begin::Started));
        }
        if existing.state == "in_flight" {
            return Ok(Some(Begin::InFlight));
        }
        if existing.request_hash != request_hash {
            return Ok(Some(Begin::Mismatch));
        }
        let status = existing
            .response_status
            .and_then(|s| u16::try_from(s).ok())
            .ok_or_else(|| {
                DbError::Corrupt(format!("idempotency key {key} is done without a status"))
            })?;
        Ok(Some(Begin::Replay(StoredResponse {
            status,
            content_type: existing.response_content_type,
            body: existing.response_body.unwrap_or_default(),
        })))
    })
    .await
}

/// Keeps the response of the request that held the key.
pub async fn finish(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    key: &str,
    response: &StoredResponse,
) -> Result<(), DbError> {
    diesel::update(idempotency_keys::table.of(tenant))
        .filter(idempotency_keys::key.eq(key))
        .set((
            idempotency_keys::state.eq("done"),
            idempotency_keys::response_status.eq(i32::from(response.status)),
            idempotency_keys::response_content_type.eq(&response.content_type),
            idempotency_keys::response_body.eq(&response.body),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Frees the key: the request is to be retried with it (it failed validation, or on
/// our side).
pub async fn abandon(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    key: &str,
) -> Result<(), DbError> {
    diesel::delete(idempotency_keys::table.of(tenant))
        .filter(idempotency_keys::key.eq(key))
        .filter(idempotency_keys::state.eq("in_flight"))
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes expired keys (every tenant's: housekeeping); returns how many.
pub async fn purge_expired(conn: &mut AsyncPgConnection) -> Result<usize, DbError> {
    Ok(diesel::delete(idempotency_keys::table)
        .filter(idempotency_keys::expires_at.le(diesel::dsl::now))
        .execute(conn)
        .await?)
}
