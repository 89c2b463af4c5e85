//! The connection pool. Timeouts are short on purpose: a request that cannot get a
//! connection in a few seconds is better answered 503 than left hanging.
//!
//! Checking out a connection costs no round trip when the connection was in use a
//! moment ago: diesel-async's default (`Verified`) runs `SELECT 1` at every checkout,
//! which was a fifth of the sender's statements per message. Only a connection that
//! sat idle for [`VERIFY_AFTER_IDLE`] (long enough for a firewall or a failover to have
//! dropped it without a word) is pinged first, and a dead one is replaced there and
//! then. A connection the server closed is never handed out either way: the client sees
//! the close and the pool drops it. One that breaks while in use fails that operation,
//! which every caller already treats as a database error to retry.
//!
//! Every connection is opened on the runtime that built the pool ([`build_pool`] must be
//! called inside one). A connection's I/O runs as a task on the runtime that opened it,
//! and actix-web gives each HTTP worker a runtime of its own that stops at shutdown
//! before the app's background tasks (the outbox relay, the campaign expander) do: a
//! connection a request happened to open would die under the relay mid-transaction,
//! after SQS had taken the batch, and the batch would be sent again by the next relay.
//!
//! Every connection honours the URL's `sslmode` and `sslrootcert` as libpq does
//! ([`connect`], through `nudge-pg-tls`): on RDS the URL says
//! `?sslmode=verify-full&sslrootcert=/path/to/rds-global-bundle.pem`.

use std::time::Duration;

use diesel::{ConnectionError, ConnectionResult};
use diesel_async::pooled_connection::deadpool::{Hook, HookError, Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, PoolError, RecyclingMethod,
};
use diesel_async::AsyncPgConnection;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;

use crate::DbError;

pub type DbPool = Pool<AsyncPgConnection>;
pub type DbConn = Object<AsyncPgConnection>;

/// How long a pooled connection may sit unused before it is pinged at checkout.
pub const VERIFY_AFTER_IDLE: Duration = Duration::from_secs(15);

/// How long that ping may take before the connection is given up for a new one.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Builds a pool; connections are opened lazily, so this succeeds without a database.
pub fn build_pool(database_url: &str, max_size: usize) -> Result<DbPool, DbError> {
    build_pool_verifying_after(database_url, max_size, VERIFY_AFTER_IDLE)
}

/// [`build_pool`] with another idle time before a checkout pings (tests use a short one).
pub fn build_pool_verifying_after(
    database_url: &str,
    max_size: usize,
    verify_after_idle: Duration,
) -> Result<DbPool, DbError> {
    // A mistake in the URL's TLS options is an error now, not at the first checkout.
    nudge_pg_tls::parse(database_url)
        .and_then(|target| target.tls())
        .map_err(|e| DbError::Config(e.to_string()))?;
    let mut config = ManagerConfig::default();
    config.recycling_method = RecyclingMethod::Fast;
    // Where connections live; without a runtime (a plain unit test) they are opened
    // wherever they are first needed.
    let home = tokio::runtime::Handle::try_current().ok();
    config.custom_setup = Box::new(move |url| match &home {
        Some(home) => establish_on(home, url),
        None => establish(url),
    });
    let manager =
        AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(database_url, config);
    Pool::builder(manager)
        .max_size(max_size)
        .runtime(deadpool::Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(5)))
        .create_timeout(Some(Duration::from_secs(5)))
        .recycle_timeout(Some(Duration::from_secs(5)))
        .pre_recycle(Hook::async_fn(move |conn, metrics| {
            let idle = metrics.last_used() >= verify_after_idle;
            Box::pin(async move {
                if idle {
                    // A silently dropped TCP session would not answer at all.
                    tokio::time::timeout(PING_TIMEOUT, select_one(conn))
                        .await
                        .map_err(|_| HookError::Message("ping timed out".into()))?
                        .map_err(|e| HookError::Backend(PoolError::QueryError(e)))?;
                }
                Ok(())
            })
        }))
        .build()
        .map_err(|e| DbError::Unavailable(e.to_string()))
}

/// One connection to `database_url`, with TLS as its `sslmode` says: what the pool
/// opens, and what one-off work (migrations, the admin CLI) uses. Errors never carry
/// the URL.
pub async fn connect(database_url: &str) -> Result<AsyncPgConnection, DbError> {
    establish(database_url).await.map_err(|e| match e {
        ConnectionError::InvalidConnectionUrl(what) => DbError::Config(what),
        other => DbError::Unavailable(other.to_string()),
    })
}

/// [`establish`] run as a task of `home`, so the connection's I/O task is spawned there.
fn establish_on<'a>(
    home: &tokio::runtime::Handle,
    database_url: &'a str,
) -> BoxFuture<'a, ConnectionResult<AsyncPgConnection>> {
    let database_url = database_url.to_owned();
    let opening = home.spawn(async move { establish(&database_url).await });
    async move {
        opening.await.map_err(|_| {
            ConnectionError::BadConnection("the pool's runtime has shut down".into())
        })?
    }
    .boxed()
}

fn establish(database_url: &str) -> BoxFuture<'_, ConnectionResult<AsyncPgConnection>> {
    async move {
        let target = nudge_pg_tls::parse(database_url)
            .map_err(|e| ConnectionError::InvalidConnectionUrl(e.to_string()))?;
        let (client, connection) = target
            .connect()
            .await
            .map_err(|e| ConnectionError::BadConnection(e.to_string()))?;
        AsyncPgConnection::try_from_client_and_connection(client, connection).await
    }
    .boxed()
}

/// Whether the pool can hand out a connection that answers a round trip: how a worker
/// waiting out an outage probes the database.
pub async fn answers(pool: &DbPool) -> bool {
    match pool.get().await {
        Ok(mut conn) => ping(&mut conn).await.is_ok(),
        Err(_) => false,
    }
}

/// A round trip to the database (for readiness checks).
pub async fn ping(conn: &mut AsyncPgConnection) -> Result<(), DbError> {
    Ok(select_one(conn).await?)
}

async fn select_one(conn: &mut AsyncPgConnection) -> diesel::QueryResult<()> {
    use diesel_async::RunQueryDsl;
    diesel::sql_query("SELECT 1").execute(conn).await.map(drop)
}
