//! The use cases' one error type. A [`Refusal`] is the request's fault and says so in a
//! sentence a merchant can act on; the API maps it to problem+json
//! (`messaging_api::error`) and the console to its pages, each in one place. An outage
//! or a bug is not a refusal: [`Error::Unavailable`] and [`Error::Internal`] keep their
//! cause for the log, never for the client.

use nudge_db::DbError;
use serde::Serialize;
use utoipa::ToSchema;

/// One field's problem: `field` is the JSON path of the field (`consent.state`,
/// `quiet_hours.start`) or the query parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub detail: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            detail: detail.into(),
        }
    }
}

/// Why a valid-looking request was not done. Every variant's text is meant for the
/// merchant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Fields that are wrong, every one of them at once.
    #[error("the request has invalid fields")]
    Invalid(Vec<FieldError>),
    /// What the request names is not the tenant's (another tenant's is not found too).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The recipient opted out: nothing may be sent to them.
    #[error("{0}")]
    RecipientOptedOut(String),
    /// A marketing message to a recipient who has not opted in.
    #[error("{0}")]
    ConsentRequired(String),
    /// The shop's marketing frequency cap for this recipient.
    #[error("{0}")]
    FrequencyCapExceeded(String),
    /// A country the tenant may not text.
    #[error("{0}")]
    DestinationNotAllowed(String),
    /// A tenant in its sandbox, and a number it has not verified.
    #[error("{0}")]
    RecipientNotVerified(String),
    /// The tenant's messages per UTC day; `retry_after` seconds until midnight UTC.
    #[error("the tenant has reached its cap of {cap} messages today (UTC); raise it or wait")]
    DailyMessageCapReached { cap: i32, retry_after: u64 },
    /// An idempotency key already stored with another request.
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,
    /// What the request would store clashes with what exists.
    #[error("{0}")]
    Conflict(String),
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The database (or another dependency) cannot answer now: worth a retry.
    #[error("a dependency is unavailable: {0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl Error {
    /// A refusal of one field.
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Refusal::Invalid(vec![FieldError::new(field, detail)]).into()
    }
}

/// The fields collected so far: nothing if there are none, else all of them refused.
pub fn check(errors: Vec<FieldError>) -> Result<(), Refusal> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Refusal::Invalid(errors))
    }
}

impl From<nudge_domain::DestinationRefusal> for Refusal {
    fn from(refusal: nudge_domain::DestinationRefusal) -> Self {
        match refusal {
            nudge_domain::DestinationRefusal::CountryNotAllowed(_) => {
                Refusal::DestinationNotAllowed(refusal.to_string())
            }
            nudge_domain::DestinationRefusal::NotVerified => {
                Refusal::RecipientNotVerified(refusal.to_string())
            }
        }
    }
}

impl From<nudge_domain::DestinationRefusal> for Error {
    fn from(refusal: nudge_domain::DestinationRefusal) -> Self {
        Refusal::from(refusal).into()
    }
}

/// The database's answers, as the API has always given them: a constraint is a
/// conflict, text Postgres cannot store is an invalid request, an outage is an outage.
impl From<nudge_db::DieselError> for Error {
    fn from(error: nudge_db::DieselError) -> Self {
        DbError::from(error).into()
    }
}

impl From<DbError> for Error {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Unavailable(cause) => Error::Unavailable(cause),
            DbError::Conflict(constraint) => Refusal::Conflict(format!(
                "conflicts with an existing resource ({constraint})"
            ))
            .into(),
            DbError::InUse(constraint) => Refusal::Conflict(format!(
                "the resource is still referenced by other data ({constraint})"
            ))
            .into(),
            DbError::Unstorable(_) => {
                Error::invalid("request", "text must not contain NUL characters")
            }
            other => Error::Internal(other.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_not_a_refusal_and_a_constraint_is() {
        let outage = Error::from(DbError::Unavailable("pool timed out".into()));
        assert!(matches!(outage, Error::Unavailable(_)), "{outage:?}");
        let clash = Error::from(DbError::Conflict("shops_name_key".into()));
        assert!(
            matches!(clash, Error::Refused(Refusal::Conflict(ref text)) if text.contains("shops_name_key")),
            "{clash:?}"
        );
    }

    #[test]
    fn collected_fields_are_refused_together() {
        assert_eq!(check(vec![]), Ok(()));
        let fields = vec![FieldError::new("a", "x"), FieldError::new("b", "y")];
        assert_eq!(check(fields.clone()), Err(Refusal::Invalid(fields)));
    }
}
