//! MMS images: the row of each object uploaded to S3, scoped by tenant.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use nudge_domain::TenantId;
use uuid::Uuid;

use crate::models::Media;
use crate::schema::media;
use crate::scope::OfTenant;
use crate::DbError;

pub async fn insert(conn: &mut AsyncPgConnection, row: &Media) -> Result<Media, DbError> {
    Ok(diesel::insert_into(media::table)
        .values(row)
        .returning(Media::as_returning())
        .get_result(conn)
        .await?)
}

pub async fn find(
    mut conn: &AsyncPgConnection,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<Media>, DbError> {
    Ok(media::table
        .of(tenant)
        .filter(media::id.eq(id))
        .select(Media::as_select())
        .first(&mut conn)
        .await
        .optional()?)
}

/// The image a message carries, for the sender (which has the message, so its tenant).
pub async fn of_message(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    media_id: Option<Uuid>,
) -> Result<Option<Media>, DbError> {
    match media_id {
        Some(id) => find(conn, tenant, id).await,
        None => Ok(None),
    }
}

/// The tenant's newest images.
pub async fn list(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    limit: i64,
) -> Result<Vec<Media>, DbError> {
    Ok(media::table
        .of(tenant)
        .order(media::id.desc())
        .limit(limit)
        .select(Media::as_select())
        .load(conn)
        .await?)
}
