//! `db_change.v1`: one committed row change of the Nudge database, as `cdc-streamer`
//! puts it on the Kinesis stream `db-changes` (schema: `proto-schemas/db_change.v1.json`).
//!
//! The shape follows Debezium's change events, which analytics tools already read:
//! `op`, `before`, `after`, `source`. Values are JSON renderings of the Postgres
//! values chosen so that nothing is lost: integers and floats as numbers, `numeric` as
//! a string (a JSON number would round it), timestamps as RFC 3339, `jsonb` as JSON,
//! `bytea` as base64.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// What happened to the row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Inserted.
    #[serde(rename = "c")]
    Create,
    /// Updated.
    #[serde(rename = "u")]
    Update,
    /// Deleted.
    #[serde(rename = "d")]
    Delete,
    /// Read by the initial snapshot: the row as it was when streaming began.
    #[serde(rename = "r")]
    Read,
    /// The whole table was truncated (no row, no key).
    #[serde(rename = "t")]
    Truncate,
}

/// Where and when the change happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub database: String,
    pub schema: String,
    pub table: String,
    /// The change's own WAL position (`X/Y`, as Postgres prints it). For snapshot
    /// records, the slot's consistent point.
    pub lsn: String,
    /// The end of the commit record of the change's transaction: the slot position
    /// that covers it. Snapshot records carry the consistent point.
    pub commit_lsn: String,
    /// The change's position within its transaction (from 0). `(commit_lsn, seq)` is
    /// unique per change, so a consumer recognises a redelivered record by it.
    pub seq: u32,
    /// The transaction id; absent for snapshot records.
    pub txid: Option<u32>,
    /// When the transaction committed; for snapshot records, when the snapshot began.
    pub commit_time: DateTime<Utc>,
    /// True for `r` records.
    pub snapshot: bool,
}

/// One change record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbChangeV1 {
    /// Always `db_change.v1`: the record's own format and version.
    #[serde(rename = "type")]
    pub kind: String,
    pub op: Op,
    /// The row's primary key (column -> value); absent for truncates and for tables
    /// without a primary key.
    pub key: Option<Map<String, Value>>,
    /// The row before the change: the whole row for tables with `REPLICA IDENTITY
    /// FULL`, otherwise only its key columns (deletes) or nothing (updates), which is
    /// what Postgres writes to the WAL.
    pub before: Option<Map<String, Value>>,
    /// The row after the change (`c`, `u`, `r`). A column whose large (TOASTed) value
    /// did not change in an update is absent: the WAL does not carry it.
    pub after: Option<Map<String, Value>>,
    pub source: Source,
}

impl DbChangeV1 {
    pub const TYPE: &'static str = "db_change.v1";

    /// Kinesis's limit on a partition key, in Unicode characters.
    pub const MAX_PARTITION_KEY: usize = 256;

    /// `schema.table` plus the primary key's values (by column name): every change of one row gets the
    /// same key, so Kinesis keeps them in one shard, in order. Keys longer than Kinesis
    /// allows are replaced by `schema.table#` and the SHA-256 of the full key (or by
    /// the hash alone when even that is too long).
    pub fn partition_key(&self) -> String {
        let table = format!("{}.{}", self.source.schema, self.source.table);
        let full = match &self.key {
            Some(key) => {
                // By column name, whatever order the map keeps: stable across builds.
                let mut columns: Vec<(&String, &Value)> = key.iter().collect();
                columns.sort_by(|a, b| a.0.cmp(b.0));
                let values: Vec<Value> = columns.into_iter().map(|(_, v)| v.clone()).collect();
                format!("{table}:{}", Value::from(values))
            }
            None => table.clone(),
        };
        if full.chars().count() <= Self::MAX_PARTITION_KEY {
            return full;
        }
        let digest = hex::encode(Sha256::digest(full.as_bytes()));
        let hashed = format!("{table}#{digest}");
        if hashed.chars().count() <= Self::MAX_PARTITION_KEY {
            hashed
        } else {
            digest
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(table: &str, key: Option<Value>) -> DbChangeV1 {
        DbChangeV1 {
            kind: DbChangeV1::TYPE.into(),
            op: Op::Create,
            key: key.map(|k| k.as_object().cloned().unwrap_or_default()),
            before: None,
            after: Some(Map::new()),
            source: Source {
                database: "nudge".into(),
                schema: "public".into(),
                table: table.into(),
                lsn: "0/16B3748".into(),
                commit_lsn: "0/16B3800".into(),
                seq: 0,
                txid: Some(750),
                commit_time: DateTime::<Utc>::UNIX_EPOCH,
                snapshot: false,
            },
        }
    }

    #[test]
    fn a_rows_changes_share_a_partition_key_and_other_rows_do_not() {
        let a = record("messages", Some(json!({"id": "0192-a"})));
        let b = record("messages", Some(json!({"id": "0192-b"})));
        assert_eq!(a.partition_key(), "public.messages:[\"0192-a\"]");
        assert_ne!(a.partition_key(), b.partition_key());
        let composite = record(
            "idempotency_keys",
            Some(json!({"tenant_id": "t", "key": "k"})),
        );
        assert_eq!(
            composite.partition_key(),
            "public.idempotency_keys:[\"k\",\"t\"]"
        );
        assert_eq!(record("outbox", None).partition_key(), "public.outbox");
    }

    #[test]
    fn long_keys_are_hashed_within_kinesis_limit_and_stay_stable() {
        let long = record("tags", Some(json!({"name": "x".repeat(300)})));
        let key = long.partition_key();
        assert!(key.starts_with("public.tags#"), "{key}");
        assert!(key.chars().count() <= DbChangeV1::MAX_PARTITION_KEY);
        assert_eq!(key, long.partition_key());
        let other = record("tags", Some(json!({"name": "y".repeat(300)})));
        assert_ne!(key, other.partition_key());
        let long_table = record(&"t".repeat(250), Some(json!({"id": 1})));
        assert_eq!(long_table.partition_key().len(), 64);
    }

    #[test]
    fn serialises_with_the_short_op_codes() {
        let value = serde_json::to_value(record("messages", Some(json!({"id": 1})))).unwrap();
        assert_eq!(value["op"], "c");
        assert_eq!(value["type"], "db_change.v1");
        assert_eq!(value["source"]["commit_time"], "1970-01-01T00:00:00Z");
    }
}
