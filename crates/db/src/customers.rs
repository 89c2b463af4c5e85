//! Customers: one per shop and phone number, with free-form attributes for templates
//! and, later, segments.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use nudge_domain::{CustomerId, PhoneNumber, ShopId, TenantId};

use crate::models::{Customer, CustomerChanges};
use crate::schema::customers;
use crate::scope::OfTenant;
use crate::{DbError, Page, PageRequest};

pub async fn insert(
    conn: &mut AsyncPgConnection,
    customer: &Customer,
) -> Result<Customer, DbError> {
    Ok(diesel::insert_into(customers::table)
        .values(customer)
        .returning(Customer::as_returning())
        .get_result(conn)
        .await?)
}

/// The shop's customer with this phone, created (consent `unknown`) if the shop has
/// none: for numbers that reach us before the merchant registered them (a reply, a
/// provider's opt-out). A concurrent create of the same customer wins; we then read it.
pub async fn ensure(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    shop: ShopId,
    phone: &str,
) -> Result<Customer, DbError> {
    let now = chrono::Utc::now();
    diesel::insert_into(customers::table)
        .values(&Customer {
            id: uuid::Uuid::now_v7(),
            tenant_id: tenant.as_uuid(),
            shop_id: shop.as_uuid(),
            phone: phone.to_owned(),
            name: None,
            attributes: serde_json::json!({}),
            created_at: now,
            updated_at: now,
            consent: nudge_domain::Consent::Unknown.as_str().to_owned(),
            time_zone: None,
        })
        .on_conflict((customers::shop_id, customers::phone))
        .do_nothing()
        .execute(conn)
        .await?;
    Ok(customers::table
        .of(tenant)
        .filter(customers::shop_id.eq(shop.as_uuid()))
        .filter(customers::phone.eq(phone))
        .select(Customer::as_select())
        .for_update()
        .first(conn)
        .await?)
}

pub async fn find(
    mut conn: &AsyncPgConnection,
    tenant: TenantId,
    id: CustomerId,
) -> Result<Option<Customer>, DbError> {
    Ok(customers::table
        .of(tenant)
        .filter(customers::id.eq(id.as_uuid()))
        .select(Customer::as_select())
        .first(&mut conn)
        .await
        .optional()?)
}

pub async fn find_by_phone(
    mut conn: &AsyncPgConnection,
    tenant: TenantId,
    shop: ShopId,
    phone: &PhoneNumber,
) -> Result<Option<Customer>, DbError> {
    Ok(customers::table
        .of(tenant)
        .filter(customers::shop_id.eq(shop.as_uuid()))
        .filter(customers::phone.eq(phone.as_str()))
        .select(Customer::as_select())
        .first(&mut conn)
        .await
        .optional()?)
}

pub async fn list(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    shop: Option<ShopId>,
    page: PageRequest,
) -> Result<Page<Customer>, DbError> {
    let mut query = customers::table
        .of(tenant)
        .select(Customer::as_select())
        .order(customers::id.desc())
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(shop) = shop {
        query = query.filter(customers::shop_id.eq(shop.as_uuid()));
    }
    if let Some(before) = page.before {
        query = query.filter(customers::id.lt(before));
    }
    let rows = query.load(conn).await?;
    Ok(Page::from_overfetch(rows, page, |customer| customer.id))
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: CustomerId,
    changes: &CustomerChanges,
) -> Result<Option<Customer>, DbError> {
    Ok(diesel::update(customers::table.of(tenant))
        .filter(customers::id.eq(id.as_uuid()))
        .set((changes, customers::updated_at.eq(diesel::dsl::now)))
        .returning(Customer::as_returning())
        .get_result(conn)
        .await
        .optional()?)
}

/// Deletes a customer; their messages stay in the log with the number they went to.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: CustomerId,
) -> Result<bool, DbError> {
    let deleted = diesel::delete(customers::table.of(tenant))
        .filter(customers::id.eq(id.as_uuid()))
        .execute(conn)
        .await?;
    Ok(deleted > 0)
}
