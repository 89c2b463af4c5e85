//! API key authentication: `Authorization: Bearer <key>` -> the caller's tenant and
//! limits. The `/v1` limits middleware authenticates once per request and leaves the
//! result in the request's extensions; handlers take an [`Authenticated`] and pass its
//! tenant to every query.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use nudge_db::tenants::KeyOwner;
use nudge_domain::TenantId;

use crate::error::ApiError;
use crate::startup::AppState;

/// The owner of the valid API key that came with the request.
#[derive(Debug, Clone, Copy)]
pub struct Authenticated {
    pub tenant: TenantId,
    pub owner: KeyOwner,
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let known = req.extensions().get::<Authenticated>().copied();
        let key = bearer_token(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let req = req.clone();
        Box::pin(async move {
            if let Some(known) = known {
                return Ok(known);
            }
            let key = key.ok_or(ApiError::Unauthorized)?;
            let state = state.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no app state")))?;
            let owner = owner_of(&state, &key).await?;
            let authenticated = Authenticated {
                tenant: owner.tenant,
                owner,
            };
            tracing::Span::current().record("tenant_id", tracing::field::display(owner.tenant));
            req.extensions_mut().insert(authenticated);
            Ok(authenticated)
        })
    }
}

/// The key's owner: remembered for a few seconds (`crate::key_cache`), else asked of
/// the database. An unknown key is not remembered: it is asked every time.
async fn owner_of(state: &AppState, key: &str) -> Result<KeyOwner, ApiError> {
    let key_hash = nudge_db::tenants::hash_key(key);
    if let Some(owner) = state.key_cache.owner(&key_hash) {
        return Ok(owner);
    }
    let lookup = state.key_cache.lookup();
    let mut conn = state.conn().await?;
    let owner = nudge_db::tenants::authenticate_hash(&mut conn, &key_hash)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    state.key_cache.remember(lookup, key_hash, owner);
    Ok(owner)
}

fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}
