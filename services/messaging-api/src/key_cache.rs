//! API keys' owners, remembered by each replica for a few seconds so that a request
//! does not ask the database who its key belongs to (docs/performance.md).
//!
//! Revocation stays prompt: every change to what a key authenticates to (revoked,
//! expired, re-scoped; the tenant's limits or approval) is announced by a trigger on
//! Postgres's `nudge_auth_changes` channel, and each replica's listener drops what it
//! remembered of that tenant as the change commits. The cache's lifetime bounds how
//! stale a replica can be only while its listener is disconnected: then it forgets
//! everything at once, and again when it is back, and keeps entries no longer than
//! the lifetime meanwhile.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::StreamExt;
use nudge_db::tenants::KeyOwner;
use nudge_domain::TenantId;
use secrecy::{ExposeSecret, SecretString};
use tokio_util::sync::CancellationToken;

/// Most keys remembered at once; past it, the expired ones go, or all of them.
const MAX_KEYS: usize = 100_000;

/// How long the listener waits before connecting again after losing its connection.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

pub struct KeyCache {
    ttl: Duration,
    /// By the key's hash (as stored in `api_keys.key_hash`), never the key itself.
    owners: Mutex<HashMap<String, Remembered>>,
    /// Counts what was forgotten: an owner read from the database before a change was
    /// announced must not be remembered after it.
    forgotten: AtomicU64,
}

struct Remembered {
    owner: KeyOwner,
    at: Instant,
}

/// Where a lookup started, for [`KeyCache::remember`].
#[derive(Clone, Copy)]
pub struct Lookup(u64);

impl KeyCache {
    /// `ttl`: how long an owner is reused; zero turns the cache off.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            owners: Mutex::new(HashMap::new()),
            forgotten: AtomicU64::new(0),
        }
    }

    /// The remembered owner of the key with this hash, if it is fresh and unexpired.
    pub fn owner(&self, key_hash: &str) -> Option<KeyOwner> {
        let owners = self.lock();
        let remembered = owners.get(key_hash)?;
        let expired = remembered
            .owner
            .expires_at
            .is_some_and(|expires_at| expires_at <= Utc::now());
        (remembered.at.elapsed() < self.ttl && !expired).then_some(remembered.owner)
    }

    /// Call before asking the database; pass the result to [`KeyCache::remember`].
    pub fn lookup(&self) -> Lookup {
        Lookup(self.forgotten.load(Ordering::Acquire))
    }

    /// Remembers an owner read from the database, unless something was forgotten since
    /// the lookup started (the answer may predate the change).
    pub fn remember(&self, lookup: Lookup, key_hash: String, owner: KeyOwner) {
        if self.ttl.is_zero() {
            return;
        }
        let mut owners = self.lock();
        if self.forgotten.load(Ordering::Acquire) != lookup.0 {
            return;
        }
        if owners.len() >= MAX_KEYS {
            owners.retain(|_, remembered| remembered.at.elapsed() < self.ttl);
            if owners.len() >= MAX_KEYS {
                owners.clear();
            }
        }
        owners.insert(
            key_hash,
            Remembered {
                owner,
                at: Instant::now(),
            },
        );
    }

    /// Forgets the tenant's keys (a change to one of them, or to the tenant).
    pub fn forget_tenant(&self, tenant: TenantId) {
        let mut owners = self.lock();
        self.forgotten.fetch_add(1, Ordering::AcqRel);
        owners.retain(|_, remembered| remembered.owner.tenant != tenant);
    }

    pub fn forget_all(&self) {
        let mut owners = self.lock();
        self.forgotten.fetch_add(1, Ordering::AcqRel);
        owners.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Remembered>> {
        self.owners.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Follows the announced changes until `stop`, reconnecting when the connection is
    /// lost (forgetting everything then, since changes may have been missed).
    pub async fn follow_changes(&self, database_url: SecretString, stop: CancellationToken) {
        while !stop.is_cancelled() {
            match nudge_db::tenants::listen_for_auth_changes(database_url.expose_secret()).await {
                Ok(mut conn) => {
                    // Changes made before the LISTEN took effect were not heard.
                    self.forget_all();
                    let mut notices = std::pin::pin!(conn.notifications_stream());
                    loop {
                        tokio::select! {
                            () = stop.cancelled() => return,
                            notice = notices.next() => match notice {
                                Some(Ok(notice)) => match nudge_db::tenants::changed_tenant(&notice) {
                                    Some(tenant) => self.forget_tenant(tenant),
                                    None => self.forget_all(),
                                },
                                Some(Err(error)) => {
                                    tracing::warn!(%error, "lost the auth-change listener; forgetting cached keys");
                                    break;
                                }
                                None => {
                                    tracing::warn!("the auth-change listener closed; forgetting cached keys");
                                    break;
                                }
                            },
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for auth changes; cached keys live {:?} at most", self.ttl);
                }
            }
            self.forget_all();
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(RECONNECT_AFTER) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(tenant: TenantId) -> KeyOwner {
        KeyOwner {
            tenant,
            api_key_id: uuid::Uuid::now_v7(),
            requests_per_minute: 60,
            daily_message_cap: 100,
            scopes: nudge_domain::ApiScopes::all(),
            expires_at: None,
        }
    }

    #[test]
    fn an_owner_is_reused_until_its_tenant_changes() {
        let cache = KeyCache::new(Duration::from_secs(60));
        let (a, b) = (TenantId::new(), TenantId::new());
        cache.remember(cache.lookup(), "hash-a".into(), owner(a));
        cache.remember(cache.lookup(), "hash-b".into(), owner(b));
        assert_eq!(cache.owner("hash-a").map(|o| o.tenant), Some(a));
        cache.forget_tenant(a);
        assert!(cache.owner("hash-a").is_none());
        assert_eq!(
            cache.owner("hash-b").map(|o| o.tenant),
            Some(b),
            "other tenants stay"
        );
    }

    #[test]
    fn an_answer_older_than_a_change_is_not_remembered() {
        let cache = KeyCache::new(Duration::from_secs(60));
        let tenant = TenantId::new();
        let lookup = cache.lookup();
        // The change is announced while the database is being asked.
        cache.forget_tenant(tenant);
        cache.remember(lookup, "hash".into(), owner(tenant));
        assert!(cache.owner("hash").is_none());
    }

    #[test]
    fn expired_keys_and_old_entries_are_not_used() {
        let cache = KeyCache::new(Duration::from_millis(50));
        let tenant = TenantId::new();
        let expiring = KeyOwner {
            expires_at: Some(Utc::now() - chrono::Duration::seconds(1)),
            ..owner(tenant)
        };
        cache.remember(cache.lookup(), "expired".into(), expiring);
        assert!(cache.owner("expired").is_none());
        cache.remember(cache.lookup(), "fresh".into(), owner(tenant));
        assert!(cache.owner("fresh").is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.owner("fresh").is_none(), "older than the lifetime");
        let off = KeyCache::new(Duration::ZERO);
        off.remember(off.lookup(), "any".into(), owner(tenant));
        assert!(
            off.owner("any").is_none(),
            "a zero lifetime remembers nothing"
        );
    }
}
