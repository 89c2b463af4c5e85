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
            let mut conn = state.pool.get().await.map_err(nudge_db::DbError::from)?;
            let owner = nudge_db::tenants::authenticate(&mut conn, &key)
                .await?
                .ok_or(ApiError::Unauthorized)?;
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

fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}
