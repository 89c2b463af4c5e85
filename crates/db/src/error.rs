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
    /// The request carried text Postgres cannot store (a NUL character): the caller's
    /// input is wrong, not the query (HTTP 422). A safety net behind input validation.
    #[error("text the database cannot store: {0}")]
    Unstorable(String),
    /// A row holds a value the code cannot read back (a broken invariant).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database query failed: {0}")]
    Query(#[source] DieselError),
    /// The `DATABASE_URL` cannot be used as given (an unknown `sslmode`, an unreadable
    /// `sslrootcert`): a mistake of the operator's, found at start-up.
    #[error("database configuration: {0}")]
    Config(String),
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
                    // 25006: the connection now leads to a read-only server (the old
                    // primary after a failover, until DNS moves the pool on).
                    DatabaseErrorKind::ReadOnlyTransaction => {
                        DbError::Unavailable(info.message().to_owned())
                    }
                    DatabaseErrorKind::Unknown if is_server_going_away(info.message()) => {
                        DbError::Unavailable(info.message().to_owned())
                    }
                    // 22021 and 22P05: a NUL in text or in a jsonb string.
                    DatabaseErrorKind::Unknown if is_unstorable_text(info.message()) => {
                        DbError::Unstorable(info.message().to_owned())
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

/// The messages PostgreSQL sends with the errors that mean "this server is going away
/// or not there yet", not "this query is wrong": 57P01 admin_shutdown (a fast
/// shutdown, `pg_terminate_backend`), 57P02 crash_shutdown, 57P03 cannot_connect_now,
/// 40001 on a hot standby (conflict with recovery), and class 08 from the server.
///
/// diesel reports these as `DatabaseErrorKind::Unknown` and keeps the message but not
/// the SQLSTATE, so they are recognised by the server's text (PostgreSQL's own
/// `errmsg` strings, in English: what RDS and a default `lc_messages` send; a server
/// translating its messages would see these as 500s, which docs/reliability.md says).
const GOING_AWAY: [&str; 6] = [
    // 57P01, 57P02: "terminating connection due to administrator command",
    // "... because of crash of another server process", "... due to unexpected
    // postmaster exit", "... due to idle-session timeout".
    "terminating connection",
    // 57P03: "... is starting up", "... is shutting down", "... is in recovery mode",
    // "... is not yet accepting connections", "... is not accepting connections".
    "the database system is",
    // 40001 on a standby, 57P04 database_dropped.
    "canceling statement due to conflict with recovery",
    "database is being dropped",
    // Class 08 as the server words it.
    "connection failure",
    "could not receive data from client",
];

/// Whether a server error says the server is going away (see [`GOING_AWAY`]).
fn is_server_going_away(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    GOING_AWAY.iter().any(|phrase| message.starts_with(phrase))
}

/// Whether a server error says a value's text cannot be stored (a NUL byte).
fn is_unstorable_text(message: &str) -> bool {
    message.starts_with("invalid byte sequence for encoding")
        || message.starts_with("unsupported Unicode escape sequence")
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

    #[test]
    fn a_server_shutting_down_or_failing_over_is_unavailable() {
        let unavailable = |kind, message: &str| {
            let error = DieselError::DatabaseError(kind, Box::new(message.to_owned()));
            matches!(DbError::from(error), DbError::Unavailable(_))
        };
        for message in [
            "terminating connection due to administrator command",
            "terminating connection because of crash of another server process",
            "the database system is shutting down",
            "the database system is starting up",
            "canceling statement due to conflict with recovery",
        ] {
            assert!(
                unavailable(DatabaseErrorKind::Unknown, message),
                "{message}"
            );
        }
        assert!(unavailable(
            DatabaseErrorKind::ReadOnlyTransaction,
            "cannot execute INSERT in a read-only transaction"
        ));
        // A query's own fault stays a query error, whatever its words.
        assert!(!unavailable(
            DatabaseErrorKind::Unknown,
            "column \"terminating connection\" does not exist"
        ));
        assert!(!unavailable(
            DatabaseErrorKind::Unknown,
            "canceling statement due to statement timeout"
        ));
    }
}
