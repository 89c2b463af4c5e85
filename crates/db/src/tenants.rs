//! Tenants and their API keys. A key is `nudge_` followed by 40 random base62
//! characters; only its SHA-256 is stored (a fast hash is right for long random
//! secrets, as GitHub and Stripe do), with the first 12 characters kept as a visible
//! prefix so a merchant can tell keys apart.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use nudge_domain::TenantId;
use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::models::{ApiKey, Tenant};
use crate::schema::{api_keys, tenants};
use crate::{DbError, Page, PageRequest};

const KEY_PREFIX: &str = "nudge_";
pub const DEFAULT_REQUESTS_PER_MINUTE: i32 = 600;
pub const DEFAULT_DAILY_MESSAGE_CAP: i32 = 10_000;
const KEY_RANDOM_CHARS: usize = 40;
const VISIBLE_PREFIX_CHARS: usize = 12;

/// A freshly made key: the only moment the plain text exists.
pub struct IssuedKey {
    pub tenant: Tenant,
    pub plain_text: String,
    pub prefix: String,
}

/// A new key's plain text and the row that stores only its hash.
fn new_key(tenant_id: Uuid, name: &str) -> (String, ApiKey) {
    let plain_text = format!(
        "{KEY_PREFIX}{}",
        Alphanumeric.sample_string(&mut rand::rng(), KEY_RANDOM_CHARS)
    );
    let row = ApiKey {
        id: Uuid::now_v7(),
        tenant_id,
        prefix: plain_text.chars().take(VISIBLE_PREFIX_CHARS).collect(),
        key_hash: hash_key(&plain_text),
        created_at: Utc::now(),
        revoked_at: None,
        name: name.to_owned(),
    };
    (plain_text, row)
}

pub fn hash_key(plain_text: &str) -> String {
    hex::encode(Sha256::digest(plain_text.as_bytes()))
}

/// Creates a tenant with its first API key, in one transaction.
pub async fn create_with_key(
    conn: &mut AsyncPgConnection,
    name: &str,
) -> Result<IssuedKey, DbError> {
    let tenant = Tenant {
        id: TenantId::new().as_uuid(),
        name: name.to_owned(),
        created_at: Utc::now(),
        requests_per_minute: DEFAULT_REQUESTS_PER_MINUTE,
        daily_message_cap: DEFAULT_DAILY_MESSAGE_CAP,
        lead_search_daily_queries: None,
    };
    let (plain_text, key) = new_key(tenant.id, "default");
    let prefix = key.prefix.clone();
    let tenant = conn
        .transaction::<_, DbError, _>(async |conn| {
            let tenant = diesel::insert_into(tenants::table)
                .values(&tenant)
                .returning(Tenant::as_returning())
                .get_result(conn)
                .await?;
            diesel::insert_into(api_keys::table)
                .values(&key)
                .execute(conn)
                .await?;
            Ok(tenant)
        })
        .await?;
    Ok(IssuedKey {
        tenant,
        plain_text,
        prefix,
    })
}

/// Who a valid key belongs to, and the limits that apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyOwner {
    pub tenant: TenantId,
    pub api_key_id: Uuid,
    pub requests_per_minute: i32,
    pub daily_message_cap: i32,
}

/// The owner of a presented key, if the key exists and is not revoked.
pub async fn authenticate(
    conn: &mut AsyncPgConnection,
    presented_key: &str,
) -> Result<Option<KeyOwner>, DbError> {
    let row = api_keys::table
        .inner_join(tenants::table)
        .filter(api_keys::key_hash.eq(hash_key(presented_key)))
        .filter(api_keys::revoked_at.is_null())
        .select((
            api_keys::tenant_id,
            api_keys::id,
            tenants::requests_per_minute,
            tenants::daily_message_cap,
        ))
        .first::<(Uuid, Uuid, i32, i32)>(conn)
        .await
        .optional()?;
    Ok(row.map(
        |(tenant, api_key_id, requests_per_minute, daily_message_cap)| KeyOwner {
            tenant: TenantId::from_uuid(tenant),
            api_key_id,
            requests_per_minute,
            daily_message_cap,
        },
    ))
}

/// Sets a tenant's limits; `false` if there is no such tenant.
pub async fn set_limits(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    requests_per_minute: Option<i32>,
    daily_message_cap: Option<i32>,
) -> Result<bool, DbError> {
    let mut updated = 0;
    if let Some(rpm) = requests_per_minute {
        updated = diesel::update(tenants::table.filter(tenants::id.eq(tenant.as_uuid())))
            .set(tenants::requests_per_minute.eq(rpm))
            .execute(conn)
            .await?;
    }
    if let Some(cap) = daily_message_cap {
        updated = diesel::update(tenants::table.filter(tenants::id.eq(tenant.as_uuid())))
            .set(tenants::daily_message_cap.eq(cap))
            .execute(conn)
            .await?;
    }
    Ok(updated > 0)
}

/// Sets (or, with `None`, clears) a tenant's own daily budget of lead-search provider
/// queries; `false` if there is no such tenant.
pub async fn set_lead_search_budget(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    queries_per_day: Option<i32>,
) -> Result<bool, DbError> {
    let updated = diesel::update(tenants::table.filter(tenants::id.eq(tenant.as_uuid())))
        .set(tenants::lead_search_daily_queries.eq(queries_per_day))
        .execute(conn)
        .await?;
    Ok(updated == 1)
}

/// The tenant's own daily budget of lead-search queries, if it has one.
pub async fn lead_search_budget(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
) -> Result<Option<i32>, DbError> {
    Ok(tenants::table
        .filter(tenants::id.eq(tenant.as_uuid()))
        .select(tenants::lead_search_daily_queries)
        .first::<Option<i32>>(conn)
        .await
        .optional()?
        .flatten())
}

/// Issues another key for a tenant; returns the plain text (shown once) and the row.
pub async fn issue_key(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    name: &str,
) -> Result<(String, ApiKey), DbError> {
    let (plain_text, row) = new_key(tenant.as_uuid(), name);
    let row = diesel::insert_into(api_keys::table)
        .values(&row)
        .returning(ApiKey::as_returning())
        .get_result(conn)
        .await?;
    Ok((plain_text, row))
}

/// The tenant's keys, newest first (hashes included: callers show only the prefix).
pub async fn list_keys(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    page: PageRequest,
) -> Result<Page<ApiKey>, DbError> {
    let mut query = api_keys::table
        .filter(api_keys::tenant_id.eq(tenant.as_uuid()))
        .select(ApiKey::as_select())
        .order(api_keys::id.desc())
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(before) = page.before {
        query = query.filter(api_keys::id.lt(before));
    }
    let rows = query.load(conn).await?;
    Ok(Page::from_overfetch(rows, page, |key| key.id))
}

/// Why a key could not be revoked.
#[derive(Debug)]
pub enum Revoke {
    Revoked(ApiKey),
    NotFound,
    /// It is the tenant's last active key: revoking it would lock the merchant out.
    LastActiveKey,
}

/// Revokes a key; the next request with it is refused.
pub async fn revoke_key(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: Uuid,
) -> Result<Revoke, DbError> {
    conn.transaction::<_, DbError, _>(async |conn| {
        // Lock the tenant's active keys so two revocations cannot both pass the check.
        let active: Vec<Uuid> = api_keys::table
            .filter(api_keys::tenant_id.eq(tenant.as_uuid()))
            .filter(api_keys::revoked_at.is_null())
            .select(api_keys::id)
            .for_update()
            .load(conn)
            .await?;
        let key = api_keys::table
            .filter(api_keys::tenant_id.eq(tenant.as_uuid()))
            .filter(api_keys::id.eq(id))
            .select(ApiKey::as_select())
            .first(conn)
            .await
            .optional()?;
        let Some(key) = key else {
            return Ok(Revoke::NotFound);
        };
        if key.revoked_at.is_some() {
            return Ok(Revoke::Revoked(key));
        }
        if active == [id] {
            return Ok(Revoke::LastActiveKey);
        }
        let revoked = diesel::update(api_keys::table.filter(api_keys::id.eq(id)))
            .set(api_keys::revoked_at.eq(diesel::dsl::now))
            .returning(ApiKey::as_returning())
            .get_result(conn)
            .await?;
        Ok(Revoke::Revoked(revoked))
    })
    .await
}
