//! API key authentication: `Authorization: Bearer <key>` -> the caller's tenant. Every
//! merchant handler takes an [`Authenticated`] and passes its tenant to every query.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use nudge_domain::TenantId;

use crate::error::ApiError;
use crate::startup::AppState;

/// The tenant whose valid API key came with the request.
#[derive(Debug, Clone, Copy)]
pub struct Authenticated {
    pub tenant: TenantId,
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let key = bearer_token(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let key = key.ok_or(ApiError::Unauthorized)?;
            let state = state.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no app state")))?;
            let mut conn = state.pool.get().await.map_err(nudge_db::DbError::from)?;
            let tenant = nudge_db::tenants::authenticate(&mut conn, &key)
                .await?
                .ok_or(ApiError::Unauthorized)?;
            tracing::Span::current().record("tenant_id", tracing::field::display(tenant));
            Ok(Authenticated { tenant })
        })
    }
}

fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}
