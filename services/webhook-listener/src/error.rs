//! The listener's errors and their HTTP answers, in one place. Answers say what was
//! wrong with the request and nothing about our internals.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

/// Seconds a client is asked to wait when the database is away.
pub const RETRY_AFTER_SECONDS: &str = "5";

#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    /// No `X-Twilio-Signature`, or not the provider's: nothing is read or stored.
    #[error("the request signature is missing or wrong")]
    BadSignature,
    /// Signed, but not a callback we can use.
    #[error("{0}")]
    BadRequest(String),
    #[error("the database is unavailable")]
    Unavailable(#[from] nudge_db::DbError),
}

impl ResponseError for ListenerError {
    fn status_code(&self) -> StatusCode {
        match self {
            ListenerError::BadSignature => StatusCode::FORBIDDEN,
            ListenerError::BadRequest(_) => StatusCode::BAD_REQUEST,
            // Twilio retries a callback that failed: nothing is lost.
            ListenerError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ListenerError::Unavailable(error) = self {
            tracing::error!(%error, "callback not stored; the provider will retry");
        }
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, ListenerError::Unavailable(_)) {
            // Twilio retries on its own schedule; other clients get told when.
            response.insert_header((actix_web::http::header::RETRY_AFTER, RETRY_AFTER_SECONDS));
        }
        response
            .content_type("application/problem+json")
            .json(json!({
                "title": self.status_code().canonical_reason().unwrap_or("error"),
                "status": self.status_code().as_u16(),
                "detail": self.to_string(),
            }))
    }
}
