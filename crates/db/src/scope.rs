//! Tenant scoping by construction. Every table whose rows belong to a tenant is listed
//! here once, and a query of a tenant's rows starts from `table.of(tenant)`:
//!
//! ```ignore
//! templates::table.of(tenant).find(id)
//! ```
//!
//! instead of a `.filter(templates::tenant_id.eq(...))` written by hand at each query,
//! which is easy to leave out. A test below fails when a table with a `tenant_id`
//! column is added to the schema and not to this list, and `tests/tenant_scope.rs`
//! fails when a query of this crate filters a tenant's table by hand instead.

use diesel::dsl::{Eq, Filter};
use diesel::prelude::*;
use nudge_domain::TenantId;

use crate::schema;

/// A table whose rows belong to tenants.
pub trait OfTenant: Sized {
    type Scoped;

    /// The rows of `tenant`, and no other tenant's.
    fn of(self, tenant: TenantId) -> Self::Scoped;
}

macro_rules! tenant_tables {
    ($($table:ident),* $(,)?) => {
        $(impl OfTenant for schema::$table::table {
            type Scoped = Filter<schema::$table::table, Eq<schema::$table::tenant_id, uuid::Uuid>>;

            fn of(self, tenant: TenantId) -> Self::Scoped {
                self.filter(schema::$table::tenant_id.eq(tenant.as_uuid()))
            }
        })*

        /// The tables [`OfTenant`] scopes.
        pub const TENANT_TABLES: &[&str] = &[$(stringify!($table)),*];
    };
}

tenant_tables!(
    accepted_requests,
    api_keys,
    bot_rules,
    campaigns,
    consent_events,
    console_emails,
    console_invitations,
    console_sessions,
    console_users,
    conversations,
    customers,
    idempotency_keys,
    inbound_messages,
    lead_search_leads,
    lead_searches,
    leads,
    media,
    message_events,
    messages,
    outbox,
    provider_accounts,
    provider_callbacks,
    sender_numbers,
    shops,
    templates,
    tenant_request_usage,
    verified_numbers,
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
);

#[cfg(test)]
mod tests {
    /// Every table of the schema with a `tenant_id` column is scoped here.
    #[test]
    fn every_table_with_a_tenant_is_listed() {
        let schema = include_str!("schema.rs");
        let mut with_tenant = Vec::new();
        for block in schema.split("diesel::table! {").skip(1) {
            let body = block.split("\n}\n").next().unwrap_or_default();
            let name = body
                .lines()
                .map(str::trim)
                .find(|line| !line.is_empty() && !line.starts_with("use "))
                .and_then(|line| line.split_whitespace().next())
                .unwrap_or_default();
            if body
                .lines()
                .any(|line| line.trim().starts_with("tenant_id ->"))
            {
                with_tenant.push(name.to_owned());
            }
        }
        assert!(
            with_tenant.len() > 20,
            "the schema was not read: {with_tenant:?}"
        );
        for table in &with_tenant {
            assert!(
                super::TENANT_TABLES.contains(&table.as_str()),
                "{table} has a tenant_id: list it in tenant_tables! (crates/db/src/scope.rs)"
            );
        }
    }
}
