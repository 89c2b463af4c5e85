//! The one place console failures become pages: people get a readable page with the
//! right status, never a JSON problem document or a stack trace.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;
use nudge_usecases::{Error as UseCaseError, Refusal};

use super::pages::Notice;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("sign in required")]
    SignInRequired,
    /// A form without the token of this browser or session (CSRF), or an old one.
    #[error("form token missing or stale")]
    FormExpired,
    /// A form without the fields its page sends (not one of our forms).
    #[error("incomplete form")]
    BadForm,
    /// The person's role may not do this.
    #[error("not allowed for this role")]
    Forbidden,
    #[error("too many attempts")]
    TooManyAttempts { retry_after_seconds: u64 },
    #[error("not found")]
    NotFound,
    /// A use case (a send, a campaign, an answer) refused: the page says why.
    #[error("{0}")]
    Refused(Refusal),
    #[error(transparent)]
    Database(#[from] nudge_db::DbError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The use cases' answers, for pages: a refusal is said on the page (a form shows it
/// beside its fields, see [`refusal_status`]); an outage or a bug is the console's own.
impl From<UseCaseError> for ConsoleError {
    fn from(error: UseCaseError) -> Self {
        match error {
            UseCaseError::Refused(Refusal::NotFound(_)) => Self::NotFound,
            UseCaseError::Refused(refusal) => Self::Refused(refusal),
            UseCaseError::Unavailable(cause) => {
                Self::Database(nudge_db::DbError::Unavailable(cause))
            }
            UseCaseError::Internal(cause) => Self::Internal(cause),
        }
    }
}

/// The status a page that shows `refusal` answers with: the API's for the same refusal,
/// so that a browser's tools and the API agree.
pub fn refusal_status(refusal: &Refusal) -> StatusCode {
    match refusal {
        Refusal::NotFound(_) => StatusCode::NOT_FOUND,
        Refusal::DailyMessageCapReached { .. } => StatusCode::TOO_MANY_REQUESTS,
        Refusal::Conflict(_) => StatusCode::CONFLICT,
        Refusal::Invalid(_)
        | Refusal::RecipientOptedOut(_)
        | Refusal::ConsentRequired(_)
        | Refusal::FrequencyCapExceeded(_)
        | Refusal::DestinationNotAllowed(_)
        | Refusal::RecipientNotVerified(_)
        | Refusal::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// A refusal in a sentence: each field's problem for an invalid request.
fn refusal_text(refusal: &Refusal) -> String {
    match refusal {
        Refusal::Invalid(fields) => fields
            .iter()
            .map(|f| format!("{}: {}.", f.field.replace('_', " "), f.detail))
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::SignInRequired => StatusCode::SEE_OTHER,
            Self::FormExpired => StatusCode::FORBIDDEN,
            Self::BadForm => StatusCode::BAD_REQUEST,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Refused(refusal) => refusal_status(refusal),
            Self::Database(nudge_db::DbError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Database(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::SignInRequired = self {
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/console/sign-in"))
                .finish();
        }
        let refused;
        let (title, text) = match self {
            Self::Refused(refusal) => {
                refused = refusal_text(refusal);
                ("This was not done", refused.as_str())
            }
            Self::FormExpired => (
                "This form has expired",
                "Go back, reload the page and try again.",
            ),
            Self::BadForm => (
                "This form is incomplete",
                "Go back, reload the page and try again.",
            ),
            Self::TooManyAttempts { .. } => {
                ("Too many attempts", "Wait a few minutes, then try again.")
            }
            Self::NotFound => ("Not found", "There is nothing here."),
            Self::Forbidden => (
                "Not available to your role",
                "Ask your account's owner if you need this.",
            ),
            _ => {
                // The cause goes to the log, never to the page.
                tracing::error!(error = %self, "console request failed");
                (
                    "Something went wrong",
                    "Nothing was changed. Try again in a moment.",
                )
            }
        };
        let mut response = HttpResponse::build(self.status_code());
        if let Self::TooManyAttempts {
            retry_after_seconds,
        } = self
        {
            response.insert_header((header::RETRY_AFTER, retry_after_seconds.to_string()));
        }
        let page = Notice {
            title,
            text,
            link: None,
            signed_in: None,
        };
        response
            .content_type("text/html; charset=utf-8")
            .body(page.render().unwrap_or_else(|_| text.to_owned()))
    }
}
