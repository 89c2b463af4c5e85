//! Tenants and their API keys. A key is `nudge_` followed by 40 random base62
//! characters; only its SHA-256 is stored (a fast hash is right for long random
//! secrets, as GitHub and Stripe do), with the first 12 characters kept as a visible
//! prefix so a merchant can tell keys apart.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use nudge_domain::{ApiScopes, TenantId};
use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::models::{ApiKey, Tenant};
use crate::schema::{api_keys, tenants};
use crate::scope::OfTenant;
use crate::{DbError, Page, PageRequest};

const KEY_PREFIX: &str = "nudge_";
pub const DEFAULT_REQUESTS_PER_MINUTE: i32 = 600;
pub const DEFAULT_DAILY_MESSAGE_CAP: i32 = 10_000;
/// Unrevoked keys a tenant may hold (expired ones count until revoked): enough for
/// every integration a shop has, few enough that keys are not a resource to hoard.
pub const MAX_ACTIVE_KEYS: i64 = 20;
const KEY_RANDOM_CHARS: usize = 40;
const VISIBLE_PREFIX_CHARS: usize = 12;

/// A freshly made key: the only moment the plain text exists.
pub struct IssuedKey {
    pub tenant: Tenant,
    pub plain_text: String,
    pub prefix: String,
}

/// What a new key may do, and until when.
#[derive(Debug, Clone, Copy)]
pub struct KeyGrant {
    pub scopes: ApiScopes,
    pub expires_at: Option<chrono::DateTime<Utc>>,
}

impl KeyGrant {
    /// Every scope, no expiry: a tenant's first key.
    pub fn full() -> Self {
        Self {
            scopes: ApiScopes::all(),
            expires_at: None,
        }
    }
}

/// A new key's plain text and the row that stores only its hash.
fn new_key(tenant_id: Uuid, name: &str, grant: KeyGrant) -> (String, ApiKey) {
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
        scopes: grant
            .scopes
            .names()
            .into_iter()
            .map(|s| Some(s.to_owned()))
            .collect(),
        expires_at: grant.expires_at,
        last_used_at: None,
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
        // Every tenant starts in the sandbox; an operator approves it (`approve`).
        approved_at: None,
        destination_calling_codes: None,
    };
    let (plain_text, key) = new_key(tenant.id, "default", KeyGrant::full());
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
    /// The cap as it applies now: the sandbox's at most, until the tenant is approved.
    pub daily_message_cap: i32,
    pub scopes: ApiScopes,
    /// When the key stops working, if it expires: a cached owner is not used past it.
    pub expires_at: Option<chrono::DateTime<Utc>>,
}

/// The owner of a presented key, if the key exists, is not revoked and has not expired.
pub async fn authenticate(
    conn: &mut AsyncPgConnection,
    presented_key: &str,
) -> Result<Option<KeyOwner>, DbError> {
    authenticate_hash(conn, &hash_key(presented_key)).await
}

/// [`authenticate`] for a key already hashed with [`hash_key`].
pub async fn authenticate_hash(
    conn: &mut AsyncPgConnection,
    key_hash: &str,
) -> Result<Option<KeyOwner>, DbError> {
    let row = api_keys::table
        .inner_join(tenants::table)
        .filter(api_keys::key_hash.eq(key_hash))
        .filter(api_keys::revoked_at.is_null())
        .filter(
            api_keys::expires_at
                .is_null()
                .or(api_keys::expires_at.gt(diesel::dsl::now)),
        )
        .select((
            api_keys::tenant_id,
            api_keys::id,
            tenants::requests_per_minute,
            tenants::daily_message_cap,
            api_keys::scopes,
            tenants::approved_at,
            api_keys::expires_at,
        ))
        .first::<(
            Uuid,
            Uuid,
            i32,
            i32,
            Vec<Option<String>>,
            Option<chrono::DateTime<Utc>>,
            Option<chrono::DateTime<Utc>>,
        )>(conn)
        .await
        .optional()?;
    Ok(row.map(
        |(
            tenant,
            api_key_id,
            requests_per_minute,
            daily_message_cap,
            scopes,
            approved_at,
            expires_at,
        )| {
            KeyOwner {
                tenant: TenantId::from_uuid(tenant),
                api_key_id,
                requests_per_minute,
                daily_message_cap: nudge_domain::SendingRules::daily_cap(
                    approved_at.is_some(),
                    daily_message_cap,
                ),
                scopes: crate::models::stored_scopes(&scopes),
                expires_at,
            }
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

/// Takes a tenant out of its sandbox; `false` if there is no such tenant. Approving
/// twice keeps the first approval's time.
pub async fn approve(conn: &mut AsyncPgConnection, tenant: TenantId) -> Result<bool, DbError> {
    let updated = diesel::update(tenants::table.filter(tenants::id.eq(tenant.as_uuid())))
        .set(tenants::approved_at.eq(diesel::dsl::sql::<
            diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
        >("coalesce(approved_at, now())")))
        .execute(conn)
        .await?;
    Ok(updated == 1)
}

/// Sets the country calling codes a tenant may text (`None`: back to those of its own
/// numbers); `false` if there is no such tenant.
pub async fn set_destinations(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    calling_codes: Option<Vec<String>>,
) -> Result<bool, DbError> {
    let updated = diesel::update(tenants::table.filter(tenants::id.eq(tenant.as_uuid())))
        .set(
            tenants::destination_calling_codes
                .eq(calling_codes.map(|codes| codes.into_iter().map(Some).collect::<Vec<_>>())),
        )
        .execute(conn)
        .await?;
    Ok(updated == 1)
}

/// What [`sending_rules`] reads, in one round trip (it runs on every send).
const SENDING_RULES: &str = "\
SELECT t.approved_at IS NOT NULL AS approved,
       t.destination_calling_codes AS calling_codes,
       ARRAY(SELECT s.number FROM sender_numbers s WHERE s.tenant_id = t.id) AS numbers,
       ARRAY(SELECT v.phone FROM verified_numbers v
             WHERE v.tenant_id = t.id AND v.verified_at IS NOT NULL
               AND t.approved_at IS NULL) AS verified
FROM tenants t
WHERE t.id = $1";

#[derive(QueryableByName)]
struct RulesRow {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    approved: bool,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Array<diesel::sql_types::Nullable<diesel::sql_types::Text>>>)]
    calling_codes: Option<Vec<Option<String>>>,
    #[diesel(sql_type = diesel::sql_types::Array<diesel::sql_types::Text>)]
    numbers: Vec<String>,
    #[diesel(sql_type = diesel::sql_types::Array<diesel::sql_types::Text>)]
    verified: Vec<String>,
}

/// Where the tenant may send now: approved or in its sandbox (with the numbers it
/// verified), and the calling codes it may text (its own list, else its numbers').
/// Takes a shared connection: it can be pipelined with the other lookups of a send.
pub async fn sending_rules(
    mut conn: &AsyncPgConnection,
    tenant: TenantId,
) -> Result<nudge_domain::SendingRules, DbError> {
    let row: RulesRow = crate::prepared::prepared(
        SENDING_RULES,
        vec![Box::new(
            crate::prepared::bind::<diesel::sql_types::Uuid, _>(tenant.as_uuid()),
        )],
    )
    .get_result(&mut conn)
    .await?;
    let calling_codes: Vec<String> = match row.calling_codes {
        Some(codes) => codes.into_iter().flatten().collect(),
        None => {
            let mut codes: Vec<String> = row
                .numbers
                .iter()
                .filter_map(|n| nudge_domain::PhoneNumber::parse(n).ok())
                .map(|n| n.calling_code().to_owned())
                .collect();
            codes.sort();
            codes.dedup();
            codes
        }
    };
    Ok(nudge_domain::SendingRules {
        approved: row.approved,
        calling_codes,
        verified: row.verified.into_iter().collect(),
    })
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

/// What [`issue_key`] did.
#[derive(Debug)]
pub enum Issued {
    /// The plain text (shown once) and the row.
    Issued(String, ApiKey),
    /// The tenant already holds [`MAX_ACTIVE_KEYS`] active keys.
    TooManyKeys,
}

/// Issues another key for a tenant, unless it holds [`MAX_ACTIVE_KEYS`] already (the
/// count and the insert are serialised per tenant, so two at once cannot both pass).
pub async fn issue_key(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    name: &str,
    grant: KeyGrant,
) -> Result<Issued, DbError> {
    let (plain_text, row) = new_key(tenant.as_uuid(), name, grant);
    conn.transaction::<_, DbError, _>(async |conn| {
        tenants::table
            .filter(tenants::id.eq(tenant.as_uuid()))
            .select(tenants::id)
            .for_update()
            .first::<Uuid>(conn)
            .await?; // a tenant that does not exist: NotFound, as a query error
        let active: i64 = api_keys::table
            .of(tenant)
            .filter(api_keys::revoked_at.is_null())
            .count()
            .get_result(conn)
            .await?;
        if active >= MAX_ACTIVE_KEYS {
            return Ok(Issued::TooManyKeys);
        }
        let row = diesel::insert_into(api_keys::table)
            .values(&row)
            .returning(ApiKey::as_returning())
            .get_result(conn)
            .await?;
        Ok(Issued::Issued(plain_text, row))
    })
    .await
}

/// The tenant's keys, newest first (hashes included: callers show only the prefix).
pub async fn list_keys(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    page: PageRequest,
) -> Result<Page<ApiKey>, DbError> {
    let mut query = api_keys::table
        .of(tenant)
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
            .of(tenant)
            .filter(api_keys::revoked_at.is_null())
            .select(api_keys::id)
            .for_update()
            .load(conn)
            .await?;
        let key = api_keys::table
            .of(tenant)
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

/// The channel on which every change to what a key authenticates to is announced, with
/// the tenant's id as the payload (the triggers of migration `auth_change_notices`):
/// a key revoked, expired, re-scoped or deleted; the tenant's limits or approval.
pub const AUTH_CHANGES_CHANNEL: &str = "nudge_auth_changes";

/// A connection listening on [`AUTH_CHANGES_CHANNEL`]; read it with
/// `notifications_stream()`. Its payloads parse with [`changed_tenant`].
pub async fn listen_for_auth_changes(database_url: &str) -> Result<AsyncPgConnection, DbError> {
    use diesel_async::SimpleAsyncConnection;
    let mut conn = crate::connect(database_url).await?;
    conn.batch_execute(&format!("LISTEN {AUTH_CHANGES_CHANNEL}"))
        .await?;
    Ok(conn)
}

/// The tenant an auth-change notice names (`None` if the payload is not a tenant id).
pub fn changed_tenant(notice: &diesel::pg::PgNotification) -> Option<TenantId> {
    (notice.channel == AUTH_CHANGES_CHANNEL)
        .then(|| notice.payload.parse::<TenantId>().ok())
        .flatten()
}
