//! The one place where errors become HTTP responses: RFC 9457 problem details
//! (`application/problem+json`) with a stable `type`, a human `detail`, and per-field
//! `errors` for validation. The cause chain is logged, never sent.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use nudge_db::DbError;
use nudge_usecases::{Error as UseCaseError, Refusal};
use serde::Serialize;
use utoipa::ToSchema;

/// Base of every problem `type`; docs/api.md lists them.
pub const PROBLEM_BASE: &str = "https://nudge.dev/problems/";

/// Seconds a client should wait before retrying a 503.
pub const RETRY_AFTER_SECONDS: &str = "5";

/// One field's problem; the use cases' own (`nudge_usecases::FieldError`).
pub use nudge_usecases::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or invalid API key")]
    Unauthorized,
    #[error("this API key lacks the `{0}` scope")]
    MissingScope(nudge_domain::ApiScope),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("the body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("{0}")]
    Conflict(String),
    /// The recipient opted out: nothing may be sent to them.
    #[error("{0}")]
    RecipientOptedOut(String),
    /// A marketing message to a recipient who has not opted in.
    #[error("{0}")]
    ConsentRequired(String),
    #[error("{0}")]
    NotCancellable(String),
    #[error("{0}")]
    FrequencyCapExceeded(String),
    /// A country the tenant may not text.
    #[error("{0}")]
    DestinationNotAllowed(String),
    /// A tenant in its sandbox, and a number it has not verified.
    #[error("{0}")]
    RecipientNotVerified(String),
    #[error("too many requests for this tenant: at most {limit} per minute, whatever the key")]
    RateLimited { limit: i32, retry_after: u64 },
    #[error("the tenant has reached its cap of {cap} messages today (UTC); raise it or wait")]
    DailyMessageCapReached { cap: i32, retry_after: u64 },
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,
    #[error("a request with this Idempotency-Key is still in progress; retry later")]
    IdempotencyKeyInFlight,
    #[error("a dependency is unavailable: {0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// The use cases' refusals, as the API has always answered them.
impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Invalid(fields) => ApiError::Validation(fields),
            Refusal::NotFound(what) => ApiError::NotFound(what),
            Refusal::RecipientOptedOut(text) => ApiError::RecipientOptedOut(text),
            Refusal::ConsentRequired(text) => ApiError::ConsentRequired(text),
            Refusal::FrequencyCapExceeded(text) => ApiError::FrequencyCapExceeded(text),
            Refusal::DestinationNotAllowed(text) => ApiError::DestinationNotAllowed(text),
            Refusal::RecipientNotVerified(text) => ApiError::RecipientNotVerified(text),
            Refusal::DailyMessageCapReached { cap, retry_after } => {
                ApiError::DailyMessageCapReached { cap, retry_after }
            }
            Refusal::IdempotencyKeyReused => ApiError::IdempotencyKeyReused,
            Refusal::Conflict(text) => ApiError::Conflict(text),
        }
    }
}

impl From<UseCaseError> for ApiError {
    fn from(error: UseCaseError) -> Self {
        match error {
            UseCaseError::Refused(refusal) => refusal.into(),
            UseCaseError::Unavailable(cause) => ApiError::Unavailable(cause),
            UseCaseError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, detail)])
    }

    fn slug(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "unauthorized",
            ApiError::MissingScope(_) => "missing-scope",
            ApiError::NotFound(_) => "not-found",
            ApiError::Validation(_) => "validation",
            ApiError::MalformedJson(_) => "malformed-json",
            ApiError::UnsupportedMediaType => "unsupported-media-type",
            ApiError::Conflict(_) => "conflict",
            ApiError::RecipientOptedOut(_) => "recipient-opted-out",
            ApiError::ConsentRequired(_) => "consent-required",
            ApiError::NotCancellable(_) => "not-cancellable",
            ApiError::FrequencyCapExceeded(_) => "frequency-cap-exceeded",
            ApiError::DestinationNotAllowed(_) => "destination-not-allowed",
            ApiError::RecipientNotVerified(_) => "recipient-not-verified",
            ApiError::RateLimited { .. } => "rate-limited",
            ApiError::DailyMessageCapReached { .. } => "daily-message-cap-reached",
            ApiError::IdempotencyKeyReused => "idempotency-key-reused",
            ApiError::IdempotencyKeyInFlight => "idempotency-key-in-flight",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "Unauthorized",
            ApiError::MissingScope(_) => "Missing scope",
            ApiError::NotFound(_) => "Not found",
            ApiError::Validation(_) => "Invalid request",
            ApiError::MalformedJson(_) => "Malformed JSON",
            ApiError::UnsupportedMediaType => "Unsupported media type",
            ApiError::Conflict(_) => "Conflict",
            ApiError::RecipientOptedOut(_) => "Recipient opted out",
            ApiError::ConsentRequired(_) => "Consent required",
            ApiError::NotCancellable(_) => "Too late to cancel",
            ApiError::FrequencyCapExceeded(_) => "Frequency cap exceeded",
            ApiError::DestinationNotAllowed(_) => "Destination not allowed",
            ApiError::RecipientNotVerified(_) => "Recipient not verified",
            ApiError::RateLimited { .. } => "Too many requests",
            ApiError::DailyMessageCapReached { .. } => "Daily message cap reached",
            ApiError::IdempotencyKeyReused => "Idempotency key reused",
            ApiError::IdempotencyKeyInFlight => "Request in progress",
            ApiError::Unavailable(_) => "Service unavailable",
            ApiError::Internal(_) => "Internal error",
        }
    }

    /// What the client is told. Dependency failures and bugs get a generic sentence:
    /// their details (hosts, SQL, stack) stay in the logs.
    fn public_detail(&self) -> String {
        match self {
            ApiError::Unavailable(_) => {
                "A dependency of the service is unavailable; retry after the Retry-After delay."
                    .into()
            }
            ApiError::Internal(_) => "Something went wrong on our side; it has been logged.".into(),
            other => other.to_string(),
        }
    }
}

/// An error, as `application/problem+json` (RFC 9457). `type` is stable: branch on it,
/// not on `title` or `detail` (docs/errors.md lists every type).
#[derive(Serialize, ToSchema)]
pub struct Problem {
    /// `https://nudge.dev/problems/<slug>`.
    #[serde(rename = "type")]
    #[schema(format = "uri")]
    pub kind: String,
    pub title: String,
    /// The HTTP status, repeated.
    pub status: u16,
    /// What went wrong with this request, in a sentence.
    pub detail: String,
    /// Present on `validation` problems: every field that is wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

impl ApiError {
    /// The problem+json body of this error (also used per item of a batch).
    pub fn problem(&self) -> serde_json::Value {
        let status = self.status_code();
        let problem = Problem {
            kind: format!("{PROBLEM_BASE}{}", self.slug()),
            title: self.title().to_owned(),
            status: status.as_u16(),
            detail: self.public_detail(),
            errors: match self {
                ApiError::Validation(errors) => Some(errors.clone()),
                _ => None,
            },
        };
        serde_json::to_value(problem).unwrap_or_default()
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::MissingScope(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::MalformedJson(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::RecipientOptedOut(_)
            | ApiError::ConsentRequired(_)
            | ApiError::IdempotencyKeyReused
            | ApiError::DestinationNotAllowed(_)
            | ApiError::RecipientNotVerified(_)
            | ApiError::FrequencyCapExceeded(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::IdempotencyKeyInFlight | ApiError::NotCancellable(_) => StatusCode::CONFLICT,
            ApiError::RateLimited { .. } | ApiError::DailyMessageCapReached { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Internal(cause) => tracing::error!(error = ?cause, "request failed"),
            ApiError::Unavailable(cause) => tracing::warn!(%cause, "dependency unavailable"),
            _ => {}
        }
        let status = self.status_code();
        let problem = self.problem();
        let mut response = HttpResponse::build(status);
        response.content_type("application/problem+json");
        match self {
            ApiError::Unauthorized => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            ApiError::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECONDS));
            }
            ApiError::RateLimited { limit, retry_after } => {
                response.insert_header((header::RETRY_AFTER, retry_after.to_string()));
                for header in crate::limits::rate_limit_headers(*limit, 0, *retry_after) {
                    response.insert_header(header);
                }
            }
            ApiError::DailyMessageCapReached { retry_after, .. } => {
                response.insert_header((header::RETRY_AFTER, retry_after.to_string()));
            }
            _ => {}
        }
        response.json(problem)
    }
}

/// As the use cases read the database's answers: a constraint is a conflict, text
/// Postgres cannot store is invalid, an outage is a 503.
impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        UseCaseError::from(error).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One value of every variant: adding a variant without listing it here fails to
    /// compile the match below, and its type missing from docs/errors.md fails the test.
    fn every_variant() -> Vec<ApiError> {
        let all = vec![
            ApiError::Unauthorized,
            ApiError::NotFound("x"),
            ApiError::Validation(vec![]),
            ApiError::MalformedJson(String::new()),
            ApiError::UnsupportedMediaType,
            ApiError::MissingScope(nudge_domain::ApiScope::Manage),
            ApiError::Conflict(String::new()),
            ApiError::RecipientOptedOut(String::new()),
            ApiError::ConsentRequired(String::new()),
            ApiError::IdempotencyKeyReused,
            ApiError::IdempotencyKeyInFlight,
            ApiError::NotCancellable(String::new()),
            ApiError::FrequencyCapExceeded(String::new()),
            ApiError::DestinationNotAllowed(String::new()),
            ApiError::RecipientNotVerified(String::new()),
            ApiError::RateLimited {
                limit: 1,
                retry_after: 1,
            },
            ApiError::DailyMessageCapReached {
                cap: 1,
                retry_after: 1,
            },
            ApiError::Unavailable(String::new()),
            ApiError::Internal(anyhow::anyhow!("x")),
        ];
        for error in &all {
            match error {
                ApiError::Unauthorized
                | ApiError::MissingScope(_)
                | ApiError::NotFound(_)
                | ApiError::Validation(_)
                | ApiError::MalformedJson(_)
                | ApiError::UnsupportedMediaType
                | ApiError::Conflict(_)
                | ApiError::RecipientOptedOut(_)
                | ApiError::ConsentRequired(_)
                | ApiError::IdempotencyKeyReused
                | ApiError::IdempotencyKeyInFlight
                | ApiError::NotCancellable(_)
                | ApiError::FrequencyCapExceeded(_)
                | ApiError::DestinationNotAllowed(_)
                | ApiError::RecipientNotVerified(_)
                | ApiError::RateLimited { .. }
                | ApiError::DailyMessageCapReached { .. }
                | ApiError::Unavailable(_)
                | ApiError::Internal(_) => {}
            }
        }
        all
    }

    #[test]
    fn every_problem_type_is_in_the_catalogue_with_its_status() {
        let catalogue = include_str!("../../../docs/errors.md");
        for error in every_variant() {
            let row = format!("| `{}` | {} |", error.slug(), error.status_code().as_u16());
            assert!(
                catalogue.contains(&row),
                "docs/errors.md lacks the row {row}"
            );
        }
    }

    #[test]
    fn internal_details_never_reach_the_client() {
        let problem = ApiError::Internal(anyhow::anyhow!("password=hunter2 at db:5432")).problem();
        assert!(!problem.to_string().contains("hunter2"));
        let problem = ApiError::Unavailable("connect to 10.0.0.5 refused".into()).problem();
        assert!(!problem.to_string().contains("10.0.0.5"));
    }
}
