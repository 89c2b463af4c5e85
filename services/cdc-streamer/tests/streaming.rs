//! A scripted workload read back from Kinesis: every committed change present, in order
//! per row, none from a rolled-back transaction, typed faithfully, secrets absent; the
//! rows that existed before the first start come as a snapshot.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

mod support;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use nudge_domain::db_change::Op;
use serde_json::{json, Value};
use support::{lsn_value, Change, Setup, Streamer};

fn schema() -> jsonschema::Validator {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../proto-schemas/db_change.v1.json"
    );
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

const TABLES: &str = "
    CREATE TABLE workload (
        id integer PRIMARY KEY, n integer NOT NULL, note text, amount numeric(20, 6),
        at timestamptz, doc jsonb, blob bytea, ratio double precision, ok boolean
    );
    CREATE TABLE workload_log (id bigserial PRIMARY KEY, line text NOT NULL);
";

/// The workload's rows: id -> the history of `n` each committed change left (None for
/// a delete).
type Histories = BTreeMap<i64, Vec<Option<i64>>>;

fn histories(changes: &[Change], table: &str) -> Histories {
    let mut seen = HashSet::new();
    let mut rows = Histories::new();
    for change in changes.iter().filter(|c| c.record.source.table == table) {
        // A redelivered change (same identity) is not a new version.
        if !seen.insert(change.identity()) || change.record.op == Op::Truncate {
            continue;
        }
        let key = change.record.key.as_ref().expect("a keyed record")["id"]
            .as_i64()
            .unwrap();
        let n = change.after_field("n").and_then(Value::as_i64);
        rows.entry(key).or_default().push(n);
    }
    rows
}

#[tokio::test]
async fn a_scripted_workload_arrives_complete_in_order_per_row_and_masked() {
    let setup = Setup::new("workload", 2).await;
    setup.execute(TABLES).await;
    // Rows that exist before the streamer ever runs, and secrets that must not leave.
    setup
        .execute(
            "INSERT INTO workload (id, n, note) VALUES (1, 0, 'before'), (2, 0, 'before'), (3, 0, 'before');",
        )
        .await;
    let mut conn = setup.db.connect().await;
    let (tenant, _) = nudge_testkit::tenant_with_shop(&mut conn, "cdc").await;
    let key_hash: String = setup
        .sql
        .query_one(
            "SELECT key_hash FROM api_keys WHERE tenant_id = $1::text::uuid",
            &[&tenant.as_uuid().to_string()],
        )
        .await
        .unwrap()
        .get(0);
    setup
        .execute(&format!(
            "INSERT INTO webhook_endpoints (id, tenant_id, url, events, secret) \
             VALUES (gen_random_uuid(), '{}', 'https://example.com/hooks', '[\"message.sent\"]', 'whsec_never_in_the_stream');",
            tenant.as_uuid()
        ))
        .await;

    let streamer = setup.start(&[]).await;

    // The script: each statement its own transaction unless grouped.
    setup
        .execute(
            "INSERT INTO workload (id, n, note, amount, at, doc, blob, ratio, ok)
               VALUES (10, 0, 'typed', 12345678901234.123456, '2026-11-30 10:00:00.25+02', '{\"a\": [1, \"x\"]}', '\\x00ff10', 0.5, true);",
        )
        .await;
    for n in 1..=3 {
        setup
            .execute(&format!("UPDATE workload SET n = {n} WHERE id = 1;"))
            .await;
    }
    setup.execute("DELETE FROM workload WHERE id = 2;").await;
    setup
        .execute(
            "BEGIN;
             INSERT INTO workload (id, n) SELECT g, 0 FROM generate_series(20, 29) g;
             UPDATE workload SET n = n + 1 WHERE id BETWEEN 20 AND 24;
             UPDATE workload SET n = 7 WHERE id = 3;
             COMMIT;",
        )
        .await;
    setup
        .execute(
            "BEGIN;
             INSERT INTO workload (id, n) VALUES (1000, 0), (1001, 0);
             UPDATE workload SET n = 99 WHERE id = 1;
             ROLLBACK;",
        )
        .await;
    setup
        .execute("INSERT INTO workload_log (line) VALUES ('a'), ('b'); TRUNCATE workload_log;")
        .await;
    setup
        .execute("UPDATE workload SET n = 4 WHERE id = 1;")
        .await;

    // Expected: 3 snapshot rows of workload (+ the fixtures' rows of other tables),
    // then 1 + 3 + 1 + (10 + 5 + 1) + 2 + 1 + 1 workload changes.
    let changes = setup
        .wait_for_distinct(3 + 1 + 3 + 1 + 16 + 2 + 1 + 1, Duration::from_secs(60))
        .await;
    let changes = eventually_settled(&setup, changes).await;
    drop(streamer);

    let validator = schema();
    for change in &changes {
        let value: Value = serde_json::from_slice(&change.raw.data).unwrap();
        assert!(validator.is_valid(&value), "{value}");
        let text = String::from_utf8_lossy(&change.raw.data);
        assert!(
            !text.contains(&key_hash),
            "an API key hash left the database: {text}"
        );
        assert!(
            !text.contains("whsec_never_in_the_stream"),
            "a webhook secret left the database: {text}"
        );
        assert_eq!(change.raw.partition_key, change.record.partition_key());
    }
    let endpoint = changes
        .iter()
        .find(|c| c.record.source.table == "webhook_endpoints")
        .expect("the endpoint's row");
    assert!(endpoint.record.after.as_ref().unwrap().contains_key("url"));

    let workload = histories(&changes, "workload");
    let expected: Histories = [
        (1, vec![Some(0), Some(1), Some(2), Some(3), Some(4)]),
        (2, vec![Some(0), None]),
        (3, vec![Some(0), Some(7)]),
        (10, vec![Some(0)]),
    ]
    .into_iter()
    .chain((20..25).map(|id| (id, vec![Some(0), Some(1)])))
    .chain((25..30).map(|id| (id, vec![Some(0)])))
    .collect();
    assert_eq!(
        workload, expected,
        "per-row histories (rolled-back rows 1000/1001 must be absent)"
    );

    let snapshot: Vec<&Change> = changes
        .iter()
        .filter(|c| c.record.source.table == "workload" && c.record.op == Op::Read)
        .collect();
    assert_eq!(snapshot.len(), 3);
    assert!(snapshot
        .iter()
        .all(|c| c.record.source.snapshot && c.record.source.txid.is_none()));

    let typed = changes
        .iter()
        .find(|c| {
            c.record.source.table == "workload"
                && c.record
                    .key
                    .as_ref()
                    .is_some_and(|k| k.get("id") == Some(&json!(10)))
        })
        .unwrap();
    let after = typed.record.after.as_ref().unwrap();
    assert_eq!(after["amount"], json!("12345678901234.123456"));
    assert_eq!(after["at"], json!("2026-11-30T08:00:00.250Z"));
    assert_eq!(after["doc"], json!({"a": [1, "x"]}));
    assert_eq!(after["blob"], json!("AP8Q"));
    assert_eq!(after["ratio"], json!(0.5));
    assert_eq!(after["ok"], json!(true));
    assert_eq!(typed.record.op, Op::Create);
    assert!(typed.record.source.txid.is_some());

    let deleted = changes
        .iter()
        .find(|c| c.record.op == Op::Delete)
        .expect("the delete");
    assert_eq!(deleted.record.before.as_ref().unwrap()["id"], json!(2));
    assert!(deleted.record.after.is_none());

    let truncate = changes
        .iter()
        .find(|c| c.record.op == Op::Truncate)
        .expect("the truncate");
    assert_eq!(truncate.record.source.table, "workload_log");

    // One transaction's changes share its commit position and count up from 0.
    let grouped: Vec<&Change> = changes
        .iter()
        .filter(|c| {
            c.record.source.table == "workload"
                && c.record
                    .key
                    .as_ref()
                    .is_some_and(|k| k.get("id") == Some(&json!(20)))
        })
        .collect();
    assert_eq!(grouped.len(), 2, "the insert and the update of row 20");
    assert_eq!(
        grouped[0].record.source.commit_lsn,
        grouped[1].record.source.commit_lsn
    );
    assert!(grouped[0].record.source.seq < grouped[1].record.source.seq);
}

/// The stream once no new change has arrived for a moment (so that a record the test
/// does not expect would be seen).
async fn eventually_settled(setup: &Setup, mut changes: Vec<Change>) -> Vec<Change> {
    loop {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let again = setup.changes().await;
        if again.len() == changes.len() {
            return again;
        }
        changes = again;
    }
}

#[tokio::test]
async fn a_server_without_logical_decoding_is_refused_with_what_to_change() {
    // The machine's own Postgres runs with wal_level=replica.
    let db = nudge_testkit::TestDb::new().await;
    let logs = std::env::temp_dir().join(format!("nudge-cdc-refused-{}", std::process::id()));
    std::fs::create_dir_all(&logs).unwrap();
    let (sql, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let level: String = sql.query_one("SHOW wal_level", &[]).await.unwrap().get(0);
    if level == "logical" {
        // Not this machine's case; the check is then covered by nothing here.
        panic!("the default test server has wal_level=logical: this test needs one without it");
    }
    let mut streamer = Streamer::start(
        vec![
            ("DATABASE_URL".into(), db.url.clone()),
            ("CDC_METRICS_ADDRESS".into(), "off".into()),
            ("AWS_REGION".into(), "us-east-1".into()),
        ],
        &logs,
    );
    assert_eq!(streamer.wait_exit(Duration::from_secs(30)), Some(false));
    let log = streamer.log();
    assert!(
        log.contains("wal_level is 'replica'") && log.contains("wal_level = logical"),
        "{log}"
    );
}

#[tokio::test]
async fn sigterm_confirms_what_is_in_kinesis_and_a_restart_resends_nothing_older() {
    let setup = Setup::new("sigterm", 1).await;
    setup.execute(TABLES).await;
    let mut streamer = setup.start(&[("CDC_SNAPSHOT", "never")]).await;
    setup
        .execute("INSERT INTO workload (id, n) SELECT g, 0 FROM generate_series(1, 50) g;")
        .await;
    setup.wait_for_distinct(50, Duration::from_secs(60)).await;
    assert!(
        streamer.terminate(Duration::from_secs(30)),
        "SIGTERM: a clean exit in time\n{}",
        streamer.log()
    );
    let confirmed = setup.confirmed_lsn().await;
    let changes = setup.changes().await;
    let last_commit = changes
        .iter()
        .map(|c| c.record.source.commit_lsn.clone())
        .max_by_key(|lsn| lsn_value(lsn))
        .unwrap();
    assert!(
        confirmed > lsn_value(&last_commit),
        "confirmed {confirmed:X}, last commit {last_commit}"
    );

    // Restarted: the next change comes, and nothing already confirmed comes again.
    let _streamer = setup.start(&[("CDC_SNAPSHOT", "never")]).await;
    setup
        .execute("UPDATE workload SET n = 1 WHERE id = 1;")
        .await;
    let changes = setup.wait_for_distinct(51, Duration::from_secs(60)).await;
    let changes = eventually_settled(&setup, changes).await;
    assert_eq!(changes.len(), 51, "records sent twice after a clean stop");
}

#[tokio::test]
async fn on_a_quiet_database_heartbeats_move_the_slot_without_records() {
    let setup = Setup::new("quiet", 1).await;
    let streamer = setup.start(&[("CDC_SNAPSHOT", "never")]).await;
    let before = setup.confirmed_lsn().await;
    nudge_testkit::eventually(
        "the slot confirmed further with no change",
        Duration::from_secs(30),
        || async { (setup.confirmed_lsn().await > before).then_some(()) },
    )
    .await;
    assert!(
        setup.changes().await.is_empty(),
        "heartbeats are not change records"
    );
    nudge_testkit::eventually("the lag metrics", Duration::from_secs(30), || async {
        let bytes = streamer.metric("nudge_cdc_lag_bytes").await?;
        let seconds = streamer.metric("nudge_cdc_lag_seconds").await?;
        (seconds > 0.0 && bytes >= 0.0).then_some(())
    })
    .await;
}

/// The certificate of the test server (`./nudge test` makes it).
fn test_server_ca() -> String {
    std::env::var("NUDGE_TEST_LOGICAL_PG_CA")
        .expect("NUDGE_TEST_LOGICAL_PG_CA is not set: run the tests with ./nudge test")
}

#[tokio::test]
async fn with_sslmode_verify_full_every_connection_is_encrypted() {
    let setup = Setup::new("tls", 1).await;
    setup
        .execute("CREATE TABLE workload (id integer PRIMARY KEY, n integer NOT NULL);")
        .await;
    let url = format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        setup.db.url,
        test_server_ca()
    );
    let _streamer = setup
        .start(&[("DATABASE_URL", &url), ("CDC_SNAPSHOT", "never")])
        .await;
    setup
        .execute("INSERT INTO workload (id, n) VALUES (1, 0);")
        .await;
    setup.wait_for_distinct(1, Duration::from_secs(60)).await;
    // The streamer's connections (catalog, heartbeat, replication); not this test's own.
    let row = setup
        .sql
        .query_one(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl) \
             FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() \
               AND a.backend_type IN ('client backend', 'walsender')",
            &[],
        )
        .await
        .unwrap();
    let (encrypted, plain): (i64, i64) = (row.get(0), row.get(1));
    assert!(encrypted >= 3, "{encrypted} encrypted connections");
    assert_eq!(plain, 0, "a connection without TLS");
}

#[tokio::test]
async fn a_server_certificate_no_trusted_authority_signed_is_refused() {
    let setup = Setup::new("tlsbad", 1).await;
    // verify-full without sslrootcert trusts the public CAs, which did not sign the
    // test server's self-signed certificate.
    let url = format!("{}?sslmode=verify-full", setup.db.url);
    let mut streamer = Streamer::start(setup.env(&[("DATABASE_URL", &url)]), &setup.logs);
    assert_eq!(streamer.wait_exit(Duration::from_secs(30)), Some(false));
    let log = streamer.log();
    assert!(log.contains("certificate"), "{log}");
    let slots = setup
        .sql
        .query(
            "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1",
            &[&setup.slot],
        )
        .await
        .unwrap();
    assert!(
        slots.is_empty(),
        "nothing was set up over an untrusted connection"
    );
}

#[tokio::test]
async fn leads_stream_like_any_merchant_data_under_the_same_masks_and_budgets_do_not() {
    let setup = Setup::new("leads", 1).await;
    let _streamer = setup
        .start(&[
            ("CDC_SNAPSHOT", "never"),
            ("CDC_MASK", "leads.name=hash,leads.headline=drop"),
            ("CDC_HASH_KEY", "test-hash-key"),
        ])
        .await;
    let mut conn = setup.db.connect().await;
    let (tenant, _) = nudge_testkit::tenant_with_shop(&mut conn, "leads").await;
    let search = nudge_domain::LeadSearchId::new();
    let lead = nudge_domain::LeadId::new();
    setup
        .execute(&format!(
            "INSERT INTO lead_search_budget (scope, day, queries) VALUES ('tenant:{tenant}', current_date, 1);
             INSERT INTO lead_searches (id, tenant_id, query, max_results)
               VALUES ('{search}', '{tenant}', '{{\"keywords\": [\"ecommerce\"]}}', 10);
             INSERT INTO leads (id, tenant_id, profile_url, name, headline, company)
               VALUES ('{lead}', '{tenant}', 'https://www.linkedin.com/in/jane', 'Jane Doe', 'Head of Growth', 'Acme');
             INSERT INTO lead_search_leads (tenant_id, lead_search_id, lead_id)
               VALUES ('{tenant}', '{search}', '{lead}');"
        ))
        .await;
    let tables = ["lead_searches", "leads", "lead_search_leads"];
    let changes = nudge_testkit::eventually(
        "the search, the lead and their link on the stream",
        Duration::from_secs(60),
        || async {
            let changes = setup.changes().await;
            tables
                .iter()
                .all(|t| changes.iter().any(|c| c.record.source.table == *t))
                .then_some(changes)
        },
    )
    .await;
    let lead = changes
        .iter()
        .find(|c| c.record.source.table == "leads")
        .unwrap();
    assert_eq!(lead.after_field("company"), Some(&json!("Acme")));
    assert_eq!(
        lead.after_field("profile_url"),
        Some(&json!("https://www.linkedin.com/in/jane"))
    );
    let name = lead.after_field("name").unwrap().as_str().unwrap();
    assert_ne!(name, "Jane Doe", "hashed by CDC_MASK");
    assert_eq!(name.len(), 64, "an HMAC-SHA256 in hex: {name}");
    assert_eq!(lead.after_field("headline"), None, "dropped by CDC_MASK");
    assert!(
        changes
            .iter()
            .all(|c| c.record.source.table != "lead_search_budget"),
        "the budget table is bookkeeping, excluded by default"
    );
}

/// The send-rate buckets are an unlogged table: logical decoding never sees its
/// changes and a publication refuses it. Left out when every table is streamed, and
/// named in `CDC_TABLES` it stops the start with a reason.
#[tokio::test]
async fn an_unlogged_table_is_left_out_and_refused_by_name() {
    let setup = Setup::new("unlogged", 1).await;
    let _streamer = setup.start(&[("CDC_EXCLUDE_TABLES", "outbox")]).await;
    let published: Vec<String> = setup
        .sql
        .query(
            "SELECT tablename::text FROM pg_publication_tables WHERE pubname = $1",
            &[&setup.slot],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(published.iter().any(|t| t == "messages"), "{published:?}");
    assert!(
        !published.iter().any(|t| t == "send_rate_buckets"),
        "{published:?}"
    );
    // Overriding the default exclusions never publishes a table of secrets.
    for secret in cdc_streamer::masking::SECRET_TABLES {
        assert!(
            !published.iter().any(|t| t == secret),
            "{secret}: {published:?}"
        );
    }

    let other = Setup::new("unlogged_named", 1).await;
    let mut refused = Streamer::start(
        other.env(&[("CDC_TABLES", "messages,send_rate_buckets")]),
        &other.logs,
    );
    assert_eq!(refused.wait_exit(Duration::from_secs(30)), Some(false));
    let log = refused.log();
    assert!(
        log.contains("'send_rate_buckets', an unlogged table"),
        "{log}"
    );
}
