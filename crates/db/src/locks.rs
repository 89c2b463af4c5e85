//! Transaction-scoped advisory locks, for serialising work on something that is not a
//! row yet (or not one row): held until the transaction ends. Keys are namespaced
//! strings (`cap:...`, `sid:...`) hashed to Postgres's 64-bit lock space.

use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::DbError;

pub(crate) async fn transaction_lock(
    conn: &mut AsyncPgConnection,
    key: &str,
) -> Result<(), DbError> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind::<Text, _>(key)
        .execute(conn)
        .await?;
    Ok(())
}
