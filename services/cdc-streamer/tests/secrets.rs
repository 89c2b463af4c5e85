//! The schema scan: every column whose name says it may hold a secret (a token, a
//! secret, a hash, a nonce, a verifier, a password, a code, a stored body) is either in
//! a table that is never streamed, dropped by a default mask, or listed below with the
//! reason it is not a secret. A migration that adds `api_tokens.token` fails here until
//! someone decides.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

use cdc_streamer::config::ALWAYS_EXCLUDED;
use cdc_streamer::masking::{Mask, DEFAULT_MASKS, SECRET_TABLES};
use nudge_testkit::TestDb;

/// Names that may hold a secret.
const SUSPICIOUS: &[&str] = &[
    "token", "secret", "hash", "nonce", "verifier", "password", "code", "body", "key", "sealed",
    "csrf", "state",
];

/// Columns whose names match but that hold no secret, and why.
const NOT_SECRETS: &[(&str, &str, &str)] = &[
    (
        "accepted_requests",
        "idempotency_key",
        "chosen by the caller to name a request; grants nothing",
    ),
    (
        "accepted_requests",
        "request_hash",
        "a digest of a send request's body, for conflict checks",
    ),
    ("bot_rules", "keywords", "the words the bot answers to"),
    ("consent_events", "state", "opted in or out"),
    (
        "inbound_messages",
        "body",
        "a customer's text: merchant data, streamed (CDC_MASK can hide it)",
    ),
    (
        "messages",
        "body",
        "a text the merchant sent: merchant data, streamed",
    ),
    ("messages", "error_code", "the carrier's error code"),
    (
        "media",
        "s3_key",
        "where an image is stored; reading it needs AWS credentials",
    ),
    ("media", "thumbnail_s3_key", "as s3_key"),
    (
        "outbox",
        "body",
        "a queue message (excluded by default as bookkeeping); carries ids, never a secret",
    ),
    (
        "provider_callbacks",
        "idempotency_token",
        "Twilio's own deduplication token, not a credential",
    ),
    (
        "provider_callbacks",
        "error_code",
        "the carrier's error code",
    ),
    (
        "queue_rejections",
        "body_excerpt",
        "the start of a refused queue message; queue messages carry no secret",
    ),
    (
        "send_rate_buckets",
        "key",
        "a rate limiter's bucket name (unlogged: never in the WAL)",
    ),
    ("send_rate_buckets", "tokens", "a rate limiter's level"),
    ("shops", "opt_out_keywords", "words"),
    ("shops", "opt_in_keywords", "words"),
    ("shops", "help_keywords", "words"),
    ("templates", "body", "a message template: merchant data"),
    (
        "tenants",
        "destination_calling_codes",
        "country calling codes",
    ),
    ("verified_numbers", "code_expires_at", "a time"),
    ("verified_numbers", "code_issued_at", "a time"),
    ("webhook_attempts", "response_status", "an HTTP status"),
];

struct Column {
    table_name: String,
    column_name: String,
}

#[tokio::test]
async fn every_column_that_may_hold_a_secret_is_never_streamed_or_masked_or_explained() {
    let db = TestDb::new().await;
    let (sql, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let columns: Vec<Column> = sql
        .query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = 'public' ORDER BY 1, 2",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| Column {
            table_name: row.get(0),
            column_name: row.get(1),
        })
        .collect();
    assert!(
        columns.len() > 100,
        "the migrated schema: {}",
        columns.len()
    );

    let mut undecided = Vec::new();
    for Column {
        table_name: table,
        column_name: column,
    } in &columns
    {
        if !SUSPICIOUS.iter().any(|word| column.contains(word)) {
            continue;
        }
        let never_streamed =
            SECRET_TABLES.contains(&table.as_str()) || ALWAYS_EXCLUDED.contains(&table.as_str());
        let masked = DEFAULT_MASKS
            .iter()
            .any(|(t, c, mask)| t == table && c == column && *mask == Mask::Drop);
        let explained = NOT_SECRETS
            .iter()
            .any(|(t, c, _)| t == table && c == column);
        if !(never_streamed || masked || explained) {
            undecided.push(format!("{table}.{column}"));
        }
    }
    assert!(
        undecided.is_empty(),
        "columns that may hold a secret and would be streamed: {undecided:?}; add the table \
         to SECRET_TABLES, the column to DEFAULT_MASKS, or explain it in NOT_SECRETS"
    );

    // The lists name real things: a renamed column must not leave a stale exemption.
    let exists = |table: &str, column: &str| {
        columns
            .iter()
            .any(|c| c.table_name == table && c.column_name == column)
    };
    for (table, column, _) in DEFAULT_MASKS {
        assert!(
            exists(table, column),
            "DEFAULT_MASKS names {table}.{column}"
        );
    }
    for (table, column, _) in NOT_SECRETS {
        assert!(exists(table, column), "NOT_SECRETS names {table}.{column}");
    }
    for table in SECRET_TABLES {
        assert!(
            columns.iter().any(|c| c.table_name == *table),
            "SECRET_TABLES names {table}"
        );
    }
}
