//! Which Twilio account sends a message: the one its sender number lives in. A tenant
//! may have its own subaccount (docs/tenancy.md); every other number is in the
//! platform's. Tokens are stored sealed and opened here with the configuration's
//! keyring, then kept in memory for a minute, so a busy number costs one lookup a
//! minute, and a changed token (or a number moved between accounts) is picked up
//! within a minute.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nudge_db::DbPool;
use nudge_domain::sealed::Keyring;
use secrecy::SecretString;

use crate::twilio::Account;

/// How long a number's account is remembered.
const REMEMBERED_FOR: Duration = Duration::from_secs(60);

/// A number's account (`None`: the platform's), as read at `at`.
struct Remembered {
    at: Instant,
    account: Option<Arc<Account>>,
}

pub struct Accounts {
    pool: DbPool,
    /// `None`: no keyring configured, so only the platform's account can send.
    keyring: Option<Arc<Keyring>>,
    /// By sender number.
    remembered: Mutex<HashMap<String, Remembered>>,
}

impl Accounts {
    pub fn new(pool: DbPool, keyring: Option<Keyring>) -> Self {
        Self {
            pool,
            keyring: keyring.map(Arc::new),
            remembered: Mutex::new(HashMap::new()),
        }
    }

    /// The account `number` sends from (`None`: the platform's). The error says why it
    /// cannot be had (the database, or a token that does not open); the send is then
    /// retried as after a provider outage, never sent through another account.
    pub async fn for_number(&self, number: &str) -> Result<Option<Arc<Account>>, String> {
        if let Some(found) = self.remembered(number) {
            return Ok(found);
        }
        let mut conn = self.pool.get().await.map_err(|e| e.to_string())?;
        let found = nudge_db::provider_accounts::of_number(&mut conn, number)
            .await
            .map_err(|e| e.to_string())?;
        let account = match found.and_then(|(_, account)| account) {
            None => None,
            Some(row) => {
                let keyring = self.keyring.as_ref().ok_or_else(|| {
                    format!(
                        "{number} is in account {}, and SECRETS_KEYRING is not set to open its token",
                        row.account_sid
                    )
                })?;
                let token = keyring
                    .open(&row.auth_token_sealed, &row.account_sid)
                    .map_err(|e| format!("account {}: {e}", row.account_sid))?;
                Some(Arc::new(Account::new(
                    &row.account_sid,
                    SecretString::from(token),
                )))
            }
        };
        if let Ok(mut remembered) = self.remembered.lock() {
            remembered.insert(
                number.to_owned(),
                Remembered {
                    at: Instant::now(),
                    account: account.clone(),
                },
            );
        }
        Ok(account)
    }

    fn remembered(&self, number: &str) -> Option<Option<Arc<Account>>> {
        let remembered = self.remembered.lock().ok()?;
        let found = remembered.get(number)?;
        (found.at.elapsed() < REMEMBERED_FOR).then(|| found.account.clone())
    }
}
