//! Throughput limits shared by every sender replica: token buckets in the database
//! (the shared state is Postgres, not process memory). A bucket refills at `rate`
//! tokens per second up to `burst`; taking `need` tokens succeeds when at least
//! `min(need, burst)` are there, and may leave the bucket below zero, so that a long
//! message is sent at once and the seconds after it pay for it.

use chrono::{DateTime, Utc};
use diesel::sql_types::{Double, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::DbError;

/// A bucket's rule: refill per second and capacity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

#[derive(QueryableByName)]
struct Bucket {
    #[diesel(sql_type = Double)]
    tokens: f64,
    #[diesel(sql_type = Timestamptz)]
    refilled_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    now: DateTime<Utc>,
}

/// Takes `need` tokens from every bucket of `keys` (each with its rate), all or none.
/// Returns `None` when taken, or how long to wait before trying again. Times are the
/// database's, so replicas with skewed clocks agree.
pub async fn take(
    conn: &mut AsyncPgConnection,
    keys: &[(&str, Rate)],
    need: f64,
) -> Result<Option<std::time::Duration>, DbError> {
    conn.transaction::<_, DbError, _>(async |conn| {
        let mut refilled = Vec::with_capacity(keys.len());
        let mut wait: f64 = 0.0;
        for (key, rate) in keys {
            diesel::sql_query(
                "INSERT INTO send_rate_buckets (key, tokens, refilled_at) VALUES ($1, $2, now()) \
                 ON CONFLICT (key) DO NOTHING",
            )
            .bind::<Text, _>(*key)
            .bind::<Double, _>(rate.burst)
            .execute(conn)
            .await?;
            let bucket: Bucket = diesel::sql_query(
                "SELECT tokens, refilled_at, now() AS now FROM send_rate_buckets WHERE key = $1 FOR UPDATE",
            )
            .bind::<Text, _>(*key)
            .get_result(conn)
            .await?;
            let elapsed = (bucket.now - bucket.refilled_at)
                .to_std()
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            let available = (bucket.tokens + rate.per_second * elapsed).min(rate.burst);
            let enough = need.min(rate.burst);
            if available < enough {
                wait = wait.max((enough - available) / rate.per_second);
            }
            refilled.push((*key, available));
        }
        let taken = wait <= 0.0;
        for (key, available) in refilled {
            let tokens = if taken { available - need } else { available };
            diesel::sql_query(
                "UPDATE send_rate_buckets SET tokens = $2, refilled_at = now() WHERE key = $1",
            )
            .bind::<Text, _>(key)
            .bind::<Double, _>(tokens)
            .execute(conn)
            .await?;
        }
        Ok((!taken).then(|| std::time::Duration::from_secs_f64(wait)))
    })
    .await
}
