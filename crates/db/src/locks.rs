//! Transaction-scoped advisory locks, for serialising work on something that is not a
//! row yet (or not one row): held until the transaction ends. Keys are namespaced
//! strings (`cap:...`, `sid:...`) hashed to Postgres's 64-bit lock space.

use diesel::sql_types::{Array, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::prepared::{bind, prepared};
use crate::DbError;

/// Takes a shared connection, so that the lock can be pipelined with the statements
/// after it (the server runs them in order: the lock is held before they run).
pub(crate) async fn transaction_lock(
    mut conn: &AsyncPgConnection,
    key: &str,
) -> Result<(), DbError> {
    prepared(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        vec![Box::new(bind::<Text, _>(key))],
    )
    .execute(&mut conn)
    .await?;
    Ok(())
}

/// Several locks in one statement, taken one after the other in the order given: give
/// them sorted, so that two transactions wanting overlapping sets cannot deadlock.
pub(crate) async fn transaction_locks(
    conn: &mut AsyncPgConnection,
    keys: &[String],
) -> Result<(), DbError> {
    if keys.is_empty() {
        return Ok(());
    }
    // The lock function is volatile, so Postgres calls it after the sort, row by row.
    prepared(
        "SELECT pg_advisory_xact_lock(hashtextextended(key, 0)) \
         FROM unnest($1::text[]) WITH ORDINALITY AS wanted(key, position) ORDER BY position",
        vec![Box::new(bind::<Array<Text>, _>(keys))],
    )
    .execute(conn)
    .await?;
    Ok(())
}
