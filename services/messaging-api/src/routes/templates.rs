//! `/v1/templates`: named message bodies with `{{variable}}` placeholders, unique by
//! name within a tenant. A body is parsed on the way in, so a stored template renders.

use crate::error::Problem;
use actix_web::{delete, get, patch, post, web, HttpResponse};
use chrono::Utc;
use nudge_db::models::{TemplateChanges, TemplateRow};
use nudge_db::DbError;
use nudge_domain::{MessageCategory, TemplateId};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::extract::{check, present, JsonBody, PageQuery, PathId};
use crate::startup::AppState;
use crate::views::{ListView, TemplateView};
use nudge_usecases::fields::{
    check_category, check_template_body as check_body, check_template_name as check_name,
};
use nudge_usecases::send::check_media_id;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(show)
        .service(update)
        .service(remove);
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateTemplate {
    name: String,
    body: String,
    /// `transactional` or `marketing`; undeclared content is treated as marketing.
    category: Option<String>,
    /// An image of the tenant's (uploaded in the console): every message made from the
    /// template carries it, as an MMS.
    media_id: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateTemplate {
    name: Option<String>,
    body: Option<String>,
    category: Option<String>,
    /// Absent: unchanged; `null`: no image.
    #[serde(default, deserialize_with = "present")]
    media_id: Option<Option<String>>,
}

fn conflict(error: DbError) -> ApiError {
    match error {
        DbError::Conflict(_) => {
            ApiError::Conflict("a template with this name already exists".into())
        }
        other => other.into(),
    }
}

#[utoipa::path(
    tag = "templates",
    summary = "Create a template",
    request_body = CreateTemplate,
    responses(
        (status = 201, description = "The template, with the variables it uses", body = TemplateView),
        (status = 409, description = "`conflict`: a template with this name exists", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/templates")]
async fn create(
    auth: Authenticated,
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<CreateTemplate>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let name = check_name(&body.name, &mut errors);
    let text = check_body(&body.body, &mut errors);
    let category = body
        .category
        .as_deref()
        .map_or(MessageCategory::Marketing, |c| {
            check_category(c, &mut errors)
        });
    let mut conn = state.conn().await?;
    let media_id = match body.media_id.as_deref() {
        Some(raw) => check_media_id(&mut conn, auth.tenant, raw, &mut errors).await?,
        None => None,
    };
    check(errors)?;
    let now = Utc::now();
    let row = TemplateRow {
        id: TemplateId::new().as_uuid(),
        tenant_id: auth.tenant.as_uuid(),
        name,
        body: text,
        created_at: now,
        updated_at: now,
        category: category.as_str().to_owned(),
        media_id,
    };
    let row = nudge_db::templates::insert(&mut conn, &row)
        .await
        .map_err(conflict)?;
    Ok(HttpResponse::Created().json(TemplateView::from(row)))
}

#[utoipa::path(
    tag = "templates",
    summary = "List templates",
    params(PageQuery),
    responses((status = 200, description = "A page of templates, newest first", body = ListView<TemplateView>))
)]
#[get("/templates")]
async fn list(
    auth: Authenticated,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let mut conn = state.conn().await?;
    let page = nudge_db::templates::list(&mut conn, auth.tenant, page).await?;
    Ok(HttpResponse::Ok().json(ListView::from_page(page, TemplateView::from)))
}

#[utoipa::path(
    tag = "templates",
    summary = "Show a template",
    params(("id" = Uuid, Path, description = "The template's id")),
    responses((status = 200, description = "The template", body = TemplateView))
)]
#[get("/templates/{id}")]
async fn show(
    auth: Authenticated,
    state: web::Data<AppState>,
    PathId(id): PathId<TemplateId>,
) -> Result<HttpResponse, ApiError> {
    let conn = state.conn().await?;
    let row = nudge_db::templates::find(&conn, auth.tenant, id)
        .await?
        .ok_or(ApiError::NotFound("template"))?;
    Ok(HttpResponse::Ok().json(TemplateView::from(row)))
}

#[utoipa::path(
    tag = "templates",
    summary = "Change a template",
    description = "Messages already accepted keep their rendered body.",
    params(("id" = Uuid, Path, description = "The template's id")),
    request_body = UpdateTemplate,
    responses(
        (status = 200, description = "The changed template", body = TemplateView),
        (status = 409, description = "`conflict`: a template with this name exists", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/templates/{id}")]
async fn update(
    auth: Authenticated,
    state: web::Data<AppState>,
    PathId(id): PathId<TemplateId>,
    JsonBody(body): JsonBody<UpdateTemplate>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let mut conn = state.conn().await?;
    let media_id = match &body.media_id {
        Some(Some(raw)) => Some(check_media_id(&mut conn, auth.tenant, raw, &mut errors).await?),
        Some(None) => Some(None),
        None => None,
    };
    let changes = TemplateChanges {
        name: body.name.as_deref().map(|n| check_name(n, &mut errors)),
        body: body.body.as_deref().map(|b| check_body(b, &mut errors)),
        category: body
            .category
            .as_deref()
            .map(|c| check_category(c, &mut errors).as_str().to_owned()),
        media_id,
    };
    check(errors)?;
    let unchanged = changes.name.is_none()
        && changes.body.is_none()
        && changes.category.is_none()
        && changes.media_id.is_none();
    let row = if unchanged {
        nudge_db::templates::find(&conn, auth.tenant, id).await?
    } else {
        nudge_db::templates::update(&mut conn, auth.tenant, id, &changes)
            .await
            .map_err(conflict)?
    };
    let row = row.ok_or(ApiError::NotFound("template"))?;
    Ok(HttpResponse::Ok().json(TemplateView::from(row)))
}

#[utoipa::path(
    tag = "templates",
    summary = "Delete a template",
    params(("id" = Uuid, Path, description = "The template's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "`conflict`: a campaign uses it", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/templates/{id}")]
async fn remove(
    auth: Authenticated,
    state: web::Data<AppState>,
    PathId(id): PathId<TemplateId>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    if nudge_db::templates::delete(&mut conn, auth.tenant, id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound("template"))
    }
}
