//! Shops: a tenant's storefronts, each with the number it sends from and its time zone.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use nudge_domain::{ShopId, TenantId};

use crate::models::{Shop, ShopChanges};
use crate::schema::shops;
use crate::scope::OfTenant;
use crate::{DbError, Page, PageRequest};

pub async fn insert(conn: &mut AsyncPgConnection, shop: &Shop) -> Result<Shop, DbError> {
    Ok(diesel::insert_into(shops::table)
        .values(shop)
        .returning(Shop::as_returning())
        .get_result(conn)
        .await?)
}

pub async fn find(
    mut conn: &AsyncPgConnection,
    tenant: TenantId,
    id: ShopId,
) -> Result<Option<Shop>, DbError> {
    Ok(shops::table
        .of(tenant)
        .filter(shops::id.eq(id.as_uuid()))
        .select(Shop::as_select())
        .first(&mut conn)
        .await
        .optional()?)
}

pub async fn list(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    page: PageRequest,
) -> Result<Page<Shop>, DbError> {
    let mut query = shops::table
        .of(tenant)
        .select(Shop::as_select())
        .order(shops::id.desc())
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(before) = page.before {
        query = query.filter(shops::id.lt(before));
    }
    let rows = query.load(conn).await?;
    Ok(Page::from_overfetch(rows, page, |shop| shop.id))
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: ShopId,
    changes: &ShopChanges,
) -> Result<Option<Shop>, DbError> {
    Ok(diesel::update(shops::table.of(tenant))
        .filter(shops::id.eq(id.as_uuid()))
        .set((changes, shops::updated_at.eq(diesel::dsl::now)))
        .returning(Shop::as_returning())
        .get_result(conn)
        .await
        .optional()?)
}

/// Deletes a shop and its customers. A shop with messages is refused (`DbError::InUse`):
/// the message log is a record the merchant keeps.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: ShopId,
) -> Result<bool, DbError> {
    let deleted = diesel::delete(shops::table.of(tenant))
        .filter(shops::id.eq(id.as_uuid()))
        .execute(conn)
        .await?;
    Ok(deleted > 0)
}
