//! The streamer's plain SQL connection: it checks the server is set up for logical
//! decoding, keeps the publication in line with the configuration, reads each table's
//! column types and primary key (pgoutput sends values as text; the catalog says what
//! they are), keeps the snapshot bookkeeping, writes heartbeats and reads the lag.

use std::collections::HashMap;
use std::sync::Arc;

use tokio_postgres::Client;

use crate::CdcError;

/// A table as the records need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub schema: String,
    pub table: String,
    /// Column name -> type OID.
    pub columns: HashMap<String, u32>,
    /// The primary key's columns, in the key's order; empty without one.
    pub primary_key: Vec<String>,
}

/// The prefix of the heartbeat messages in the WAL.
pub const HEARTBEAT_PREFIX: &str = "nudge-cdc-heartbeat";

pub struct Catalog {
    client: Client,
    database: String,
    relations: HashMap<u32, Arc<Relation>>,
}

impl Catalog {
    /// Connects with `DATABASE_URL`'s TLS settings (see [`crate::sql`]).
    pub async fn connect(url: &str) -> Result<Self, CdcError> {
        let client = crate::sql::connect(url).await?;
        let database: String = client
            .query_one("SELECT current_database()", &[])
            .await
            .map_err(db)?
            .get(0);
        Ok(Self {
            client,
            database,
            relations: HashMap::new(),
        })
    }

    pub fn database(&self) -> &str {
        &self.database
    }

    /// Fails with what to change when the server cannot serve a logical slot.
    pub async fn check_server(&self) -> Result<(), CdcError> {
        let wal_level: String = self
            .client
            .query_one("SHOW wal_level", &[])
            .await
            .map_err(db)?
            .get(0);
        if wal_level != "logical" {
            return Err(CdcError::NotLogical(wal_level));
        }
        let slots: String = self
            .client
            .query_one("SHOW max_replication_slots", &[])
            .await
            .map_err(db)?
            .get(0);
        if slots.trim() == "0" {
            return Err(CdcError::Setup(
                "max_replication_slots is 0: set it to at least 1 and restart Postgres".into(),
            ));
        }
        Ok(())
    }

    /// Creates the publication, or sets its tables, so that it publishes exactly the
    /// configured tables of schema `public`. Returns them.
    pub async fn ensure_publication(
        &self,
        publication: &str,
        include: Option<&[String]>,
        exclude: &[String],
    ) -> Result<Vec<String>, CdcError> {
        // Unlogged tables (the send-rate buckets) write no WAL, so logical decoding
        // has nothing to stream from them, and a publication refuses them.
        let tables: Vec<(String, bool)> = self
            .client
            .query(
                "SELECT c.relname, c.relpersistence = 'u' FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1",
                &[],
            )
            .await
            .map_err(db)?
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        let wanted: Vec<String> = match include {
            Some(include) => {
                for name in include {
                    match tables.iter().find(|(table, _)| table == name) {
                        None => {
                            return Err(CdcError::Setup(format!(
                                "CDC_TABLES names '{name}', which is not a table"
                            )))
                        }
                        Some((_, true)) => {
                            return Err(CdcError::Setup(format!(
                                "CDC_TABLES names '{name}', an unlogged table: its changes never reach the WAL"
                            )))
                        }
                        Some((_, false)) => {}
                    }
                }
                include.to_vec()
            }
            None => tables
                .into_iter()
                .filter(|(_, unlogged)| !unlogged)
                .map(|(table, _)| table)
                .collect(),
        }
        .into_iter()
        .filter(|t| !exclude.contains(t))
        .collect();
        if wanted.is_empty() {
            return Err(CdcError::Setup(
                "no table to stream: run the migrations first, or check CDC_TABLES and CDC_EXCLUDE_TABLES".into(),
            ));
        }
        let list = wanted
            .iter()
            .map(|t| format!("public.\"{t}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let exists = !self
            .client
            .query(
                "SELECT 1 FROM pg_publication WHERE pubname = $1",
                &[&publication],
            )
            .await
            .map_err(db)?
            .is_empty();
        if !exists {
            // Names are checked by the configuration (lower-case identifiers).
            self.client
                .batch_execute(&format!(
                    "CREATE PUBLICATION \"{publication}\" FOR TABLE {list}"
                ))
                .await
                .map_err(db)?;
            tracing::info!(publication, tables = wanted.len(), "publication created");
            return Ok(wanted);
        }
        let mut published: Vec<String> = self
            .client
            .query(
                "SELECT tablename::text FROM pg_publication_tables \
                 WHERE pubname = $1 AND schemaname = 'public' ORDER BY 1",
                &[&publication],
            )
            .await
            .map_err(db)?
            .iter()
            .map(|row| row.get(0))
            .collect();
        published.sort();
        let mut sorted = wanted.clone();
        sorted.sort();
        if published != sorted {
            self.client
                .batch_execute(&format!(
                    "ALTER PUBLICATION \"{publication}\" SET TABLE {list}"
                ))
                .await
                .map_err(db)?;
            tracing::info!(
                publication,
                tables = wanted.len(),
                "publication's tables updated"
            );
        }
        Ok(wanted)
    }

    /// The table with this OID, from the cache or the catalog.
    pub async fn relation(&mut self, oid: u32) -> Result<Arc<Relation>, CdcError> {
        if let Some(relation) = self.relations.get(&oid) {
            return Ok(relation.clone());
        }
        let rows = self
            .client
            .query(
                "SELECT n.nspname::text, c.relname::text, a.attname::text, a.atttypid, \
                        array_position(i.indkey::int2[], a.attnum) AS key_position \
                 FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
                 LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary \
                 WHERE c.oid = $1 ORDER BY a.attnum",
                &[&oid],
            )
            .await
            .map_err(db)?;
        let Some(first) = rows.first() else {
            return Err(CdcError::Database(format!(
                "no table has OID {oid} any more"
            )));
        };
        let mut keyed: Vec<(i32, String)> = Vec::new();
        let mut columns = HashMap::new();
        for row in &rows {
            let name: String = row.get(2);
            columns.insert(name.clone(), row.get::<_, u32>(3));
            if let Some(position) = row.get::<_, Option<i32>>(4) {
                keyed.push((position, name));
            }
        }
        keyed.sort();
        let relation = Arc::new(Relation {
            schema: first.get(0),
            table: first.get(1),
            columns,
            primary_key: keyed.into_iter().map(|(_, name)| name).collect(),
        });
        self.relations.insert(oid, relation.clone());
        Ok(relation)
    }

    /// Forgets a cached table (its columns changed).
    pub fn forget(&mut self, oid: u32) {
        self.relations.remove(&oid);
    }

    pub async fn slot_exists(&self, slot: &str) -> Result<bool, CdcError> {
        Ok(!self
            .client
            .query(
                "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1",
                &[&slot],
            )
            .await
            .map_err(db)?
            .is_empty())
    }

    pub async fn drop_slot(&self, slot: &str) -> Result<(), CdcError> {
        self.client
            .execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1",
                &[&slot],
            )
            .await
            .map_err(db)?;
        Ok(())
    }

    /// The streamer's own bookkeeping table (never published); made once at start,
    /// before [`snapshot_state`](Self::snapshot_state).
    pub async fn ensure_snapshot_table(&self) -> Result<(), CdcError> {
        self.client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS cdc_snapshots (\
                   slot_name text PRIMARY KEY, \
                   started_at timestamptz NOT NULL DEFAULT now(), \
                   completed_at timestamptz, \
                   rows bigint NOT NULL DEFAULT 0)",
            )
            .await
            .map_err(db)
    }

    /// `None`: no snapshot was ever started for this slot; `Some(done)` otherwise.
    pub async fn snapshot_state(&self, slot: &str) -> Result<Option<bool>, CdcError> {
        let rows = self
            .client
            .query(
                "SELECT completed_at IS NOT NULL FROM cdc_snapshots WHERE slot_name = $1",
                &[&slot],
            )
            .await
            .map_err(db)?;
        Ok(rows.first().map(|row| row.get(0)))
    }

    /// Recorded before the slot is created: a crash anywhere before
    /// [`snapshot_completed`](Self::snapshot_completed) makes the next start copy again.
    pub async fn snapshot_started(&self, slot: &str) -> Result<(), CdcError> {
        self.client
            .execute(
                "INSERT INTO cdc_snapshots (slot_name) VALUES ($1) \
                 ON CONFLICT (slot_name) DO UPDATE SET started_at = now(), completed_at = NULL, rows = 0",
                &[&slot],
            )
            .await
            .map_err(db)?;
        Ok(())
    }

    pub async fn snapshot_completed(&self, slot: &str, rows: u64) -> Result<(), CdcError> {
        self.client
            .execute(
                "UPDATE cdc_snapshots SET completed_at = now(), rows = $2 WHERE slot_name = $1",
                &[&slot, &i64::try_from(rows).unwrap_or(i64::MAX)],
            )
            .await
            .map_err(db)?;
        Ok(())
    }

    /// Writes a transactional message to the WAL: it reaches the slot like a
    /// change, so the slot can move forward even when no published table changes.
    pub async fn heartbeat(&self) -> Result<(), CdcError> {
        self.client
            .execute(
                "SELECT pg_logical_emit_message(true, $1, now()::text)",
                &[&HEARTBEAT_PREFIX],
            )
            .await
            .map_err(db)?;
        Ok(())
    }

    /// Bytes of WAL the slot still holds back: what the server keeps for us.
    pub async fn lag_bytes(&self, slot: &str) -> Result<Option<i64>, CdcError> {
        let rows = self
            .client
            .query(
                "SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::int8 FROM pg_replication_slots \
                 WHERE slot_name = $1",
                &[&slot],
            )
            .await
            .map_err(db)?;
        Ok(rows.first().and_then(|row| row.get::<_, Option<i64>>(0)))
    }
}

fn db(error: tokio_postgres::Error) -> CdcError {
    CdcError::Database(nudge_pg_tls::describe(&error))
}
