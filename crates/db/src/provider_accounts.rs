//! Tenants' own provider accounts (Twilio subaccounts) and which account each sender
//! number lives in. Tokens arrive and leave sealed: this module never sees one in plain
//! text (the callers seal and open with the configuration's keyring).

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use nudge_domain::TenantId;
use uuid::Uuid;

use crate::models::ProviderAccount;
use crate::schema::{provider_accounts, sender_numbers, tenants};
use crate::scope::OfTenant;
use crate::DbError;

/// What [`add`] did.
#[derive(Debug)]
pub enum Added {
    Added(ProviderAccount),
    /// The SID is already registered (to this tenant or another: the operator is told
    /// which).
    Taken(TenantId),
    NoSuchTenant,
}

/// Registers `account_sid` as `tenant`'s, with its token sealed.
pub async fn add(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    account_sid: &str,
    auth_token_sealed: &str,
) -> Result<Added, DbError> {
    conn.transaction::<_, DbError, _>(async |conn| {
        let exists: Option<Uuid> = tenants::table
            .filter(tenants::id.eq(tenant.as_uuid()))
            .select(tenants::id)
            .first(conn)
            .await
            .optional()?;
        if exists.is_none() {
            return Ok(Added::NoSuchTenant);
        }
        let inserted: Option<ProviderAccount> = diesel::insert_into(provider_accounts::table)
            .values((
                provider_accounts::id.eq(Uuid::now_v7()),
                provider_accounts::tenant_id.eq(tenant.as_uuid()),
                provider_accounts::account_sid.eq(account_sid),
                provider_accounts::auth_token_sealed.eq(auth_token_sealed),
            ))
            .on_conflict_do_nothing()
            .returning(ProviderAccount::as_returning())
            .get_result(conn)
            .await
            .optional()?;
        match inserted {
            Some(account) => Ok(Added::Added(account)),
            None => {
                let owner = find_by_sid(conn, account_sid).await?.ok_or_else(|| {
                    DbError::Corrupt(format!("{account_sid}: neither inserted nor present"))
                })?;
                Ok(Added::Taken(TenantId::from_uuid(owner.tenant_id)))
            }
        }
    })
    .await
}

/// The account with this SID, whoever's it is (the listener learns the tenant from it).
pub async fn find_by_sid(
    conn: &mut AsyncPgConnection,
    account_sid: &str,
) -> Result<Option<ProviderAccount>, DbError> {
    Ok(provider_accounts::table
        .filter(provider_accounts::account_sid.eq(account_sid))
        .select(ProviderAccount::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Every account (or one tenant's), by SID.
pub async fn list(
    conn: &mut AsyncPgConnection,
    tenant: Option<TenantId>,
) -> Result<Vec<ProviderAccount>, DbError> {
    // `None`: the operator's view of every tenant's accounts.
    let rows = match tenant {
        Some(tenant) => provider_accounts::table.of(tenant).into_boxed(),
        None => provider_accounts::table.into_boxed(),
    };
    Ok(rows
        .select(ProviderAccount::as_select())
        .order(provider_accounts::account_sid)
        .load(conn)
        .await?)
}

/// Replaces an account's sealed token (a new token, or the same one sealed with a new
/// key); `false` if there is no such account.
pub async fn set_sealed_token(
    conn: &mut AsyncPgConnection,
    account_sid: &str,
    auth_token_sealed: &str,
) -> Result<bool, DbError> {
    let updated = diesel::update(provider_accounts::table)
        .filter(provider_accounts::account_sid.eq(account_sid))
        .set((
            provider_accounts::auth_token_sealed.eq(auth_token_sealed),
            provider_accounts::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(updated == 1)
}

/// What [`move_number`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Moved {
    Moved,
    NoSuchNumber,
    /// The account is not the number's tenant's (or does not exist).
    NotTheTenantsAccount,
}

/// Puts `number` in the account `account_sid` of its own tenant, or (`None`) in the
/// platform's account.
pub async fn move_number(
    conn: &mut AsyncPgConnection,
    number: &str,
    account_sid: Option<&str>,
) -> Result<Moved, DbError> {
    conn.transaction::<_, DbError, _>(async |conn| {
        let tenant: Option<Uuid> = sender_numbers::table
            .filter(sender_numbers::number.eq(number))
            .select(sender_numbers::tenant_id)
            .for_update()
            .first(conn)
            .await
            .optional()?;
        let Some(tenant) = tenant else {
            return Ok(Moved::NoSuchNumber);
        };
        let account_id = match account_sid {
            None => None,
            Some(sid) => match find_by_sid(conn, sid).await? {
                Some(account) if account.tenant_id == tenant => Some(account.id),
                _ => return Ok(Moved::NotTheTenantsAccount),
            },
        };
        diesel::update(sender_numbers::table.filter(sender_numbers::number.eq(number)))
            .set(sender_numbers::account_id.eq(account_id))
            .execute(conn)
            .await?;
        Ok(Moved::Moved)
    })
    .await
}

/// Where a number lives: its tenant, and its account (`None`: the platform's). `None`
/// if nobody owns the number.
pub async fn of_number(
    conn: &mut AsyncPgConnection,
    number: &str,
) -> Result<Option<(TenantId, Option<ProviderAccount>)>, DbError> {
    let found: Option<(Uuid, Option<ProviderAccount>)> = sender_numbers::table
        .left_join(
            provider_accounts::table.on(provider_accounts::id
                .nullable()
                .eq(sender_numbers::account_id)
                .and(provider_accounts::tenant_id.eq(sender_numbers::tenant_id))),
        )
        .filter(sender_numbers::number.eq(number))
        .select((
            sender_numbers::tenant_id,
            Option::<ProviderAccount>::as_select(),
        ))
        .first(conn)
        .await
        .optional()?;
    Ok(found.map(|(tenant, account)| (TenantId::from_uuid(tenant), account)))
}
