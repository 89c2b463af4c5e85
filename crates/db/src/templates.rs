//! Message templates, unique by name within a tenant.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use nudge_domain::{TemplateId, TenantId};

use crate::models::{TemplateChanges, TemplateRow};
use crate::schema::templates;
use crate::scope::OfTenant;
use crate::{DbError, Page, PageRequest};

pub async fn insert(
    conn: &mut AsyncPgConnection,
    template: &TemplateRow,
) -> Result<TemplateRow, DbError> {
    Ok(diesel::insert_into(templates::table)
        .values(template)
        .returning(TemplateRow::as_returning())
        .get_result(conn)
        .await?)
}

pub async fn find(
    mut conn: &AsyncPgConnection,
    tenant: TenantId,
    id: TemplateId,
) -> Result<Option<TemplateRow>, DbError> {
    Ok(templates::table
        .of(tenant)
        .filter(templates::id.eq(id.as_uuid()))
        .select(TemplateRow::as_select())
        .first(&mut conn)
        .await
        .optional()?)
}

pub async fn find_by_name(
    mut conn: &AsyncPgConnection,
    tenant: TenantId,
    name: &str,
) -> Result<Option<TemplateRow>, DbError> {
    Ok(templates::table
        .of(tenant)
        .filter(templates::name.eq(name))
        .select(TemplateRow::as_select())
        .first(&mut conn)
        .await
        .optional()?)
}

pub async fn list(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    page: PageRequest,
) -> Result<Page<TemplateRow>, DbError> {
    let mut query = templates::table
        .of(tenant)
        .select(TemplateRow::as_select())
        .order(templates::id.desc())
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(before) = page.before {
        query = query.filter(templates::id.lt(before));
    }
    let rows = query.load(conn).await?;
    Ok(Page::from_overfetch(rows, page, |template| template.id))
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: TemplateId,
    changes: &TemplateChanges,
) -> Result<Option<TemplateRow>, DbError> {
    Ok(diesel::update(templates::table.of(tenant))
        .filter(templates::id.eq(id.as_uuid()))
        .set((changes, templates::updated_at.eq(diesel::dsl::now)))
        .returning(TemplateRow::as_returning())
        .get_result(conn)
        .await
        .optional()?)
}

/// Deletes a template; messages rendered from it keep their body.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: TemplateId,
) -> Result<bool, DbError> {
    let deleted = diesel::delete(templates::table.of(tenant))
        .filter(templates::id.eq(id.as_uuid()))
        .execute(conn)
        .await?;
    Ok(deleted > 0)
}
