//! `/v1/api-keys`: a tenant's keys. The secret is shown once, at creation; only its
//! SHA-256 is stored (an unkeyed fast hash is right for 238 bits of randomness: no
//! guess can be tested against a leaked hash, and there is no pepper to lose or rotate).
//! Keys are listed by prefix; a revoked key is refused from the next request on.

use crate::error::Problem;
use actix_web::{delete, get, post, web, HttpResponse};
use chrono::{Duration, Utc};
use nudge_db::tenants::{Issued, KeyGrant, Revoke, MAX_ACTIVE_KEYS};
use nudge_domain::ApiScopes;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::Authenticated;
use crate::error::{ApiError, FieldError};
use crate::extract::{check, JsonBody, PageQuery, PathId, TimeAhead};
use crate::startup::AppState;
use crate::views::{ApiKeyView, CreatedApiKeyView, ListView};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create).service(list).service(revoke);
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    /// What the key is for, 1 to 100 characters; default `default`.
    #[serde(default = "default_name")]
    name: String,
    /// What it may do: some of `send`, `read`, `manage`, none beyond the scopes of the
    /// key making the request. Default: that key's scopes.
    scopes: Option<Vec<String>>,
    /// When it stops working (RFC 3339), from 1 minute to 2 years ahead. Default: never.
    expires_at: Option<String>,
}

/// `expires_at`: from 1 minute to 2 years ahead.
const EXPIRES_AT: TimeAhead<'static> = TimeAhead {
    field: "expires_at",
    earliest: Duration::minutes(1),
    latest: Duration::days(730),
    window: "1 minute to 2 years",
    example: "2027-06-30T00:00:00Z",
};

fn default_name() -> String {
    "default".into()
}

fn check_scopes(
    requested: Option<&[String]>,
    minting: ApiScopes,
    errors: &mut Vec<FieldError>,
) -> ApiScopes {
    let Some(requested) = requested else {
        return minting;
    };
    match ApiScopes::parse(requested.iter().map(String::as_str)) {
        Err(unknown) => {
            errors.push(FieldError::new(
                "scopes",
                format!("'{unknown}' is not a scope: use send, read or manage"),
            ));
            minting
        }
        Ok(scopes) if scopes.is_empty() => {
            errors.push(FieldError::new("scopes", "give at least one scope"));
            minting
        }
        Ok(scopes) if !scopes.is_subset_of(minting) => {
            errors.push(FieldError::new(
                "scopes",
                format!(
                    "may not exceed the scopes of the key making the request ({})",
                    minting.names().join(", ")
                ),
            ));
            minting
        }
        Ok(scopes) => scopes,
    }
}

#[utoipa::path(
    tag = "api-keys",
    summary = "Issue an API key",
    description = "The secret (`key`) is shown in this answer only; Nudge keeps its SHA-256. Needs the `manage` scope; the new key's scopes may not exceed the caller's. A tenant holds at most 20 active keys.",
    request_body = CreateKey,
    responses(
        (status = 201, description = "The key, with its secret", body = CreatedApiKeyView),
        (status = 409, description = "`conflict`: the tenant already holds 20 active keys", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api-keys")]
async fn create(
    auth: Authenticated,
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<CreateKey>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        errors.push(FieldError::new("name", "must be 1 to 100 characters"));
    }
    let grant = KeyGrant {
        scopes: check_scopes(body.scopes.as_deref(), auth.owner.scopes, &mut errors),
        expires_at: body
            .expires_at
            .as_deref()
            .and_then(|raw| EXPIRES_AT.check(raw, Utc::now(), &mut errors)),
    };
    check(errors)?;
    let mut conn = state.conn().await?;
    match nudge_db::tenants::issue_key(&mut conn, auth.tenant, name, grant).await? {
        Issued::Issued(plain_text, row) => Ok(HttpResponse::Created().json(CreatedApiKeyView {
            listed: ApiKeyView::from(row),
            key: plain_text,
        })),
        Issued::TooManyKeys => Err(ApiError::Conflict(format!(
            "the tenant already holds {MAX_ACTIVE_KEYS} active keys; revoke one first"
        ))),
    }
}

#[utoipa::path(
    tag = "api-keys",
    summary = "List the tenant's API keys (never their secrets)",
    params(PageQuery),
    responses((status = 200, description = "A page of keys", body = ListView<ApiKeyView>))
)]
#[get("/api-keys")]
async fn list(
    auth: Authenticated,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let mut conn = state.conn().await?;
    let page = nudge_db::tenants::list_keys(&mut conn, auth.tenant, page).await?;
    Ok(HttpResponse::Ok().json(ListView::from_page(page, ApiKeyView::from)))
}

#[utoipa::path(
    tag = "api-keys",
    summary = "Revoke an API key",
    description = "Refused from the next request on. The last active key cannot be revoked.",
    params(("id" = Uuid, Path, description = "The key's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 409, description = "`conflict`: it is the tenant's last active key", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/api-keys/{id}")]
async fn revoke(
    auth: Authenticated,
    state: web::Data<AppState>,
    PathId(id): PathId<nudge_domain::ApiKeyId>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    match nudge_db::tenants::revoke_key(&mut conn, auth.tenant, id.as_uuid()).await? {
        Revoke::Revoked(_) => {
            // This replica forgets at once; the others as the database announces it.
            state.key_cache.forget_tenant(auth.tenant);
            Ok(HttpResponse::NoContent().finish())
        }
        Revoke::NotFound => Err(ApiError::NotFound("API key")),
        Revoke::LastActiveKey => Err(ApiError::Conflict(
            "this is the tenant's last active key; create another before revoking it".into(),
        )),
    }
}
