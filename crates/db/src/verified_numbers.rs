//! Numbers a sandbox tenant has proven it may text. The proof runs backwards: the tenant
//! gets a code ([`issue`]), and the person holding the number texts it to one of the
//! tenant's numbers; the inbound text, from that number, proves it ([`confirm_by_text`],
//! in the transaction that stores the text). Nothing is sent, so verifying costs nothing
//! and cannot be abused to text anyone; and the tenant may see the code, because knowing
//! it proves nothing without the phone.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use nudge_domain::{PhoneNumber, TenantId};
use sha2::{Digest, Sha256};

use crate::models::VerifiedNumber;
use crate::schema::verified_numbers;
use crate::scope::OfTenant;
use crate::DbError;

/// How long a code may be texted back.
pub const CODE_LIFETIME: Duration = Duration::minutes(30);
/// Numbers a tenant may be verifying at once (codes not yet texted back).
pub const MAX_PENDING: i64 = 20;

fn code_hash(tenant: TenantId, phone: &str, code: &str) -> String {
    hex::encode(Sha256::digest(
        format!("{tenant}:{phone}:{code}").as_bytes(),
    ))
}

/// What [`issue`] did.
#[derive(Debug)]
pub enum Issued {
    /// The code to text back, and until when.
    Pending(DateTime<Utc>),
    AlreadyVerified(VerifiedNumber),
    /// [`MAX_PENDING`] numbers are waiting for their codes already.
    TooManyPending,
}

/// Starts (or restarts, with a new code) the verification of `phone`.
pub async fn issue(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    phone: &PhoneNumber,
    code: &str,
) -> Result<Issued, DbError> {
    conn.transaction::<_, DbError, _>(async |conn| {
        crate::locks::transaction_lock(conn, &format!("verify:{tenant}")).await?;
        let existing: Option<VerifiedNumber> = verified_numbers::table
            .of(tenant)
            .filter(verified_numbers::phone.eq(phone.as_str()))
            .select(VerifiedNumber::as_select())
            .first(conn)
            .await
            .optional()?;
        if let Some(row) = existing.as_ref().filter(|row| row.verified_at.is_some()) {
            return Ok(Issued::AlreadyVerified(row.clone()));
        }
        if existing.is_none() {
            let pending: i64 = verified_numbers::table
                .of(tenant)
                .filter(verified_numbers::verified_at.is_null())
                .filter(verified_numbers::code_expires_at.gt(Utc::now()))
                .count()
                .get_result(conn)
                .await?;
            if pending >= MAX_PENDING {
                return Ok(Issued::TooManyPending);
            }
        }
        let now = Utc::now();
        let expires = now + CODE_LIFETIME;
        diesel::insert_into(verified_numbers::table)
            .values((
                verified_numbers::tenant_id.eq(tenant.as_uuid()),
                verified_numbers::phone.eq(phone.as_str()),
                verified_numbers::code_hash.eq(code_hash(tenant, phone.as_str(), code)),
                verified_numbers::code_expires_at.eq(expires),
                verified_numbers::code_issued_at.eq(now),
            ))
            .on_conflict((verified_numbers::tenant_id, verified_numbers::phone))
            .do_update()
            .set((
                verified_numbers::code_hash.eq(code_hash(tenant, phone.as_str(), code)),
                verified_numbers::code_expires_at.eq(expires),
                verified_numbers::code_issued_at.eq(now),
            ))
            .execute(conn)
            .await?;
        Ok(Issued::Pending(expires))
    })
    .await
}

/// Inside the transaction that stores an inbound text: if `body` is the live code of a
/// pending verification of `from` by `tenant`, the number is verified. Returns whether
/// it was.
pub async fn confirm_by_text(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    from: &PhoneNumber,
    body: &str,
) -> Result<bool, DbError> {
    let code: String = body.chars().filter(char::is_ascii_digit).collect();
    if code.len() != 6 || body.trim().chars().count() > 40 {
        return Ok(false);
    }
    let updated = diesel::update(verified_numbers::table.of(tenant))
        .filter(verified_numbers::phone.eq(from.as_str()))
        .filter(verified_numbers::verified_at.is_null())
        .filter(verified_numbers::code_expires_at.gt(Utc::now()))
        .filter(verified_numbers::code_hash.eq(code_hash(tenant, from.as_str(), &code)))
        .set((
            verified_numbers::verified_at.eq(diesel::dsl::now),
            verified_numbers::code_hash.eq(None::<String>),
            verified_numbers::code_expires_at.eq(None::<DateTime<Utc>>),
        ))
        .execute(conn)
        .await?;
    Ok(updated == 1)
}

/// The tenant's numbers, verified or pending, by phone.
pub async fn list(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
) -> Result<Vec<VerifiedNumber>, DbError> {
    Ok(verified_numbers::table
        .of(tenant)
        .select(VerifiedNumber::as_select())
        .order(verified_numbers::phone)
        .load(conn)
        .await?)
}
