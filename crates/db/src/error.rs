//! One error type for the database layer. Callers care about four things: was the
//! database there at all, did the write clash with a unique rule, is the row still in
//! use, or something else (a bug).

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::deadpool::PoolError;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had: the caller should retry later (HTTP 503).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A unique constraint refused the write; holds the constraint's name.
    #[error("conflicts with existing data ({0})")]
    Conflict(String),
    /// A foreign key refused a delete or a write; holds the constraint's name.
    #[error("still referenced by other data ({0})")]
    InUse(String),
    /// A row holds a value the code cannot read back (a broken invariant).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database query failed: {0}")]
    Query(#[source] DieselError),
}

impl From<DieselError> for DbError {
    fn from(error: DieselError) -> Self {
        match &error {
            DieselError::DatabaseError(kind, info) => {
                let constraint = info.constraint_name().unwrap_or("unknown").to_owned();
                match kind {
                    DatabaseErrorKind::UniqueViolation => DbError::Conflict(constraint),
                    DatabaseErrorKind::ForeignKeyViolation => DbError::InUse(constraint),
                    // A command that never reached the server, or whose connection
                    // broke under it (diesel-async reports a socket closed mid-query as
                    // `UnableToSendCommand`): the database is away, not the query wrong.
                    DatabaseErrorKind::ClosedConnection
                    | DatabaseErrorKind::UnableToSendCommand => {
                        DbError::Unavailable(info.message().to_owned())
                    }
                    _ => DbError::Query(error),
                }
            }
            DieselError::BrokenTransactionManager => {
                DbError::Unavailable("connection lost mid-transaction".to_owned())
            }
            _ => DbError::Query(error),
        }
    }
}

impl From<PoolError> for DbError {
    fn from(error: PoolError) -> Self {
        DbError::Unavailable(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_that_breaks_mid_query_is_unavailable_not_a_query_error() {
        let broken = DieselError::DatabaseError(
            DatabaseErrorKind::UnableToSendCommand,
            Box::new("connection closed".to_owned()),
        );
        assert!(matches!(DbError::from(broken), DbError::Unavailable(_)));
        let refused = DieselError::DatabaseError(
            DatabaseErrorKind::CheckViolation,
            Box::new("new row violates check constraint".to_owned()),
        );
        assert!(matches!(DbError::from(refused), DbError::Query(_)));
    }
}
