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
                    DatabaseErrorKind::ClosedConnection => {
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
