//! Throughput limits shared by every sender replica: token buckets in the database
//! (the shared state is Postgres, not process memory). A bucket refills at `rate`
//! tokens per second up to `burst`; taking `need` tokens succeeds when at least
//! `min(need, burst)` are there, and may leave the bucket below zero, so that a long
//! message is sent at once and the seconds after it pay for it.

use diesel::sql_types::{Array, BigInt, Bool, Double, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::prepared::{bind, prepared};
use crate::DbError;

/// A bucket's rule: refill per second and capacity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

#[derive(QueryableByName)]
struct Verdict {
    /// Seconds to wait; zero or less when the tokens were taken.
    #[diesel(sql_type = Double)]
    wait: f64,
    /// Buckets found (fewer than asked: some do not exist yet).
    #[diesel(sql_type = BigInt)]
    found: i64,
}

/// One statement: refill every bucket of the call from the database's clock, decide,
/// and take (all or none: nothing is taken unless all `$5` buckets exist; `$6`: whether
/// a bucket must hold the whole need, or up to its burst). The buckets are hot rows
/// shared by every worker, so the locks are held for this statement only, not across
/// round trips, and always taken in key order (no deadlock between two calls naming
/// the same buckets).
const TAKE: &str = "\
WITH wanted AS (
    SELECT * FROM unnest($1::text[], $2::float8[], $3::float8[]) AS w(key, per_second, burst)
), locked AS (
    SELECT b.key, w.per_second,
           LEAST(b.tokens + w.per_second * EXTRACT(EPOCH FROM (now() - b.refilled_at))::float8,
                 w.burst) AS available,
           CASE WHEN $6 THEN $4 ELSE LEAST($4, w.burst) END AS enough
    FROM send_rate_buckets b JOIN wanted w ON w.key = b.key
    ORDER BY b.key
    FOR UPDATE OF b
), verdict AS (
    SELECT COALESCE(MAX(GREATEST((enough - available) / per_second, 0)), 0)::float8 AS wait,
           count(*) AS found
    FROM locked
)
UPDATE send_rate_buckets b
SET tokens = l.available - CASE WHEN v.wait <= 0 AND v.found = $5 THEN $4 ELSE 0 END,
    refilled_at = now()
FROM locked l, verdict v
WHERE b.key = l.key
RETURNING v.wait, v.found";

/// Takes `need` tokens from every bucket of `keys` (each with its rate), all or none.
/// Returns `None` when taken, or how long to wait before trying again. Times are the
/// database's, so replicas with skewed clocks agree.
pub async fn take(
    conn: &mut AsyncPgConnection,
    keys: &[(&str, Rate)],
    need: f64,
) -> Result<Option<std::time::Duration>, DbError> {
    take_when(conn, keys, need, Enough::UpToBurst).await
}

/// Takes `need` tokens from every bucket of `keys` only if every one holds them all now:
/// never borrowing from the seconds ahead, so that the needs of several messages can be
/// taken at once without letting them exceed the rate together. `None` when taken.
pub async fn take_all_present(
    conn: &mut AsyncPgConnection,
    keys: &[(&str, Rate)],
    need: f64,
) -> Result<Option<std::time::Duration>, DbError> {
    take_when(conn, keys, need, Enough::All).await
}

#[derive(QueryableByName)]
struct Level {
    #[diesel(sql_type = Double)]
    available: f64,
}

/// The tokens in `key`'s bucket now, without taking any: `rate.burst` for a bucket
/// never used. For a limit that slows rather than refuses (a sign-in to an account
/// that strangers are failing at).
pub async fn available(
    conn: &mut AsyncPgConnection,
    key: &str,
    rate: Rate,
) -> Result<f64, DbError> {
    let levels: Vec<Level> = diesel::sql_query(
        "SELECT LEAST(tokens + $2 * EXTRACT(EPOCH FROM (now() - refilled_at))::float8, $3) \
         AS available FROM send_rate_buckets WHERE key = $1",
    )
    .bind::<Text, _>(key)
    .bind::<Double, _>(rate.per_second)
    .bind::<Double, _>(rate.burst)
    .load(conn)
    .await?;
    Ok(levels
        .into_iter()
        .next()
        .map_or(rate.burst, |level| level.available))
}

/// When a bucket holds enough.
#[derive(Clone, Copy)]
enum Enough {
    /// `min(need, burst)` tokens: a message longer than the burst goes at once, and
    /// the bucket goes below zero.
    UpToBurst,
    /// `need` tokens.
    All,
}

async fn take_when(
    conn: &mut AsyncPgConnection,
    keys: &[(&str, Rate)],
    need: f64,
    enough: Enough,
) -> Result<Option<std::time::Duration>, DbError> {
    let names: Vec<&str> = keys.iter().map(|(key, _)| *key).collect();
    let rates: Vec<f64> = keys.iter().map(|(_, rate)| rate.per_second).collect();
    let bursts: Vec<f64> = keys.iter().map(|(_, rate)| rate.burst).collect();
    for first_try in [true, false] {
        let verdicts: Vec<Verdict> = prepared(
            TAKE,
            vec![
                Box::new(bind::<Array<Text>, _>(&names)),
                Box::new(bind::<Array<Double>, _>(&rates)),
                Box::new(bind::<Array<Double>, _>(&bursts)),
                Box::new(bind::<Double, _>(need)),
                Box::new(bind::<BigInt, _>(
                    i64::try_from(keys.len()).unwrap_or(i64::MAX),
                )),
                Box::new(bind::<Bool, _>(matches!(enough, Enough::All))),
            ],
        )
        .load(conn)
        .await?;
        // Every row carries the same verdict; none at all when no bucket exists yet.
        let verdict = verdicts.into_iter().next();
        let found = verdict.as_ref().map_or(0, |v| v.found);
        if usize::try_from(found).is_ok_and(|found| found == keys.len()) {
            let wait = verdict.map_or(0.0, |v| v.wait);
            return Ok((wait > 0.0).then(|| std::time::Duration::from_secs_f64(wait)));
        }
        if !first_try {
            break;
        }
        // A bucket's first use: create it full, then take.
        diesel::sql_query(
            "INSERT INTO send_rate_buckets (key, tokens, refilled_at) \
             SELECT * , now() FROM unnest($1::text[], $2::float8[]) \
             ON CONFLICT (key) DO NOTHING",
        )
        .bind::<Array<Text>, _>(&names)
        .bind::<Array<Double>, _>(&bursts)
        .execute(conn)
        .await?;
    }
    Err(DbError::Corrupt(format!(
        "throughput buckets {names:?} missing right after being created"
    )))
}
