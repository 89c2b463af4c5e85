//! `cdc-streamer`: every committed row change of the Nudge database into the Kinesis
//! stream `db-changes`, the way Debezium does it, in one small process.
//!
//! - [`catalog`]: plain SQL: server checks, the publication, column types, snapshot
//!   bookkeeping, heartbeats, lag.
//! - [`replication`]: the slot (pgoutput over the streaming replication protocol):
//!   the initial snapshot, then the changes, in WAL order.
//! - [`records`], [`values`], [`masking`]: a change into a `db_change.v1` record.
//! - [`sink`]: batches into Kinesis, in order per row, and confirms to the slot only
//!   what Kinesis holds.
//!
//! docs/cdc.md explains the guarantees and how to run it (RDS included).

pub mod catalog;
pub mod config;
pub mod masking;
pub mod metrics;
pub mod records;
pub mod replication;
pub mod sink;
pub mod sql;
pub mod values;

use std::time::Duration;

use pg_walstream::{LogicalReplicationStream, ReplicationStreamConfig, StreamingMode};
use secrecy::ExposeSecret;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use config::{Config, SnapshotMode};

use crate::catalog::Catalog;
use crate::metrics::Metrics;
use crate::records::RecordBuilder;
use crate::replication::Replicator;
use crate::sink::{Kinesis, Writer};

/// Items between the replication connection and the Kinesis writer.
const HANDOVER_CAPACITY: usize = 2_000;
/// On shutdown, how long the writer may take to get what it holds into Kinesis.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum CdcError {
    #[error(
        "wal_level is '{0}', and logical decoding needs 'logical': set wal_level = logical and \
         restart Postgres (on RDS: rds.logical_replication = 1 in the parameter group, then reboot)"
    )]
    NotLogical(String),
    #[error("{0}")]
    Setup(String),
    #[error("database: {0}")]
    Database(String),
    #[error("replication: {0}")]
    Replication(String),
    #[error("the Kinesis writer stopped")]
    WriterStopped,
    /// Asked to stop (SIGTERM) while waiting on Kinesis; not a failure.
    #[error("stopped")]
    Stopped,
}

/// Removes a password from any connection string quoted in a message.
pub fn redact(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for word in message.split_inclusive(char::is_whitespace) {
        if let Some(rest) = word.strip_prefix("password=") {
            out.push_str("password=***");
            out.push_str(&rest[rest.trim_end().len()..]);
            continue;
        }
        // scheme://user:password@host
        match (word.find("://"), word.find('@')) {
            (Some(scheme), Some(at)) if scheme < at => {
                let credentials = &word[scheme + 3..at];
                match credentials.split_once(':') {
                    Some((user, _)) => {
                        out.push_str(&word[..scheme + 3]);
                        out.push_str(user);
                        out.push_str(":***");
                        out.push_str(&word[at..]);
                    }
                    None => out.push_str(word),
                }
            }
            _ => out.push_str(word),
        }
    }
    out
}

/// The first wait before a new session after the database went away, doubled up to
/// [`RESTART_BACKOFF_CAP`].
const RESTART_BACKOFF: Duration = Duration::from_secs(1);
const RESTART_BACKOFF_CAP: Duration = Duration::from_secs(30);
/// A session that streamed this long before failing starts the backoff afresh.
const HEALTHY_SESSION: Duration = Duration::from_secs(60);

impl CdcError {
    /// Whether a new session cannot fix it (a server without logical decoding, a
    /// wrong setting): the process exits and says why.
    fn is_permanent(&self) -> bool {
        matches!(self, CdcError::NotLogical(_) | CdcError::Setup(_))
    }
}

/// Runs sessions of [`run`] until `stop`: when the database restarts or fails over, or
/// Kinesis stops the writer, the session ends (what it held is drained, the slot keeps
/// what was confirmed) and a new one resumes from the slot after a backoff, so that
/// nothing is skipped and the process does not crash-loop. A permanent error ends it,
/// and so does any error before the first session streamed.
pub async fn run_until_stopped(
    config: &Config,
    kinesis: aws_sdk_kinesis::Client,
    metrics: Metrics,
    stop: CancellationToken,
) -> Result<(), CdcError> {
    let mut backoff = RESTART_BACKOFF;
    // Until a first session streams, an error ends the process: at start-up it is how a
    // wrong setting shows (a certificate, a password, a host), and the operator should
    // see it at once rather than a process that retries quietly.
    let streamed = std::sync::atomic::AtomicBool::new(false);
    loop {
        let started = tokio::time::Instant::now();
        let session = stop.child_token();
        let ended = run(config, kinesis.clone(), metrics.clone(), session, &streamed).await;
        if stop.is_cancelled() {
            return ended;
        }
        let error = match ended {
            Ok(()) => CdcError::Replication("the stream ended".into()),
            Err(error) if error.is_permanent() => return Err(error),
            Err(error) if !streamed.load(std::sync::atomic::Ordering::Relaxed) => {
                return Err(error)
            }
            Err(error) => error,
        };
        if started.elapsed() >= HEALTHY_SESSION {
            backoff = RESTART_BACKOFF;
        }
        metrics.set_healthy(false);
        tracing::warn!(%error, retry_in = ?backoff, "the session ended; resuming from the slot");
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(RESTART_BACKOFF_CAP);
    }
}

/// Runs the streamer until `stop` is cancelled: checks the server, sets up the
/// publication, copies the snapshot when one is due, then streams.
pub async fn run(
    config: &Config,
    kinesis: aws_sdk_kinesis::Client,
    metrics: Metrics,
    stop: CancellationToken,
    streamed: &std::sync::atomic::AtomicBool,
) -> Result<(), CdcError> {
    let database_url = config.database_url.expose_secret();
    let catalog = Catalog::connect(database_url).await?;
    catalog.check_server().await?;
    let tables = catalog
        .ensure_publication(
            &config.cdc_publication,
            config.included_tables().as_deref(),
            &config.excluded_tables(),
        )
        .await?;
    tracing::info!(publication = %config.cdc_publication, tables = ?tables, "publishing");

    let slot = &config.cdc_slot;
    let mode = config
        .snapshot_mode()
        .map_err(|e| CdcError::Setup(e.to_string()))?;
    catalog.ensure_snapshot_table().await?;
    let slot_exists = catalog.slot_exists(slot).await?;
    let copy = match (mode, slot_exists, catalog.snapshot_state(slot).await?) {
        (SnapshotMode::Never, _, _) => false,
        (SnapshotMode::Initial, false, _) => true,
        (SnapshotMode::Initial, true, Some(false)) => {
            tracing::warn!(
                slot,
                "the last snapshot did not finish: dropping the slot and copying again"
            );
            catalog.drop_slot(slot).await?;
            true
        }
        (SnapshotMode::Initial, true, _) => false,
    };

    let stream_config =
        ReplicationStreamConfig::builder(slot.as_str(), config.cdc_publication.as_str())
            .with_protocol_version(1)
            .with_messages(true)
            .with_streaming_mode(StreamingMode::Off)
            .with_feedback_interval(Duration::from_secs(1));
    let stream = LogicalReplicationStream::new(&config.replication_url(), stream_config)
        .await
        .map_err(|e| CdcError::Replication(redact(&e.to_string())))?;

    let (items, received) = mpsc::channel(HANDOVER_CAPACITY);
    let writer = Writer::new(
        Kinesis {
            client: kinesis,
            stream: config.cdc_stream.clone(),
        },
        stream.shared_lsn_feedback.clone(),
        metrics.clone(),
        Duration::from_millis(config.cdc_batch_linger_ms),
        Duration::from_millis(config.cdc_max_backoff_ms),
    );
    let writer = tokio::spawn(writer.run(received));
    let heartbeat = tokio::spawn(heartbeat(
        Catalog::connect(database_url).await?,
        slot.clone(),
        config.heartbeat_interval(),
        metrics.clone(),
        stop.clone(),
    ));

    let mut replicator = Replicator {
        stop: stop.clone(),
        builder: RecordBuilder {
            database: catalog.database().to_owned(),
            masks: config.masks().map_err(|e| CdcError::Setup(e.to_string()))?,
        },
        catalog,
        items,
        metrics: metrics.clone(),
    };
    let mut stream = if copy {
        metrics.set_healthy(true);
        // Recorded before the slot exists: a crash from here on copies again.
        replicator.catalog.snapshot_started(slot).await?;
        let (stream, rows) = match replicator.copy_snapshot(stream).await {
            Err(CdcError::Stopped) => {
                // Recorded as unfinished: the next start copies again.
                tracing::info!("stopped during the snapshot; the next start copies again");
                return Ok(());
            }
            copied => copied?,
        };
        replicator.catalog.snapshot_completed(slot, rows).await?;
        stream
    } else {
        stream
    };
    stream
        .start(None)
        .await
        .map_err(|e| CdcError::Replication(redact(&e.to_string())))?;
    metrics.set_healthy(true);
    streamed.store(true, std::sync::atomic::Ordering::Relaxed);
    tracing::info!(slot, stream = %config.cdc_stream, "streaming");
    let outcome = match replicator.stream_changes(&mut stream, &stop).await {
        Err(CdcError::Stopped) => Ok(()),
        other => other,
    };
    metrics.set_healthy(false);

    // Hand back cleanly: what the writer holds goes to Kinesis, and the position it
    // reaches is confirmed before the connection closes.
    drop(replicator);
    stop.cancel();
    match tokio::time::timeout(DRAIN_TIMEOUT, writer).await {
        Ok(_) => tracing::info!("everything received is in Kinesis"),
        Err(_) => tracing::warn!(
            "Kinesis did not take everything in time: the rest is sent again after a restart"
        ),
    }
    if let Err(error) = stream.send_feedback().await {
        tracing::warn!(error = %redact(&error.to_string()), "could not confirm the last position");
    }
    let _ = stream.stop().await;
    let _ = heartbeat.await;
    outcome
}

/// Writes a heartbeat to the WAL every `interval` and samples the slot's lag.
async fn heartbeat(
    catalog: Catalog,
    slot: String,
    interval: Duration,
    metrics: Metrics,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        if let Err(error) = catalog.heartbeat().await {
            tracing::warn!(%error, "heartbeat failed");
        }
        match catalog.lag_bytes(&slot).await {
            Ok(Some(bytes)) => {
                metrics.lag_bytes.set(bytes);
            }
            Ok(None) => {}
            Err(error) => tracing::debug!(%error, "could not read the slot's lag"),
        }
    }
}

/// `cdc-streamer resnapshot`: forgets the slot, so that the next start copies every
/// table again before streaming.
pub async fn resnapshot(config: &Config) -> Result<(), CdcError> {
    let catalog = Catalog::connect(config.database_url.expose_secret()).await?;
    catalog.drop_slot(&config.cdc_slot).await
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_taken_out_of_messages() {
        assert_eq!(
            redact("cannot connect to postgres://cdc:hunter2@db:5432/nudge?replication=database: refused"),
            "cannot connect to postgres://cdc:***@db:5432/nudge?replication=database: refused"
        );
        assert_eq!(
            redact("host=db password=hunter2 user=cdc"),
            "host=db password=*** user=cdc"
        );
        assert_eq!(redact("no secrets here"), "no secrets here");
    }
}
