//! The plain SQL connection (catalog, heartbeat, lag).
//!
//! The replication connection (pg_walstream) reads `sslmode` and `sslrootcert` from
//! `DATABASE_URL` the way libpq does; this connection reads them the same way, through
//! the TLS every service uses (`nudge-pg-tls`), so that a server that requires TLS
//! (RDS with `rds.force_ssl = 1`) never accepts one connection and refuses the other.

use std::future::Future;

use tokio_postgres::Client;

use crate::CdcError;

/// Connects, spawning the connection's task; errors carry no part of the URL.
pub async fn connect(database_url: &str) -> Result<Client, CdcError> {
    let (client, connection) = nudge_pg_tls::connect(database_url)
        .await
        .map_err(|e| match e {
            nudge_pg_tls::Error::Config(what) => CdcError::Setup(format!("DATABASE_URL: {what}")),
            nudge_pg_tls::Error::Connect(why) => {
                CdcError::Database(format!("cannot connect: {why}"))
            }
        })?;
    tokio::spawn(watch(connection));
    Ok(client)
}

async fn watch<F: Future<Output = Result<(), tokio_postgres::Error>>>(connection: F) {
    if let Err(error) = connection.await {
        tracing::warn!(error = %nudge_pg_tls::describe(&error), "SQL connection closed");
    }
}
