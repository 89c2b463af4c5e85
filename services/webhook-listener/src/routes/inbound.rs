//! `POST /twilio/inbound`: an SMS a customer sent to one of our numbers.
//!
//! Stored in its conversation with its `inbound_sms.v1` outbox row in one transaction,
//! then answered at once with empty TwiML (no reply from Twilio itself: inbound
//! processing answers through `outbound-sms`, after compliance and the bot). A retried
//! webhook is stored once. A number no shop sends from is answered 200 and logged:
//! nobody here can act on it.

use actix_web::{web, HttpRequest, HttpResponse};
use nudge_db::inbound::{ReceivedSms, Stored};
use nudge_domain::PhoneNumber;

use crate::error::ListenerError;
use crate::routes::SignedForm;
use crate::startup::AppState;

/// Twilio's limit on an SMS body.
const MAX_BODY_CHARS: usize = 1_600;
/// An empty TwiML document: "nothing to send back".
const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";

/// What an inbound SMS webhook says.
pub(crate) struct Sms<'a> {
    pub sid: &'a str,
    pub from: PhoneNumber,
    pub to: &'a str,
    pub text: &'a str,
    pub num_media: i32,
}

/// Reads an inbound SMS webhook's form; a 400 names what is missing or wrong.
pub(crate) fn read(form: &SignedForm) -> Result<Sms<'_>, ListenerError> {
    let sid = form.message_sid()?;
    let from = PhoneNumber::parse(form.get("From").unwrap_or_default())
        .map_err(|_| ListenerError::BadRequest("From must be the sender's E.164 number".into()))?;
    let to = form
        .get("To")
        .map(str::trim)
        .filter(|to| !to.is_empty())
        .ok_or_else(|| ListenerError::BadRequest("To is required".into()))?;
    let text = form.get("Body").unwrap_or_default();
    if text.chars().count() > MAX_BODY_CHARS {
        return Err(ListenerError::BadRequest(format!(
            "Body is longer than {MAX_BODY_CHARS} characters"
        )));
    }
    let num_media = match form.get("NumMedia").filter(|n| !n.is_empty()) {
        Some(raw) => raw
            .parse::<i32>()
            .ok()
            .filter(|n| (0..=10).contains(n))
            .ok_or_else(|| ListenerError::BadRequest(format!("NumMedia '{raw}' is not 0 to 10")))?,
        None => 0,
    };
    Ok(Sms {
        sid,
        from,
        to,
        text,
        num_media,
    })
}

pub async fn receive(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ListenerError> {
    let form = SignedForm::verify(&state, &request, &body).await?;
    let Sms {
        sid,
        from,
        to,
        text,
        num_media,
    } = read(&form)?;
    let mut conn = state.conn().await?;
    let stored = nudge_db::inbound::store(
        &mut conn,
        ReceivedSms {
            provider_sid: sid,
            from: &from,
            to,
            body: text,
            num_media,
            traceparent: nudge_telemetry::current_traceparent(),
            signed_by: form.signer.account_id(),
        },
    )
    .await?;
    match stored {
        Stored::New {
            inbound,
            conversation,
        } => {
            tracing::info!(sid, inbound = %inbound.id, conversation = %conversation.id, "inbound SMS stored");
            state.relay_wakeup.notify_one();
        }
        Stored::Duplicate => tracing::info!(sid, "repeated inbound webhook ignored"),
        Stored::WrongAccount => {
            tracing::warn!(sid, signer = ?form.signer, "webhook refused: signed by an account the number is not in");
            return Err(ListenerError::BadSignature);
        }
        Stored::UnknownNumber => {
            tracing::warn!(
                sid,
                to,
                "inbound SMS to a number no shop sends from; not stored"
            );
        }
    }
    Ok(HttpResponse::Ok()
        .content_type("text/xml; charset=utf-8")
        .body(EMPTY_TWIML))
}
