//! Scopes and the tenant's rate limit, as middleware on `/v1`. A request whose key lacks
//! the scope its route needs is `403` before anything else happens; every other
//! authenticated request counts in the tenant's one-minute window, shared by all
//! replicas (each adds its counts to the database every flush interval:
//! `crate::rate_windows`) and by all the tenant's keys, so minting keys does not
//! multiply the limit. Responses carry the IETF `RateLimit-*` headers; over the limit,
//! `429` with `Retry-After`.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, Error};
use chrono::Utc;

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::startup::AppState;

pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    // A refusal is answered here, as a response, so that what wraps the API (HSTS, the
    // request span) treats it as any other answer.
    let admitted = match admit(&mut req).await {
        Ok(admitted) => admitted,
        Err(error) => return Ok(req.error_response(error)),
    };
    let mut response = next.call(req).await?.map_into_boxed_body();
    for (name, value) in admitted.headers() {
        response.headers_mut().insert(name, value);
    }
    Ok(response)
}

/// Where an admitted request stands in its tenant's window.
struct Admitted {
    limit: i32,
    remaining: i32,
    reset: u64,
}

impl Admitted {
    fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        rate_limit_headers(self.limit, self.remaining, self.reset)
    }
}

/// The key's scope, then the tenant's window: the request counted, or why it is refused.
async fn admit(req: &mut ServiceRequest) -> Result<Admitted, Error> {
    let auth = req.extract::<Authenticated>().await?;
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no app state")))?;
    let needed = nudge_domain::ApiScope::required_for(req.method().as_str(), req.path());
    if !auth.owner.scopes.contains(needed) {
        return Err(ApiError::MissingScope(needed).into());
    }
    let usage = state.rate_windows.count(auth.tenant, Utc::now());
    if state.rate_windows.key_use_to_note(auth.owner.api_key_id) {
        let mut conn = state.conn().await?;
        nudge_db::limits::note_key_used(&mut conn, auth.owner.api_key_id)
            .await
            .map_err(ApiError::from)?;
    }
    let limit = auth.owner.requests_per_minute;
    let reset = u64::try_from((usage.window_end - Utc::now()).num_seconds().max(1)).unwrap_or(60);
    if usage.requests > limit {
        return Err(ApiError::RateLimited {
            limit,
            retry_after: reset,
        }
        .into());
    }
    Ok(Admitted {
        limit,
        remaining: limit - usage.requests,
        reset,
    })
}

/// `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` and `RateLimit-Policy`
/// (draft-ietf-httpapi-ratelimit-headers).
pub fn rate_limit_headers(
    limit: i32,
    remaining: i32,
    reset: u64,
) -> Vec<(HeaderName, HeaderValue)> {
    [
        ("ratelimit-limit", limit.to_string()),
        ("ratelimit-remaining", remaining.max(0).to_string()),
        ("ratelimit-reset", reset.to_string()),
        ("ratelimit-policy", format!("{limit};w=60")),
    ]
    .into_iter()
    .filter_map(|(name, value)| {
        Some((
            HeaderName::from_static(name),
            HeaderValue::from_str(&value).ok()?,
        ))
    })
    .collect()
}
