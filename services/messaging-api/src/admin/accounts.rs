//! `messaging-api admin accounts ...`: tenants' own provider accounts (Twilio
//! subaccounts). The auth token is read from standard input (never the command line,
//! which other users of the machine can see), sealed with `SECRETS_KEYRING`'s first key
//! and stored; it is never printed again.

use nudge_db::provider_accounts::{Added, Moved};
use nudge_db::AsyncPgConnection;
use nudge_domain::sealed::Keyring;
use nudge_domain::TenantId;
use serde_json::json;

/// `AC` and 32 hex digits, as Twilio's account SIDs are.
fn check_sid(sid: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        sid.len() == 34 && sid.starts_with("AC") && sid[2..].bytes().all(|b| b.is_ascii_hexdigit()),
        "--account-sid must be AC and 32 hex digits, not '{sid}'"
    );
    Ok(())
}

fn check_token(token: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        (16..=128).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_graphic()),
        "the auth token (standard input) must be 16 to 128 printable characters"
    );
    Ok(())
}

/// Registers a tenant's subaccount with its auth token.
pub async fn add(
    conn: &mut AsyncPgConnection,
    keyring: &Keyring,
    tenant: TenantId,
    account_sid: &str,
    auth_token: &str,
) -> anyhow::Result<String> {
    check_sid(account_sid)?;
    check_token(auth_token)?;
    let sealed = keyring.seal(auth_token, account_sid)?;
    match nudge_db::provider_accounts::add(conn, tenant, account_sid, &sealed).await? {
        Added::Added(account) => Ok(json!({
            "account_sid": account.account_sid,
            "tenant_id": account.tenant_id,
            "sealed_with": keyring.sealing_key_id(),
        })
        .to_string()),
        Added::Taken(owner) => {
            anyhow::bail!("{account_sid} is already registered (tenant {owner})")
        }
        Added::NoSuchTenant => anyhow::bail!("no tenant {tenant}"),
    }
}

/// Replaces an account's auth token (after the merchant rotated it at Twilio).
pub async fn set_token(
    conn: &mut AsyncPgConnection,
    keyring: &Keyring,
    account_sid: &str,
    auth_token: &str,
) -> anyhow::Result<String> {
    check_sid(account_sid)?;
    check_token(auth_token)?;
    let sealed = keyring.seal(auth_token, account_sid)?;
    anyhow::ensure!(
        nudge_db::provider_accounts::set_sealed_token(conn, account_sid, &sealed).await?,
        "no account {account_sid}"
    );
    Ok(json!({ "account_sid": account_sid, "sealed_with": keyring.sealing_key_id() }).to_string())
}

/// The accounts (never their tokens), one JSON object per line.
pub async fn list(
    conn: &mut AsyncPgConnection,
    tenant: Option<TenantId>,
) -> anyhow::Result<String> {
    let accounts = nudge_db::provider_accounts::list(conn, tenant).await?;
    Ok(accounts
        .iter()
        .map(|account| {
            json!({
                "account_sid": account.account_sid,
                "tenant_id": account.tenant_id,
                "provider": account.provider,
                "sealed_with": Keyring::key_id_of(&account.auth_token_sealed),
                "updated_at": account.updated_at,
            })
            .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n"))
}

/// Seals every token again with the keyring's first key: the step of a key rotation
/// after which the old key can leave `SECRETS_KEYRING`. A token that does not open
/// stops the command (nothing after it is changed; what was resealed stays resealed).
pub async fn reseal(conn: &mut AsyncPgConnection, keyring: &Keyring) -> anyhow::Result<String> {
    let mut resealed = 0;
    for account in nudge_db::provider_accounts::list(conn, None).await? {
        if Keyring::key_id_of(&account.auth_token_sealed) == Some(keyring.sealing_key_id()) {
            continue;
        }
        let token = keyring
            .open(&account.auth_token_sealed, &account.account_sid)
            .map_err(|e| anyhow::anyhow!("{}: {e}", account.account_sid))?;
        let sealed = keyring.seal(&token, &account.account_sid)?;
        nudge_db::provider_accounts::set_sealed_token(conn, &account.account_sid, &sealed).await?;
        resealed += 1;
    }
    Ok(json!({ "resealed": resealed, "sealed_with": keyring.sealing_key_id() }).to_string())
}

/// Puts a number in one of its tenant's accounts, or (`platform`) in the platform's.
pub async fn move_number(
    conn: &mut AsyncPgConnection,
    number: &str,
    account: &str,
) -> anyhow::Result<String> {
    let number = nudge_domain::PhoneNumber::parse(number)
        .map_err(|e| anyhow::anyhow!("--number '{number}': {e}"))?;
    let account_sid = (account != "platform").then_some(account);
    if let Some(sid) = account_sid {
        check_sid(sid)?;
    }
    match nudge_db::provider_accounts::move_number(conn, number.as_str(), account_sid).await? {
        Moved::Moved => Ok(json!({ "number": number.as_str(), "account": account }).to_string()),
        Moved::NoSuchNumber => anyhow::bail!("{number} is nobody's sender number"),
        Moved::NotTheTenantsAccount => {
            anyhow::bail!("{account} is not an account of {number}'s tenant")
        }
    }
}
