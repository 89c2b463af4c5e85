//! The console's accounts, sessions, single-use email links and outgoing email.
//!
//! Lookups by email address and by session token are not scoped by a tenant: they are
//! how a person's tenant is learnt. Everything a session then reads is scoped by the
//! session's tenant.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use nudge_domain::TenantId;
use rand::distr::{Alphanumeric, SampleString};
use uuid::Uuid;

use crate::models::{ConsoleEmail, ConsoleEmailToken, ConsoleSession, ConsoleUser, Tenant};
use crate::schema::{
    console_email_tokens, console_emails, console_reset_codes, console_sessions, console_users,
    tenants,
};
use crate::DbError;

pub mod oidc;
pub mod team;

/// The purpose of a link that confirms an email address.
pub const VERIFY_EMAIL: &str = "verify_email";

/// Characters of a session or link token: about 256 bits.
const TOKEN_CHARS: usize = 43;

/// A new random token (for a cookie or a link). Only its hash is stored.
pub fn new_token() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), TOKEN_CHARS)
}

/// What is stored for a token: its SHA-256, as for API keys.
pub fn hash_token(plain_text: &str) -> String {
    crate::tenants::hash_key(plain_text)
}

/// An email to hand to the mailer.
#[derive(Debug, Clone)]
pub struct OutgoingEmail {
    pub to: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
}

pub async fn find_user_by_email(
    conn: &mut AsyncPgConnection,
    email: &str,
) -> Result<Option<ConsoleUser>, DbError> {
    Ok(console_users::table
        .filter(console_users::email.eq(email))
        .select(ConsoleUser::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// A new tenant, named by its owner, with the owner's (unverified) account, the link
/// that confirms the address and the email carrying it: all or nothing. A taken
/// address is `DbError::Conflict`.
pub async fn create_owner(
    conn: &mut AsyncPgConnection,
    tenant_name: &str,
    email: &str,
    password_hash: &str,
    link: &NewLink<'_>,
    message: &OutgoingEmail,
) -> Result<ConsoleUser, DbError> {
    conn.transaction::<_, DbError, _>(async |conn| {
        let now = Utc::now();
        let tenant = Tenant {
            id: TenantId::new().as_uuid(),
            name: tenant_name.to_owned(),
            created_at: now,
            requests_per_minute: crate::tenants::DEFAULT_REQUESTS_PER_MINUTE,
            daily_message_cap: crate::tenants::DEFAULT_DAILY_MESSAGE_CAP,
            lead_search_daily_queries: None,
            // Anyone can sign up: a new tenant starts in the sandbox (docs/tenancy.md).
            approved_at: None,
            destination_calling_codes: None,
        };
        diesel::insert_into(tenants::table)
            .values(&tenant)
            .execute(conn)
            .await?;
        let user = ConsoleUser {
            id: Uuid::now_v7(),
            tenant_id: tenant.id,
            email: email.to_owned(),
            password_hash: Some(password_hash.to_owned()),
            role: "owner".into(),
            email_verified_at: None,
            created_at: now,
        };
        let user = diesel::insert_into(console_users::table)
            .values(&user)
            .returning(ConsoleUser::as_returning())
            .get_result(conn)
            .await?;
        insert_link(conn, user.id, link).await?;
        enqueue_email(conn, Some(TenantId::from_uuid(tenant.id)), message).await?;
        Ok(user)
    })
    .await
}

/// An account an operator creates in an existing tenant, its address taken as
/// confirmed (`messaging-api admin create-console-user`). A taken address is
/// `DbError::Conflict`; an unknown tenant `DbError::InUse` (its foreign key).
pub async fn create_confirmed_user(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    email: &str,
    password_hash: &str,
    role: &str,
) -> Result<ConsoleUser, DbError> {
    let now = Utc::now();
    Ok(diesel::insert_into(console_users::table)
        .values(&ConsoleUser {
            id: Uuid::now_v7(),
            tenant_id: tenant.as_uuid(),
            email: email.to_owned(),
            password_hash: Some(password_hash.to_owned()),
            role: role.to_owned(),
            email_verified_at: Some(now),
            created_at: now,
        })
        .returning(ConsoleUser::as_returning())
        .get_result(conn)
        .await?)
}

/// A single-use link about to be sent.
pub struct NewLink<'a> {
    pub token_hash: &'a str,
    pub purpose: &'static str,
    pub valid_for: Duration,
}

async fn insert_link(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    link: &NewLink<'_>,
) -> Result<(), DbError> {
    let now = Utc::now();
    diesel::insert_into(console_email_tokens::table)
        .values(&ConsoleEmailToken {
            token_hash: link.token_hash.to_owned(),
            user_id: user,
            purpose: link.purpose.to_owned(),
            created_at: now,
            expires_at: now + link.valid_for,
            used_at: None,
        })
        .execute(conn)
        .await?;
    Ok(())
}

/// A new link for an existing account and the email carrying it, together.
pub async fn send_link(
    conn: &mut AsyncPgConnection,
    user: &ConsoleUser,
    link: &NewLink<'_>,
    message: &OutgoingEmail,
) -> Result<(), DbError> {
    conn.transaction::<_, DbError, _>(async |conn| {
        insert_link(conn, user.id, link).await?;
        enqueue_email(conn, Some(TenantId::from_uuid(user.tenant_id)), message).await
    })
    .await
}

/// What following a link came to.
#[derive(Debug)]
pub enum LinkUse {
    /// The address is confirmed (now, or it already was through another link).
    Verified(Box<ConsoleUser>),
    Expired,
    AlreadyUsed,
    Unknown,
}

/// Uses a confirmation link, once: the token is locked, checked and spent in one
/// transaction, so two clicks at the same moment confirm once and the second is told
/// the link was used.
pub async fn use_verification_link(
    conn: &mut AsyncPgConnection,
    token_hash: &str,
) -> Result<LinkUse, DbError> {
    conn.transaction::<_, DbError, _>(async |conn| {
        let token: Option<ConsoleEmailToken> = console_email_tokens::table
            .filter(console_email_tokens::token_hash.eq(token_hash))
            .filter(console_email_tokens::purpose.eq(VERIFY_EMAIL))
            .select(ConsoleEmailToken::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()?;
        let Some(token) = token else {
            return Ok(LinkUse::Unknown);
        };
        let now = Utc::now();
        if token.used_at.is_some() {
            return Ok(LinkUse::AlreadyUsed);
        }
        if token.expires_at <= now {
            return Ok(LinkUse::Expired);
        }
        diesel::update(console_email_tokens::table.find(&token.token_hash))
            .set(console_email_tokens::used_at.eq(now))
            .execute(conn)
            .await?;
        let user = diesel::update(console_users::table.find(token.user_id))
            .set(console_users::email_verified_at.eq(confirmed_now()))
            .returning(ConsoleUser::as_returning())
            .get_result(conn)
            .await?;
        Ok(LinkUse::Verified(Box::new(user)))
    })
    .await
}

/// `email_verified_at` once the address is shown to be the person's: the first
/// confirmation's time stays.
fn confirmed_now(
) -> diesel::expression::SqlLiteral<diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>> {
    diesel::dsl::sql("COALESCE(email_verified_at, now())")
}

/// A session as a request sees it: the session, its person and their tenant's name.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub session: ConsoleSession,
    pub user: ConsoleUser,
    pub tenant_name: String,
}

pub async fn create_session(
    conn: &mut AsyncPgConnection,
    session: &ConsoleSession,
) -> Result<(), DbError> {
    diesel::insert_into(console_sessions::table)
        .values(session)
        .execute(conn)
        .await?;
    Ok(())
}

/// The live session with that token, if any (an expired one is as good as none).
pub async fn find_session(
    conn: &mut AsyncPgConnection,
    token_hash: &str,
) -> Result<Option<SignedIn>, DbError> {
    let found: Option<(ConsoleSession, ConsoleUser, String)> = console_sessions::table
        .inner_join(console_users::table)
        .inner_join(tenants::table.on(tenants::id.eq(console_sessions::tenant_id)))
        .filter(console_sessions::token_hash.eq(token_hash))
        .filter(console_sessions::expires_at.gt(Utc::now()))
        .select((
            ConsoleSession::as_select(),
            ConsoleUser::as_select(),
            tenants::name,
        ))
        .first(conn)
        .await
        .optional()?;
    Ok(found.map(|(session, user, tenant_name)| SignedIn {
        session,
        user,
        tenant_name,
    }))
}

pub async fn delete_session(conn: &mut AsyncPgConnection, token_hash: &str) -> Result<(), DbError> {
    diesel::delete(console_sessions::table.find(token_hash))
        .execute(conn)
        .await?;
    Ok(())
}

/// Removes sessions, links, codes and provider sign-ins that can no longer be used.
pub async fn delete_expired(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
) -> Result<usize, DbError> {
    let sessions =
        diesel::delete(console_sessions::table.filter(console_sessions::expires_at.le(now)))
            .execute(conn)
            .await?;
    let links = diesel::delete(
        console_email_tokens::table
            .filter(console_email_tokens::expires_at.le(now - Duration::days(7))),
    )
    .execute(conn)
    .await?;
    let codes = diesel::delete(
        console_reset_codes::table
            .filter(console_reset_codes::expires_at.le(now - Duration::days(7))),
    )
    .execute(conn)
    .await?;
    let logins = oidc::delete_expired_logins(conn, now).await?;
    Ok(sessions + links + codes + logins)
}

/// Queues an email for the mailer.
pub async fn enqueue_email(
    conn: &mut AsyncPgConnection,
    tenant: Option<TenantId>,
    message: &OutgoingEmail,
) -> Result<(), DbError> {
    let now = Utc::now();
    diesel::insert_into(console_emails::table)
        .values(&ConsoleEmail {
            id: Uuid::now_v7(),
            tenant_id: tenant.map(|t| t.as_uuid()),
            to_address: message.to.clone(),
            subject: message.subject.clone(),
            text_body: message.text_body.clone(),
            html_body: message.html_body.clone(),
            status: "pending".into(),
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            provider_message_id: None,
            created_at: now,
            sent_at: None,
        })
        .execute(conn)
        .await?;
    Ok(())
}

/// Takes up to `limit` emails that are due, each leased for `lease` (pushed out of
/// reach of other API replicas' mailers while this one sends it).
pub async fn take_due_emails(
    conn: &mut AsyncPgConnection,
    limit: i64,
    lease: Duration,
) -> Result<Vec<ConsoleEmail>, DbError> {
    conn.transaction::<_, DbError, _>(async |conn| {
        let due: Vec<Uuid> = console_emails::table
            .filter(console_emails::status.eq("pending"))
            .filter(console_emails::next_attempt_at.le(diesel::dsl::now))
            .order(console_emails::next_attempt_at.asc())
            .limit(limit)
            .select(console_emails::id)
            .for_update()
            .skip_locked()
            .load(conn)
            .await?;
        if due.is_empty() {
            return Ok(Vec::new());
        }
        Ok(diesel::update(console_emails::table)
            .filter(console_emails::id.eq_any(&due))
            .set(console_emails::next_attempt_at.eq(Utc::now() + lease))
            .returning(ConsoleEmail::as_returning())
            .get_results(conn)
            .await?)
    })
    .await
}

/// Sent: the provider's id is kept, the bodies (which hold single-use links) are not.
pub async fn mark_email_sent(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    provider_message_id: &str,
) -> Result<(), DbError> {
    diesel::update(console_emails::table.find(id))
        .set((
            console_emails::status.eq("sent"),
            console_emails::attempts.eq(console_emails::attempts + 1),
            console_emails::provider_message_id.eq(provider_message_id),
            console_emails::sent_at.eq(diesel::dsl::now),
            console_emails::text_body.eq(""),
            console_emails::html_body.eq(""),
            console_emails::last_error.eq(None::<String>),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// A failed attempt: tried again at `retry_at`, or given up (`None`).
pub async fn mark_email_attempt_failed(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> Result<(), DbError> {
    let status = if retry_at.is_some() {
        "pending"
    } else {
        "failed"
    };
    diesel::update(console_emails::table.find(id))
        .set((
            console_emails::status.eq(status),
            console_emails::attempts.eq(console_emails::attempts + 1),
            console_emails::next_attempt_at.eq(retry_at.unwrap_or_else(Utc::now)),
            console_emails::last_error.eq(error),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Wrong guesses a reset code allows before it is spent.
pub const RESET_CODE_MAX_ATTEMPTS: i32 = 5;

/// What is stored for a reset code: tied to its account, so equal codes of two
/// accounts differ.
pub fn hash_reset_code(user: Uuid, code: &str) -> String {
    hash_token(&format!("{user}:{code}"))
}

/// A new reset code for the account (any earlier one is spent: only the latest email
/// counts) and the email carrying it, together.
pub async fn issue_reset_code(
    conn: &mut AsyncPgConnection,
    user: &ConsoleUser,
    code_hash: &str,
    valid_for: Duration,
    message: &OutgoingEmail,
) -> Result<(), DbError> {
    conn.transaction::<_, DbError, _>(async |conn| {
        let now = Utc::now();
        diesel::update(
            console_reset_codes::table
                .filter(console_reset_codes::user_id.eq(user.id))
                .filter(console_reset_codes::used_at.is_null()),
        )
        .set(console_reset_codes::used_at.eq(now))
        .execute(conn)
        .await?;
        diesel::insert_into(console_reset_codes::table)
            .values((
                console_reset_codes::id.eq(Uuid::now_v7()),
                console_reset_codes::user_id.eq(user.id),
                console_reset_codes::code_hash.eq(code_hash),
                console_reset_codes::created_at.eq(now),
                console_reset_codes::expires_at.eq(now + valid_for),
            ))
            .execute(conn)
            .await?;
        enqueue_email(conn, Some(TenantId::from_uuid(user.tenant_id)), message).await
    })
    .await
}

/// What a reset attempt came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Reset {
    /// The password is changed and every session of the account has ended.
    Done,
    /// Not the code; the code allows `attempts_left` more guesses.
    WrongCode { attempts_left: i32 },
    /// No code is live: none was asked for, it expired, was used or guessed at too often.
    NoLiveCode,
}

/// Checks `code_hash` against the account's live code and, when it matches, sets the
/// new password, spends the code and ends every session of the account, in one
/// transaction. A wrong guess is counted (and committed) under the code's row lock,
/// so parallel guesses cannot exceed the allowance.
pub async fn reset_password(
    conn: &mut AsyncPgConnection,
    user: &ConsoleUser,
    code_hash: &str,
    new_password_hash: &str,
) -> Result<Reset, DbError> {
    conn.transaction::<_, DbError, _>(async |conn| {
        let now = Utc::now();
        let live: Option<(Uuid, String, i32)> = console_reset_codes::table
            .filter(console_reset_codes::user_id.eq(user.id))
            .filter(console_reset_codes::used_at.is_null())
            .filter(console_reset_codes::expires_at.gt(now))
            .order(console_reset_codes::created_at.desc())
            .select((
                console_reset_codes::id,
                console_reset_codes::code_hash,
                console_reset_codes::attempts,
            ))
            .for_update()
            .first(conn)
            .await
            .optional()?;
        let Some((id, stored, attempts)) = live else {
            return Ok(Reset::NoLiveCode);
        };
        if stored != code_hash {
            let attempts = attempts + 1;
            let spent = attempts >= RESET_CODE_MAX_ATTEMPTS;
            diesel::update(console_reset_codes::table.find(id))
                .set((
                    console_reset_codes::attempts.eq(attempts),
                    console_reset_codes::used_at.eq(spent.then_some(now)),
                ))
                .execute(conn)
                .await?;
            return Ok(Reset::WrongCode {
                attempts_left: RESET_CODE_MAX_ATTEMPTS - attempts,
            });
        }
        diesel::update(console_reset_codes::table.find(id))
            .set(console_reset_codes::used_at.eq(now))
            .execute(conn)
            .await?;
        // The code reached the address, which confirms it as a link would.
        diesel::update(console_users::table.find(user.id))
            .set((
                console_users::password_hash.eq(new_password_hash),
                console_users::email_verified_at.eq(confirmed_now()),
            ))
            .execute(conn)
            .await?;
        diesel::delete(console_sessions::table.filter(console_sessions::user_id.eq(user.id)))
            .execute(conn)
            .await?;
        Ok(Reset::Done)
    })
    .await
}
