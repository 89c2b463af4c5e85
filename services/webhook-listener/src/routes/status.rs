//! `POST /twilio/status`: a status callback (delivery receipt) for a message we sent.
//!
//! Stored once and applied in one transaction, then answered 200 with an empty body.
//! Unknown sids are kept (a callback can beat the sender's write of the sid) and
//! answered 200 too: Twilio would otherwise retry a callback nobody will ever match.

use actix_web::{web, HttpRequest, HttpResponse};
use nudge_db::callbacks::{CallbackOutcome, NewCallback};
use nudge_domain::ProviderStatus;

use crate::error::ListenerError;
use crate::routes::SignedForm;
use crate::startup::AppState;

/// Twilio's header naming one callback across its retries.
const IDEMPOTENCY_HEADER: &str = "I-Twilio-Idempotency-Token";

/// What a status callback says.
pub(crate) struct Report<'a> {
    pub sid: &'a str,
    pub status: ProviderStatus,
    pub error_code: Option<i32>,
}

/// Reads a status callback's form; a 400 names what is missing or wrong.
pub(crate) fn read(form: &SignedForm) -> Result<Report<'_>, ListenerError> {
    let sid = form.message_sid()?;
    let raw_status = form
        .get("MessageStatus")
        .or_else(|| form.get("SmsStatus"))
        .ok_or_else(|| ListenerError::BadRequest("MessageStatus is required".into()))?;
    let status = ProviderStatus::parse(raw_status).ok_or_else(|| {
        ListenerError::BadRequest(format!(
            "MessageStatus '{raw_status}' is not a Twilio message status"
        ))
    })?;
    let error_code = match form.get("ErrorCode").filter(|code| !code.is_empty()) {
        Some(code) => Some(code.parse::<i32>().map_err(|_| {
            ListenerError::BadRequest(format!("ErrorCode '{code}' is not a number"))
        })?),
        None => None,
    };
    Ok(Report {
        sid,
        status,
        error_code,
    })
}

pub async fn receive(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ListenerError> {
    let form = SignedForm::verify(&state, &request, &body).await?;
    let Report {
        sid,
        status,
        error_code,
    } = read(&form)?;
    let token = request
        .headers()
        .get(IDEMPOTENCY_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|token| !token.is_empty() && token.len() <= 200);
    let callback = NewCallback {
        provider_sid: sid,
        status,
        idempotency_token: token,
        error_code,
        params: form.to_json(),
        signed_by: form.signer.account_id(),
    };
    let mut conn = state.conn().await?;
    let outcome = nudge_db::callbacks::record(&mut conn, &callback).await?;
    match &outcome {
        CallbackOutcome::WrongAccount => {
            tracing::warn!(sid, signer = ?form.signer, "callback refused: signed by another account than its message's");
            return Err(ListenerError::BadSignature);
        }
        CallbackOutcome::Duplicate => {
            tracing::info!(sid, status = status.as_str(), "repeated callback ignored")
        }
        CallbackOutcome::Unmatched => tracing::info!(
            sid,
            status = status.as_str(),
            "callback for an unknown sid kept"
        ),
        CallbackOutcome::Recorded {
            message, moved_to, ..
        } => tracing::info!(
            sid,
            %message,
            status = status.as_str(),
            moved_to = moved_to.map(|s| s.as_str()),
            "callback recorded"
        ),
    }
    Ok(HttpResponse::Ok().finish())
}
