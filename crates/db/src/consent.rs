//! Consent changes: the customer's current state and its ledger move together, in one
//! transaction, so the ledger always explains the state.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use nudge_domain::{Consent, ConsentSource, CustomerId, ShopId, TenantId};
use serde_json::Value;
use uuid::Uuid;

use crate::models::{ConsentEvent, Customer};
use crate::schema::{consent_events, customers};
use crate::scope::OfTenant;
use crate::{DbError, Page, PageRequest};

/// Sets a customer's consent and appends the change to the ledger. `None` if the
/// customer does not exist for this tenant.
pub async fn record(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    customer: CustomerId,
    state: Consent,
    source: ConsentSource,
    evidence: Value,
) -> Result<Option<(Customer, ConsentEvent)>, DbError> {
    conn.transaction::<_, DbError, _>(async |conn| {
        let updated = diesel::update(customers::table.of(tenant))
            .filter(customers::id.eq(customer.as_uuid()))
            .set((
                customers::consent.eq(state.as_str()),
                customers::updated_at.eq(diesel::dsl::now),
            ))
            .returning(Customer::as_returning())
            .get_result(conn)
            .await
            .optional()?;
        let Some(updated) = updated else {
            return Ok(None);
        };
        let event = diesel::insert_into(consent_events::table)
            .values(&ConsentEvent {
                id: Uuid::now_v7(),
                tenant_id: tenant.as_uuid(),
                customer_id: customer.as_uuid(),
                state: state.as_str().to_owned(),
                source: source.as_str().to_owned(),
                evidence,
                at: Utc::now(),
            })
            .returning(ConsentEvent::as_returning())
            .get_result(conn)
            .await?;
        Ok(Some((updated, event)))
    })
    .await
}

/// The ledger, newest first.
pub async fn ledger(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    customer: CustomerId,
    page: PageRequest,
) -> Result<Page<ConsentEvent>, DbError> {
    let mut query = consent_events::table
        .of(tenant)
        .filter(consent_events::customer_id.eq(customer.as_uuid()))
        .select(ConsentEvent::as_select())
        .order(consent_events::id.desc())
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(before) = page.before {
        query = query.filter(consent_events::id.lt(before));
    }
    let rows = query.load(conn).await?;
    Ok(Page::from_overfetch(rows, page, |event| event.id))
}

/// Creates a customer and, if given, records their initial consent, in one transaction.
pub async fn create_customer(
    conn: &mut AsyncPgConnection,
    customer: &Customer,
    initial: Option<(Consent, ConsentSource, Value)>,
) -> Result<Customer, DbError> {
    conn.transaction::<_, DbError, _>(async |conn| {
        let created = crate::customers::insert(conn, customer).await?;
        let Some((state, source, evidence)) = initial else {
            return Ok(created);
        };
        let tenant = TenantId::from_uuid(created.tenant_id);
        let id = CustomerId::from_uuid(created.id);
        let recorded = record(conn, tenant, id, state, source, evidence).await?;
        recorded.map(|(customer, _)| customer).ok_or_else(|| {
            DbError::Corrupt(format!("customer {id} vanished inside its own transaction"))
        })
    })
    .await
}

/// Opts out whoever has `phone` at the shop because the provider says they unsubscribed
/// (a customer is created for a number the shop never registered, so that the opt-out
/// is remembered). Returns the customer, or `None` if they had already opted out.
pub async fn record_provider_opt_out(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    shop: ShopId,
    phone: &str,
    evidence: Value,
) -> Result<Option<CustomerId>, DbError> {
    conn.transaction::<_, DbError, _>(async |conn| {
        let customer = crate::customers::ensure(conn, tenant, shop, phone).await?;
        let (id, consent) = (customer.id, customer.consent);
        if consent == Consent::OptedOut.as_str() {
            return Ok(None);
        }
        let id = CustomerId::from_uuid(id);
        record(
            conn,
            tenant,
            id,
            Consent::OptedOut,
            ConsentSource::Provider,
            evidence,
        )
        .await?;
        Ok(Some(id))
    })
    .await
}
