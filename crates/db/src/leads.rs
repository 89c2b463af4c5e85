//! Leads: people found by lead searches, once per tenant and canonical profile URL
//! (stored by `lead_searches::record_page`), read, exported and deleted here.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use nudge_domain::{LeadId, LeadSearchId, TenantId};
use uuid::Uuid;

use crate::models::Lead;
use crate::schema::{lead_search_leads, leads};
use crate::scope::OfTenant;
use crate::{DbError, Page, PageRequest};

/// What a list or an export shows. Text filters match a part of the field, ignoring case.
#[derive(Debug, Default, Clone)]
pub struct LeadFilter {
    /// Only leads this search found.
    pub search: Option<LeadSearchId>,
    pub company: Option<String>,
    pub location: Option<String>,
    /// In the name or the headline.
    pub text: Option<String>,
}

/// `%part%` for ILIKE, with the pattern characters of `part` taken literally.
fn contains(part: &str) -> String {
    let escaped = part
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Newest first.
pub async fn list(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    filter: &LeadFilter,
    page: PageRequest,
) -> Result<Page<Lead>, DbError> {
    let mut query = leads::table
        .of(tenant)
        .select(Lead::as_select())
        .order(leads::id.desc())
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(search) = filter.search {
        query = query.filter(
            leads::id.eq_any(
                lead_search_leads::table
                    .of(tenant)
                    .filter(lead_search_leads::lead_search_id.eq(search.as_uuid()))
                    .select(lead_search_leads::lead_id),
            ),
        );
    }
    if let Some(company) = &filter.company {
        query = query.filter(leads::company.ilike(contains(company)));
    }
    if let Some(location) = &filter.location {
        query = query.filter(leads::location.ilike(contains(location)));
    }
    if let Some(text) = &filter.text {
        let pattern = contains(text);
        query = query.filter(
            leads::name
                .ilike(pattern.clone())
                .or(leads::headline.ilike(pattern)),
        );
    }
    if let Some(before) = page.before {
        query = query.filter(leads::id.lt(before));
    }
    let rows = query.load(conn).await?;
    Ok(Page::from_overfetch(rows, page, |lead| lead.id))
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: LeadId,
) -> Result<Option<Lead>, DbError> {
    Ok(leads::table
        .of(tenant)
        .filter(leads::id.eq(id.as_uuid()))
        .select(Lead::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Deletes a lead and its links to searches. `false`: no such lead in the tenant.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: LeadId,
) -> Result<bool, DbError> {
    let deleted = diesel::delete(leads::table.of(tenant).filter(leads::id.eq(id.as_uuid())))
        .execute(conn)
        .await?;
    Ok(deleted == 1)
}

/// The searches that found each of these leads, oldest first.
pub async fn searches_of(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    lead_ids: &[Uuid],
) -> Result<BTreeMap<Uuid, Vec<Uuid>>, DbError> {
    let rows: Vec<(Uuid, Uuid)> = lead_search_leads::table
        .of(tenant)
        .filter(lead_search_leads::lead_id.eq_any(lead_ids))
        .order((
            lead_search_leads::lead_id,
            lead_search_leads::lead_search_id,
        ))
        .select((
            lead_search_leads::lead_id,
            lead_search_leads::lead_search_id,
        ))
        .load(conn)
        .await?;
    let mut found: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
    for (lead, search) in rows {
        found.entry(lead).or_default().push(search);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::contains;

    #[test]
    fn filter_text_is_taken_literally() {
        assert_eq!(contains("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
