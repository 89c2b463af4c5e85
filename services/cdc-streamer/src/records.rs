//! Row changes into `db_change.v1` records, masked, serialised and keyed for Kinesis.

use chrono::{DateTime, Utc};
use nudge_domain::db_change::{DbChangeV1, Op, Source};
use pg_walstream::{format_lsn, ColumnValue, RowData};
use serde_json::{Map, Value};

use crate::catalog::Relation;
use crate::masking::Masks;
use crate::values;

/// Kinesis's limit on one record: data plus partition key.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// A record ready for `PutRecords`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutRecord {
    pub partition_key: String,
    pub data: Vec<u8>,
}

impl OutRecord {
    /// What the record counts against Kinesis's per-record and per-request limits.
    pub fn size(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }
}

/// Where a change sits: its transaction (or the snapshot) and its place in it.
#[derive(Clone, Copy, Debug)]
pub struct Position {
    pub lsn: u64,
    pub commit_lsn: u64,
    pub seq: u32,
    pub txid: Option<u32>,
    pub commit_time: DateTime<Utc>,
}

/// Builds records for one database.
pub struct RecordBuilder {
    pub database: String,
    pub masks: Masks,
}

impl RecordBuilder {
    /// The JSON image of a row: every column the row data carries, typed by the
    /// catalog. A column the catalog does not know (added since it was read) is
    /// reported through `unknown`, so the caller can refresh the relation.
    pub fn image(relation: &Relation, data: &RowData) -> (Map<String, Value>, bool) {
        let mut image = Map::new();
        let mut unknown = false;
        for (name, value) in data.iter() {
            let type_oid = relation
                .columns
                .get(name.as_ref())
                .copied()
                .unwrap_or_else(|| {
                    unknown = true;
                    0
                });
            let text = match value {
                ColumnValue::Null => None,
                other => other.as_str(),
            };
            image.insert(name.to_string(), values::to_json(type_oid, text));
        }
        (image, unknown)
    }

    /// One record. `before`/`after` are unmasked images; the key is taken from them
    /// before masking.
    pub fn record(
        &self,
        relation: &Relation,
        op: Op,
        before: Option<Map<String, Value>>,
        after: Option<Map<String, Value>>,
        position: Position,
    ) -> OutRecord {
        let key = key_of(relation, after.as_ref().or(before.as_ref()));
        let mask = |image: Option<Map<String, Value>>| {
            image.map(|mut image| {
                self.masks.apply(&relation.table, &mut image);
                image
            })
        };
        let mut change = DbChangeV1 {
            kind: DbChangeV1::TYPE.into(),
            op,
            key: mask(key),
            before: mask(before),
            after: mask(after),
            source: self.source(&relation.schema, &relation.table, position, op == Op::Read),
        };
        encode(&mut change)
    }

    /// A truncate of `schema.table`.
    pub fn truncate(&self, qualified: &str, position: Position) -> OutRecord {
        let (schema, table) = qualified.split_once('.').unwrap_or(("public", qualified));
        let mut change = DbChangeV1 {
            kind: DbChangeV1::TYPE.into(),
            op: Op::Truncate,
            key: None,
            before: None,
            after: None,
            source: self.source(schema, table, position, false),
        };
        encode(&mut change)
    }

    fn source(&self, schema: &str, table: &str, position: Position, snapshot: bool) -> Source {
        Source {
            database: self.database.clone(),
            schema: schema.to_owned(),
            table: table.to_owned(),
            lsn: format_lsn(position.lsn),
            commit_lsn: format_lsn(position.commit_lsn),
            seq: position.seq,
            txid: position.txid,
            commit_time: position.commit_time,
            snapshot,
        }
    }
}

fn key_of(relation: &Relation, image: Option<&Map<String, Value>>) -> Option<Map<String, Value>> {
    let image = image?;
    if relation.primary_key.is_empty() {
        return None;
    }
    let key: Map<String, Value> = relation
        .primary_key
        .iter()
        .filter_map(|column| image.get(column).map(|v| (column.clone(), v.clone())))
        .collect();
    (key.len() == relation.primary_key.len()).then_some(key)
}

/// Serialises a change. A row too big for one Kinesis record (1 MiB) goes out with
/// its key and source but without its images, and a warning: the change is still
/// announced, in order, and the row can be read from the database.
fn encode(change: &mut DbChangeV1) -> OutRecord {
    let partition_key = change.partition_key();
    let data = serde_json::to_vec(&*change).unwrap_or_default();
    if data.len() + partition_key.len() <= MAX_RECORD_BYTES {
        return OutRecord {
            partition_key,
            data,
        };
    }
    tracing::warn!(
        table = %change.source.table,
        bytes = data.len(),
        "row change larger than a Kinesis record: sent without its row images"
    );
    change.before = None;
    change.after = None;
    let data = serde_json::to_vec(&*change).unwrap_or_default();
    OutRecord {
        partition_key,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Arc;

    fn relation() -> Relation {
        Relation {
            schema: "public".into(),
            table: "api_keys".into(),
            columns: HashMap::from([
                ("id".to_owned(), 2950),
                ("key_hash".to_owned(), 25),
                ("uses".to_owned(), 23),
                ("meta".to_owned(), 3802),
            ]),
            primary_key: vec!["id".into()],
        }
    }

    fn position() -> Position {
        Position {
            lsn: 0x16B_3748,
            commit_lsn: 0x16B_3800,
            seq: 2,
            txid: Some(750),
            commit_time: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    fn row(pairs: &[(&str, Option<&str>)]) -> RowData {
        let mut data = RowData::new();
        for (name, value) in pairs {
            let value = value.map_or(ColumnValue::Null, ColumnValue::text);
            data.push(Arc::from(*name), value);
        }
        data
    }

    #[test]
    fn an_update_becomes_a_typed_masked_keyed_record() {
        let builder = RecordBuilder {
            database: "nudge".into(),
            masks: Masks::parse(None, None).unwrap(),
        };
        let relation = relation();
        let (after, unknown) = RecordBuilder::image(
            &relation,
            &row(&[
                ("id", Some("k-1")),
                ("key_hash", Some("9f86")),
                ("uses", Some("3")),
                ("meta", Some("{\"a\":1}")),
            ]),
        );
        assert!(!unknown);
        let record = builder.record(&relation, Op::Update, None, Some(after), position());
        assert_eq!(record.partition_key, "public.api_keys:[\"k-1\"]");
        let change: DbChangeV1 = serde_json::from_slice(&record.data).unwrap();
        assert_eq!(change.op, Op::Update);
        let after = change.after.unwrap();
        assert_eq!(after["uses"], 3);
        assert_eq!(after["meta"]["a"], 1);
        assert!(
            !after.contains_key("key_hash"),
            "a secret left the database"
        );
        assert_eq!(change.key.unwrap()["id"], "k-1");
        assert_eq!(change.source.lsn, "0/16B3748");
        assert_eq!(change.source.commit_lsn, "0/16B3800");
        assert_eq!(change.source.seq, 2);
        assert!(!change.source.snapshot);
    }

    #[test]
    fn a_column_the_catalog_does_not_know_is_reported() {
        let (_, unknown) = RecordBuilder::image(
            &relation(),
            &row(&[("id", Some("k")), ("added_later", None)]),
        );
        assert!(unknown);
    }

    #[test]
    fn a_truncate_names_its_table_and_has_no_row() {
        let builder = RecordBuilder {
            database: "nudge".into(),
            masks: Masks::default(),
        };
        let record = builder.truncate("public.messages", position());
        assert_eq!(record.partition_key, "public.messages");
        let change: DbChangeV1 = serde_json::from_slice(&record.data).unwrap();
        assert_eq!(
            (change.op, change.source.table.as_str()),
            (Op::Truncate, "messages")
        );
        assert!(change.key.is_none() && change.after.is_none());
    }

    #[test]
    fn a_row_too_big_for_kinesis_goes_out_without_its_images() {
        let builder = RecordBuilder {
            database: "nudge".into(),
            masks: Masks::default(),
        };
        let big = "x".repeat(MAX_RECORD_BYTES);
        let mut relation = relation();
        relation.columns.insert("body".into(), 25);
        let (after, _) = RecordBuilder::image(
            &relation,
            &row(&[("id", Some("k-2")), ("body", Some(&big))]),
        );
        let record = builder.record(&relation, Op::Create, None, Some(after), position());
        assert!(record.size() <= MAX_RECORD_BYTES);
        let change: DbChangeV1 = serde_json::from_slice(&record.data).unwrap();
        assert!(change.after.is_none());
        assert_eq!(change.key.unwrap()["id"], "k-2");
    }
}
