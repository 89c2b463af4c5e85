//! Sender numbers: the numbers Nudge sends from, each owned by exactly one tenant.
//!
//! Only an operator adds or removes them (`messaging-api admin numbers`); a tenant can
//! list its own and give them to its shops. A shop naming a number its tenant does not
//! own is refused by the database itself (`shops_sender_number_owned`), and inbound
//! SMS find their tenant through [`owner`]: who owns the number, never who wrote last.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use nudge_domain::{PhoneNumber, TenantId};
use uuid::Uuid;

use crate::models::SenderNumber;
use crate::schema::{messages, sender_numbers, shops, tenants};
use crate::scope::OfTenant;
use crate::DbError;

/// The constraint that keeps a shop on its own tenant's numbers.
pub const OWNED_CONSTRAINT: &str = "shops_sender_number_owned";

/// What [`add`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    Added(SenderNumber),
    /// The tenant already had it: nothing changed.
    AlreadyTheirs(SenderNumber),
    /// Another tenant owns it (the operator is told which; tenants never are).
    OwnedByAnother(TenantId),
    NoSuchTenant,
}

/// Gives `number` to `tenant`, unless someone owns it already.
pub async fn add(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    number: &PhoneNumber,
) -> Result<Added, DbError> {
    conn.transaction::<_, DbError, _>(async |conn| {
        let tenant_exists: Option<Uuid> = tenants::table
            .filter(tenants::id.eq(tenant.as_uuid()))
            .select(tenants::id)
            .first(conn)
            .await
            .optional()?;
        if tenant_exists.is_none() {
            return Ok(Added::NoSuchTenant);
        }
        let inserted: Option<SenderNumber> = diesel::insert_into(sender_numbers::table)
            .values((
                sender_numbers::number.eq(number.as_str()),
                sender_numbers::tenant_id.eq(tenant.as_uuid()),
            ))
            .on_conflict_do_nothing()
            .returning(SenderNumber::as_returning())
            .get_result(conn)
            .await
            .optional()?;
        if let Some(row) = inserted {
            return Ok(Added::Added(row));
        }
        let existing = find(conn, number.as_str())
            .await?
            .ok_or_else(|| DbError::Corrupt(format!("{number}: neither inserted nor present")))?;
        Ok(if existing.tenant_id == tenant.as_uuid() {
            Added::AlreadyTheirs(existing)
        } else {
            Added::OwnedByAnother(TenantId::from_uuid(existing.tenant_id))
        })
    })
    .await
}

/// The number's row, if anyone owns it.
pub(crate) async fn find(
    conn: &mut AsyncPgConnection,
    number: &str,
) -> Result<Option<SenderNumber>, DbError> {
    Ok(sender_numbers::table
        .filter(sender_numbers::number.eq(number))
        .select(SenderNumber::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Who owns `number` (E.164 as the provider wrote it), if anyone.
pub async fn owner(
    conn: &mut AsyncPgConnection,
    number: &str,
) -> Result<Option<TenantId>, DbError> {
    Ok(find(conn, number)
        .await?
        .map(|row| TenantId::from_uuid(row.tenant_id)))
}

/// Whether `tenant` owns `number`.
pub async fn is_owned_by(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    number: &str,
) -> Result<bool, DbError> {
    Ok(owner(conn, number).await? == Some(tenant))
}

/// A number with the shops that send from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub number: SenderNumber,
    pub shop_ids: Vec<Uuid>,
}

/// The numbers of `tenant` (or of every tenant, for the operator), by number.
pub async fn list(
    conn: &mut AsyncPgConnection,
    tenant: Option<TenantId>,
) -> Result<Vec<Listed>, DbError> {
    // `None`: the operator's view of every tenant's numbers.
    let rows = match tenant {
        Some(tenant) => sender_numbers::table.of(tenant).into_boxed(),
        None => sender_numbers::table.into_boxed(),
    };
    let numbers: Vec<SenderNumber> = rows
        .select(SenderNumber::as_select())
        .order((sender_numbers::tenant_id, sender_numbers::number))
        .load(conn)
        .await?;
    let uses: Vec<(Uuid, Option<String>, Uuid)> = shops::table
        .filter(shops::tenant_id.eq_any(numbers.iter().map(|n| n.tenant_id).collect::<Vec<_>>()))
        .filter(shops::sender_number.is_not_null())
        .select((shops::tenant_id, shops::sender_number, shops::id))
        .order(shops::id)
        .load(conn)
        .await?;
    Ok(numbers
        .into_iter()
        .map(|number| {
            let shop_ids = uses
                .iter()
                .filter(|(tenant, used, _)| {
                    *tenant == number.tenant_id && used.as_deref() == Some(&number.number)
                })
                .map(|(_, _, shop)| *shop)
                .collect();
            Listed { number, shop_ids }
        })
        .collect())
}

/// What [`remove`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Removed {
    Removed(TenantId),
    NotFound,
    /// Shops send from it: give them another number first.
    UsedByShops(usize),
    /// Messages from it are still waiting to go (scheduled, queued or being sent):
    /// removing it now would let them go out from a number that may soon be someone
    /// else's.
    MessagesWaiting(i64),
}

/// Takes `number` away from its tenant, if nothing depends on it.
pub async fn remove(conn: &mut AsyncPgConnection, number: &str) -> Result<Removed, DbError> {
    conn.transaction::<_, DbError, _>(async |conn| {
        let row: Option<SenderNumber> = sender_numbers::table
            .filter(sender_numbers::number.eq(number))
            .select(SenderNumber::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()?;
        let Some(row) = row else {
            return Ok(Removed::NotFound);
        };
        let shops_using: i64 = shops::table
            .filter(shops::tenant_id.eq(row.tenant_id))
            .filter(shops::sender_number.eq(number))
            .count()
            .get_result(conn)
            .await?;
        if shops_using > 0 {
            return Ok(Removed::UsedByShops(
                usize::try_from(shops_using).unwrap_or(usize::MAX),
            ));
        }
        let waiting: i64 = messages::table
            .filter(messages::tenant_id.eq(row.tenant_id))
            .filter(messages::from_number.eq(number))
            .filter(messages::status.eq_any(["scheduled", "queued", "sending"]))
            .count()
            .get_result(conn)
            .await?;
        if waiting > 0 {
            return Ok(Removed::MessagesWaiting(waiting));
        }
        diesel::delete(sender_numbers::table.filter(sender_numbers::number.eq(number)))
            .execute(conn)
            .await?;
        Ok(Removed::Removed(TenantId::from_uuid(row.tenant_id)))
    })
    .await
}
