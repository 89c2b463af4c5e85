//! Postgres values, as pgoutput and `COPY` send them (text format), into the JSON of a
//! `db_change.v1` record. The rule: never lose information. A JSON number would round
//! a `numeric`, so it stays a string; a float's `NaN` has no JSON number, so it is a
//! string too; `bytea` becomes base64, `timestamptz` RFC 3339 in UTC.

use base64::Engine;
use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde_json::Value;

/// Type OIDs from `pg_type.dat`; stable across Postgres versions.
pub mod oid {
    pub const BOOL: u32 = 16;
    pub const BYTEA: u32 = 17;
    pub const INT8: u32 = 20;
    pub const INT2: u32 = 21;
    pub const INT4: u32 = 23;
    pub const OID: u32 = 26;
    pub const JSON: u32 = 114;
    pub const FLOAT4: u32 = 700;
    pub const FLOAT8: u32 = 701;
    pub const TIMESTAMP: u32 = 1114;
    pub const TIMESTAMPTZ: u32 = 1184;
    pub const NUMERIC: u32 = 1700;
    pub const JSONB: u32 = 3802;
}

/// The JSON form of one column value: `text` as Postgres prints it (`None` is SQL
/// NULL), `type_oid` the column's type.
pub fn to_json(type_oid: u32, text: Option<&str>) -> Value {
    let Some(text) = text else {
        return Value::Null;
    };
    match type_oid {
        oid::BOOL => match text {
            "t" => Value::Bool(true),
            "f" => Value::Bool(false),
            other => Value::String(other.to_owned()),
        },
        oid::INT2 | oid::INT4 | oid::INT8 | oid::OID => text
            .parse::<i64>()
            .map_or_else(|_| Value::String(text.to_owned()), Value::from),
        oid::FLOAT4 | oid::FLOAT8 => match text.parse::<f64>() {
            Ok(number) if number.is_finite() => serde_json::Number::from_f64(number)
                .map_or_else(|| Value::String(text.to_owned()), Value::Number),
            _ => Value::String(text.to_owned()),
        },
        oid::JSON | oid::JSONB => {
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
        }
        oid::BYTEA => bytea(text).map_or_else(
            || Value::String(text.to_owned()),
            |bytes| Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
        ),
        oid::TIMESTAMPTZ => Value::String(timestamptz(text).unwrap_or_else(|| text.to_owned())),
        oid::TIMESTAMP => Value::String(timestamp(text).unwrap_or_else(|| text.to_owned())),
        // numeric, text, uuid, date, time and anything else: as Postgres prints it.
        _ => Value::String(text.to_owned()),
    }
}

/// `bytea` in Postgres's hex output format (`\x0a0b`, the default since 9.0).
fn bytea(text: &str) -> Option<Vec<u8>> {
    hex::decode(text.strip_prefix("\\x")?).ok()
}

/// `2026-11-30 22:27:02.123456+00` (or `+05:30`) -> `2026-11-30T22:27:02.123456Z`.
/// `infinity` and anything unexpected stay as printed.
fn timestamptz(text: &str) -> Option<String> {
    // Postgres prints the offset as +HH, +HH:MM or +HH:MM:SS; chrono's %#z takes the
    // first two.
    let parsed = DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%#z").ok()?;
    Some(
        parsed
            .with_timezone(&Utc)
            .to_rfc3339_opts(SecondsFormat::AutoSi, true),
    )
}

/// `2026-11-30 22:27:02.5` -> `2026-11-30T22:27:02.5` (no zone: it has none).
fn timestamp(text: &str) -> Option<String> {
    let parsed = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").ok()?;
    Some(parsed.format("%Y-%m-%dT%H:%M:%S%.f").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_type_keeps_its_information() {
        let cases = [
            (oid::BOOL, "t", json!(true)),
            (oid::BOOL, "f", json!(false)),
            (oid::INT4, "-42", json!(-42)),
            (
                oid::INT8,
                "9007199254740993",
                json!(9_007_199_254_740_993_i64),
            ),
            (oid::FLOAT8, "0.1", json!(0.1)),
            (oid::FLOAT8, "NaN", json!("NaN")),
            (oid::FLOAT4, "-Infinity", json!("-Infinity")),
            (
                oid::NUMERIC,
                "12345678901234567890.000000001",
                json!("12345678901234567890.000000001"),
            ),
            (oid::JSONB, r#"{"a": [1, "x"]}"#, json!({"a": [1, "x"]})),
            (oid::BYTEA, "\\x00ff10", json!("AP8Q")),
            (
                oid::TIMESTAMPTZ,
                "2026-11-30 22:27:02.123456+00",
                json!("2026-11-30T22:27:02.123456Z"),
            ),
            (
                oid::TIMESTAMPTZ,
                "2026-11-30 22:27:02+05:30",
                json!("2026-11-30T16:57:02Z"),
            ),
            (oid::TIMESTAMPTZ, "infinity", json!("infinity")),
            (
                oid::TIMESTAMP,
                "2026-11-30 22:27:02.5",
                json!("2026-11-30T22:27:02.500"),
            ),
            (
                2950,
                "0192f0c4-7b1e-7cc2-9a51-3f0d3c2b1a00",
                json!("0192f0c4-7b1e-7cc2-9a51-3f0d3c2b1a00"),
            ),
            (25, "héllo, \"world\"", json!("héllo, \"world\"")),
            (1083, "08:00:00", json!("08:00:00")),
        ];
        for (type_oid, text, expected) in cases {
            assert_eq!(to_json(type_oid, Some(text)), expected, "{type_oid} {text}");
        }
        assert_eq!(to_json(oid::INT4, None), Value::Null);
        assert_eq!(to_json(25, None), Value::Null);
    }
}

/// What the replication connection brings is outside input to this process (a server
/// of another version, a proxy, a bug): any pgoutput message is decoded or refused,
/// any column text becomes JSON, never a panic; and a value whose JSON form is a
/// number or a boolean is exactly what Postgres printed.
#[cfg(test)]
mod arbitrary_input {
    use proptest::prelude::*;

    use super::{oid, to_json};

    fn type_oids() -> impl Strategy<Value = u32> {
        prop_oneof![
            prop::sample::select(vec![
                oid::BOOL,
                oid::BYTEA,
                oid::INT8,
                oid::INT2,
                oid::INT4,
                oid::OID,
                oid::JSON,
                oid::FLOAT4,
                oid::FLOAT8,
                oid::TIMESTAMP,
                oid::TIMESTAMPTZ,
                oid::NUMERIC,
                oid::JSONB,
            ]),
            any::<u32>(),
        ]
    }

    proptest! {
        #[test]
        fn any_column_text_becomes_json_without_losing_it(type_oid in type_oids(), text in any::<String>()) {
            match to_json(type_oid, Some(&text)) {
                serde_json::Value::Number(number) if matches!(type_oid, oid::INT2 | oid::INT4 | oid::INT8 | oid::OID) => {
                    prop_assert_eq!(number.as_i64(), text.parse::<i64>().ok());
                }
                serde_json::Value::Bool(flag) => prop_assert_eq!(text, if flag { "t" } else { "f" }),
                _ => {}
            }
        }

        #[test]
        fn any_pgoutput_message_is_decoded_or_refused(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            for version in [1, 2, 3, 4] {
                let mut parser = pg_walstream::LogicalReplicationParser::with_protocol_version(version);
                let _ = parser.parse_wal_message(&bytes);
            }
        }

        #[test]
        fn pgoutput_messages_with_a_real_tag_are_decoded_or_refused(
            tag in prop::sample::select(b"BCIUDTRYOMKA".to_vec()),
            rest in prop::collection::vec(any::<u8>(), 0..256),
        ) {
            let mut bytes = vec![tag];
            bytes.extend(rest);
            let mut parser = pg_walstream::LogicalReplicationParser::with_protocol_version(1);
            let _ = parser.parse_wal_message(&bytes);
        }
    }
}
