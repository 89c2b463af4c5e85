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
use crate::DbError;

const KEY_PREFIX: &str = "nudge_";
const KEY_RANDOM_CHARS: usize = 40;
const VISIBLE_PREFIX_CHARS: usize = 12;

/// A freshly made key: the only moment the plain text exists.
pub struct IssuedKey {
    pub tenant: Tenant,
    pub plain_text: String,
    pub prefix: String,
}

pub fn hash_key(plain_text: &str) -> String {
    hex::encode(Sha256::digest(plain_text.as_bytes()))
}

/// Creates a tenant with its first API key, in one transaction.
pub async fn create_with_key(
    conn: &mut AsyncPgConnection,
    name: &str,
) -> Result<IssuedKey, DbError> {
    let plain_text = format!(
        "{KEY_PREFIX}{}",
        Alphanumeric.sample_string(&mut rand::rng(), KEY_RANDOM_CHARS)
    );
    let prefix: String = plain_text.chars().take(VISIBLE_PREFIX_CHARS).collect();
    let now = Utc::now();
    let tenant = Tenant {
        id: TenantId::new().as_uuid(),
        name: name.to_owned(),
        created_at: now,
    };
    let key = ApiKey {
        id: Uuid::now_v7(),
        tenant_id: tenant.id,
        prefix: prefix.clone(),
        key_hash: hash_key(&plain_text),
        created_at: now,
        revoked_at: None,
    };
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

/// The tenant a presented key belongs to, if the key exists and is not revoked.
pub async fn authenticate(
    conn: &mut AsyncPgConnection,
    presented_key: &str,
) -> Result<Option<TenantId>, DbError> {
    let tenant = api_keys::table
        .filter(api_keys::key_hash.eq(hash_key(presented_key)))
        .filter(api_keys::revoked_at.is_null())
        .select(api_keys::tenant_id)
        .first::<Uuid>(conn)
        .await
        .optional()?;
    Ok(tenant.map(TenantId::from_uuid))
}
