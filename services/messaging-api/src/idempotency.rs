//! `Idempotency-Key` on every POST, Stripe's semantics: the same key with the same
//! request within 24 hours gets the first response again (with `Idempotent-Replayed:
//! true`); the same key with another request is a 422; while the first request still
//! runs, a 409. Keys are per tenant. A request that failed validation, or failed on our
//! side, keeps no result: the client fixes it and retries with the same key.

use actix_web::body::{to_bytes, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, HttpResponse};
use nudge_db::idempotency::{Begin, StoredResponse};
use sha2::{Digest, Sha256};

use crate::auth::Authenticated;
use crate::error::{ApiError, PROBLEM_BASE};
use crate::startup::AppState;

pub const HEADER: &str = "Idempotency-Key";

/// The key and the hash of the request that holds it, for a handler that stores them
/// with its work (`send::accept_once`); in the request's extensions.
#[derive(Debug, Clone)]
pub struct IdempotentRequest {
    pub key: String,
    pub hash: String,
}
pub const REPLAYED_HEADER: &str = "Idempotent-Replayed";

/// Problem types after which a request may be retried with the same key.
const RETRYABLE_PROBLEMS: [&str; 3] = ["validation", "malformed-json", "unsupported-media-type"];

pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    // A refusal is answered here, as a response, so that what wraps the API (HSTS, the
    // request span) treats it as any other answer.
    let (state, auth, key) = match begin(&mut req).await {
        Ok(Begun::NoKey) => return Ok(next.call(req).await?.map_into_boxed_body()),
        Ok(Begun::Replay(response)) => return Ok(req.into_response(response)),
        Ok(Begun::Started { state, auth, key }) => (state, auth, key),
        Err(error) => return Ok(req.error_response(error)),
    };
    let response = next.call(req).await;
    let response = match response {
        Ok(response) => response,
        Err(error) => {
            release(&state, auth, &key).await;
            return Err(error);
        }
    };
    let (request, response) = response.into_parts();
    let status = response.status();
    let headers = response.headers().clone();
    let body = to_bytes(response.into_body())
        .await
        .map_err(|_| ApiError::Internal(anyhow::anyhow!("could not read the response body")))?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if keeps_result(status, &body) {
        let stored = StoredResponse {
            status: status.as_u16(),
            content_type,
            body: without_secrets(&body),
        };
        keep(&state, auth.tenant, &key, stored).await;
    } else {
        release(&state, auth, &key).await;
    }
    let mut rebuilt = HttpResponse::build(status);
    for (name, value) in &headers {
        rebuilt.append_header((name.clone(), value.clone()));
    }
    Ok(ServiceResponse::new(request, rebuilt.body(body)))
}

/// How a POST stands with its `Idempotency-Key`.
enum Begun {
    /// No key (or not a POST): nothing to do.
    NoKey,
    /// The same request ran before: its stored answer.
    Replay(HttpResponse),
    /// This request holds the key now; its answer is kept or the key released after.
    Started {
        state: web::Data<AppState>,
        auth: Authenticated,
        key: String,
    },
}

/// Takes the request's key: a replay, a start (the key and the request's hash go in
/// the request's extensions for the handler), or why it is refused.
async fn begin(req: &mut ServiceRequest) -> Result<Begun, Error> {
    let key = match req.headers().get(HEADER) {
        Some(value) if req.method() == Method::POST => parse_key(value)?,
        _ => return Ok(Begun::NoKey),
    };
    let auth = req.extract::<Authenticated>().await?;
    let body = req.extract::<web::Bytes>().await?;
    let hash = request_hash(req, &body);
    req.set_payload(Payload::from(body));
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no app state")))?;

    let begun = {
        let mut conn = state.conn().await?;
        nudge_db::idempotency::begin(&mut conn, auth.tenant, &key, &hash)
            .await
            .map_err(ApiError::from)?
    };
    match begun {
        Begin::Started => {}
        Begin::InFlight => return Err(ApiError::IdempotencyKeyInFlight.into()),
        Begin::Mismatch => return Err(ApiError::IdempotencyKeyReused.into()),
        Begin::Replay(stored) => {
            let mut response =
                HttpResponse::build(StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK));
            if let Some(content_type) = &stored.content_type {
                response.insert_header((header::CONTENT_TYPE, content_type.as_str()));
            }
            response.insert_header((REPLAYED_HEADER, "true"));
            return Ok(Begun::Replay(response.body(stored.body)));
        }
    }
    req.extensions_mut().insert(IdempotentRequest {
        key: key.clone(),
        hash,
    });
    Ok(Begun::Started { state, auth, key })
}

/// Fields of an answer that hold a secret shown once: a new API key, a webhook
/// endpoint's signing secret, a bot rule's fulfilment secret.
const SECRET_FIELDS: [&str; 3] = ["key", "secret", "fulfilment_secret"];

/// What a replay shows in place of a secret.
pub const REDACTED: &str = "redacted: shown only in the first response";

/// The body to keep for replays: a secret is never kept outside its one place, so a
/// JSON answer's secret fields are replaced by [`REDACTED`] (docs/idempotency.md).
fn without_secrets(body: &[u8]) -> Vec<u8> {
    let Ok(serde_json::Value::Object(mut fields)) = serde_json::from_slice(body) else {
        return body.to_vec();
    };
    let mut redacted = false;
    for name in SECRET_FIELDS {
        if let Some(value) = fields.get_mut(name).filter(|v| v.is_string()) {
            *value = serde_json::Value::String(REDACTED.into());
            redacted = true;
        }
    }
    if !redacted {
        return body.to_vec();
    }
    serde_json::to_vec(&fields).unwrap_or_else(|_| body.to_vec())
}

fn parse_key(value: &header::HeaderValue) -> Result<String, ApiError> {
    let key = value.to_str().unwrap_or_default().trim();
    if key.is_empty() || key.len() > 255 || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ApiError::invalid(
            HEADER,
            "must be 1 to 255 visible ASCII characters (a UUID is a good key)",
        ));
    }
    Ok(key.to_owned())
}

/// The request a key stands for: method, path, query and body.
fn request_hash(req: &ServiceRequest, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(req.method().as_str());
    hasher.update(b"\n");
    hasher.update(req.path());
    hasher.update(b"\n");
    hasher.update(req.query_string());
    hasher.update(b"\n");
    hasher.update(body);
    hex::encode(hasher.finalize())
}

fn keeps_result(status: StatusCode, body: &[u8]) -> bool {
    if status.is_server_error() {
        return false;
    }
    let problem_type = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["type"].as_str().map(str::to_owned));
    !problem_type.is_some_and(|t| {
        RETRYABLE_PROBLEMS
            .iter()
            .any(|slug| t == format!("{PROBLEM_BASE}{slug}"))
    })
}

/// Keeps the response for replay. The work is done whatever happens here: if the
/// database went away since, the client still gets the real answer now, and the
/// response is kept in the background once the database is back (until then a retry
/// with the key is a 409 "in progress", never a second run).
async fn keep(
    state: &web::Data<AppState>,
    tenant: nudge_domain::TenantId,
    key: &str,
    stored: StoredResponse,
) {
    let key = key.to_owned();
    let gave_up = GaveUp::Error(
        "could not keep an idempotency key's response; a retry with it after it goes stale runs again",
    );
    write_or_retry_later(state, gave_up, move |state| {
        let (key, stored) = (key.clone(), stored.clone());
        async move { try_keep(&state, tenant, &key, &stored).await }
    })
    .await;
}

async fn try_keep(
    state: &AppState,
    tenant: nudge_domain::TenantId,
    key: &str,
    stored: &StoredResponse,
) -> Result<(), ApiError> {
    let mut conn = state.conn().await?;
    nudge_db::idempotency::finish(&mut conn, tenant, key, stored)
        .await
        .map_err(ApiError::from)
}

/// How often, and how many times, a key that could not be freed (the database went
/// away mid-request) is tried again in the background: the client's retry, after the
/// `Retry-After` of its 503, then finds the key free rather than a 409 "in flight".
const RELEASE_RETRY_EVERY: std::time::Duration = std::time::Duration::from_millis(500);
/// 50 s: within `STALE_AFTER_SECONDS` (60), after which another request may take the
/// key over and this one must no longer touch it.
const RELEASE_ATTEMPTS: u32 = 100;

async fn release(state: &web::Data<AppState>, auth: Authenticated, key: &str) {
    let (tenant, key) = (auth.tenant, key.to_owned());
    // The key frees itself after STALE_AFTER_SECONDS.
    let gave_up = GaveUp::Warn("could not release an idempotency key; it frees itself when stale");
    write_or_retry_later(state, gave_up, move |state| {
        let key = key.clone();
        async move { try_release(&state, tenant, &key).await }
    })
    .await;
}

/// Runs `write` now; if it fails (the database went away mid-request), again in the
/// background every [`RELEASE_RETRY_EVERY`], at most [`RELEASE_ATTEMPTS`] times in all,
/// logging `gave_up` if it never succeeds.
async fn write_or_retry_later<W, F>(state: &web::Data<AppState>, gave_up: GaveUp, mut write: W)
where
    W: FnMut(web::Data<AppState>) -> F + Send + 'static,
    F: std::future::Future<Output = Result<(), ApiError>> + Send,
{
    if write(state.clone()).await.is_ok() {
        return;
    }
    let state = state.clone();
    tokio::spawn(async move {
        for _ in 1..RELEASE_ATTEMPTS {
            tokio::time::sleep(RELEASE_RETRY_EVERY).await;
            if write(state.clone()).await.is_ok() {
                return;
            }
        }
        match gave_up {
            GaveUp::Warn(what) => tracing::warn!("{what}"),
            GaveUp::Error(what) => tracing::error!("{what}"),
        }
    });
}

/// What is logged, and how loud, when a background write never succeeds.
enum GaveUp {
    /// Harmless in the end (the key frees itself when stale).
    Warn(&'static str),
    /// May let work run twice.
    Error(&'static str),
}

async fn try_release(
    state: &AppState,
    tenant: nudge_domain::TenantId,
    key: &str,
) -> Result<(), ApiError> {
    let mut conn = state.conn().await?;
    nudge_db::idempotency::abandon(&mut conn, tenant, key)
        .await
        .map_err(ApiError::from)
}
