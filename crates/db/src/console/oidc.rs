//! Sign-in with an OpenID Connect provider: sign-ins in progress (single use, short
//! lived) and the provider identities linked to console accounts. Not scoped by a
//! tenant: this is how a person's account, and so their tenant, is found.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::models::ConsoleUser;
use crate::schema::{console_oidc_identities, console_oidc_logins, console_users};
use crate::DbError;

/// What a sign-in in progress keeps until the browser comes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLogin {
    pub nonce: String,
    pub code_verifier: String,
}

pub async fn start_login(
    conn: &mut AsyncPgConnection,
    state_hash: &str,
    login: &PendingLogin,
    valid_for: Duration,
) -> Result<(), DbError> {
    let now = Utc::now();
    diesel::insert_into(console_oidc_logins::table)
        .values((
            console_oidc_logins::state_hash.eq(state_hash),
            console_oidc_logins::nonce.eq(&login.nonce),
            console_oidc_logins::code_verifier.eq(&login.code_verifier),
            console_oidc_logins::created_at.eq(now),
            console_oidc_logins::expires_at.eq(now + valid_for),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Spends the sign-in with that state: `None` when there is none, or it expired. A
/// state works once, even when what follows fails.
pub async fn take_login(
    conn: &mut AsyncPgConnection,
    state_hash: &str,
) -> Result<Option<PendingLogin>, DbError> {
    let taken: Option<(String, String, DateTime<Utc>)> =
        diesel::delete(console_oidc_logins::table.find(state_hash))
            .returning((
                console_oidc_logins::nonce,
                console_oidc_logins::code_verifier,
                console_oidc_logins::expires_at,
            ))
            .get_result(conn)
            .await
            .optional()?;
    Ok(taken
        .filter(|(_, _, expires_at)| *expires_at > Utc::now())
        .map(|(nonce, code_verifier, _)| PendingLogin {
            nonce,
            code_verifier,
        }))
}

/// Removes sign-ins that were never finished.
pub async fn delete_expired_logins(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
) -> Result<usize, DbError> {
    Ok(
        diesel::delete(console_oidc_logins::table.filter(console_oidc_logins::expires_at.le(now)))
            .execute(conn)
            .await?,
    )
}

/// Who the provider says signed in.
#[derive(Debug, Clone)]
pub struct ProviderIdentity<'a> {
    pub issuer: &'a str,
    pub subject: &'a str,
    /// Lower-cased; verified by the provider.
    pub email: &'a str,
}

/// The account of a provider identity: the one linked to it, or else the account of
/// its verified address, which is then linked (and its address taken as confirmed;
/// a password set before the address was confirmed is dropped). `None` when neither
/// exists: signing in does not create accounts.
pub async fn account_for(
    conn: &mut AsyncPgConnection,
    identity: &ProviderIdentity<'_>,
) -> Result<Option<ConsoleUser>, DbError> {
    conn.transaction::<_, DbError, _>(async |conn| {
        let linked: Option<ConsoleUser> = console_oidc_identities::table
            .inner_join(console_users::table)
            .filter(console_oidc_identities::issuer.eq(identity.issuer))
            .filter(console_oidc_identities::subject.eq(identity.subject))
            .select(ConsoleUser::as_select())
            .first(conn)
            .await
            .optional()?;
        if linked.is_some() {
            return Ok(linked);
        }
        let Some(user) = super::find_user_by_email(conn, identity.email).await? else {
            return Ok(None);
        };
        diesel::insert_into(console_oidc_identities::table)
            .values((
                console_oidc_identities::issuer.eq(identity.issuer),
                console_oidc_identities::subject.eq(identity.subject),
                console_oidc_identities::user_id.eq(user.id),
                console_oidc_identities::created_at.eq(Utc::now()),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        // An account whose address was never confirmed may have been made by someone
        // else with this address (to take it over once its owner arrives): its
        // password, chosen by whoever that was, stops working.
        let unproven_password = user.email_verified_at.is_none();
        let user = diesel::update(console_users::table.find(user.id))
            .set((
                console_users::email_verified_at.eq(super::confirmed_now()),
                console_users::password_hash.eq(if unproven_password {
                    None
                } else {
                    user.password_hash.clone()
                }),
            ))
            .returning(ConsoleUser::as_returning())
            .get_result(conn)
            .await?;
        Ok(Some(user))
    })
    .await
}

/// The identities linked to an account (for tests and support).
pub async fn identities_of(
    conn: &mut AsyncPgConnection,
    user: Uuid,
) -> Result<Vec<(String, String)>, DbError> {
    Ok(console_oidc_identities::table
        .filter(console_oidc_identities::user_id.eq(user))
        .select((
            console_oidc_identities::issuer,
            console_oidc_identities::subject,
        ))
        .load(conn)
        .await?)
}
