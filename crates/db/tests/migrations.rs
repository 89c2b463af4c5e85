//! Existing databases migrate as docs/tenancy.md says: a sender number that several
//! tenants' shops used goes to the tenant that used it first; the others' shops lose it
//! and what they still had waiting is cancelled, so nothing more goes out from a number
//! their tenant does not own.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

use diesel::sql_types::{Nullable, Text};
use diesel::{Connection, QueryableByName};
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use diesel_migrations::MigrationHarness;

/// The first migration of owned numbers.
const OWNED_NUMBERS: &str = "2026-12-07-000027";

/// Takes the database back to just before `version`, with the migrations' down.sql.
async fn revert_to_before(url: &str, version: &'static str) {
    let url = url.to_owned();
    // Versions compare as their digits (diesel stores `20261207000027` for the folder
    // `2026-12-07-000027_...`).
    let digits = |v: &str| v.chars().filter(char::is_ascii_digit).collect::<String>();
    let target = digits(version);
    tokio::task::spawn_blocking(move || {
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url).unwrap();
        loop {
            let mut applied: Vec<String> = conn
                .applied_migrations()
                .unwrap()
                .iter()
                .map(|v| digits(&v.to_string()))
                .collect();
            applied.sort();
            match applied.last() {
                Some(last) if *last >= target => {
                    conn.revert_last_migration(nudge_db::migrate::MIGRATIONS)
                        .unwrap();
                }
                _ => break,
            }
        }
    })
    .await
    .unwrap();
}

#[derive(QueryableByName, Debug, PartialEq)]
struct Row {
    #[diesel(sql_type = Text)]
    a: String,
    #[diesel(sql_type = Nullable<Text>)]
    b: Option<String>,
}

async fn rows(conn: &mut AsyncPgConnection, sql: &str) -> Vec<(String, Option<String>)> {
    diesel::sql_query(sql)
        .load::<Row>(conn)
        .await
        .unwrap()
        .into_iter()
        .map(|row| (row.a, row.b))
        .collect()
}

#[tokio::test]
async fn a_number_several_tenants_used_goes_to_its_first_user_and_the_others_lose_it() {
    let db = nudge_testkit::TestDb::new().await;
    revert_to_before(&db.url, OWNED_NUMBERS).await;
    let mut conn = db.connect().await;
    // Before owned numbers: A's shop and, later, B's copy on A's number; C on its own.
    for statement in [
        "INSERT INTO tenants (id, name) VALUES
           ('00000000-0000-7000-8000-00000000000a', 'A'),
           ('00000000-0000-7000-8000-00000000000b', 'B'),
           ('00000000-0000-7000-8000-00000000000c', 'C')",
        "INSERT INTO shops (id, tenant_id, name, sender_number, time_zone, created_at) VALUES
           ('00000000-0000-7000-8000-0000000000a1', '00000000-0000-7000-8000-00000000000a', 'A shop', '+15017122661', 'UTC', now() - interval '2 days'),
           ('00000000-0000-7000-8000-0000000000b1', '00000000-0000-7000-8000-00000000000b', 'B copy', '+15017122661', 'UTC', now() - interval '1 day'),
           ('00000000-0000-7000-8000-0000000000c1', '00000000-0000-7000-8000-00000000000c', 'C shop', '+15017122663', 'UTC', now())",
        "INSERT INTO messages (id, tenant_id, shop_id, to_number, from_number, body, segments, encoding, status) VALUES
           ('00000000-0000-7000-8000-0000000000a2', '00000000-0000-7000-8000-00000000000a', '00000000-0000-7000-8000-0000000000a1', '+14155550100', '+15017122661', 'A', 1, 'gsm7', 'queued'),
           ('00000000-0000-7000-8000-0000000000b2', '00000000-0000-7000-8000-00000000000b', '00000000-0000-7000-8000-0000000000b1', '+14155550100', '+15017122661', 'B', 1, 'gsm7', 'queued'),
           ('00000000-0000-7000-8000-0000000000b3', '00000000-0000-7000-8000-00000000000b', '00000000-0000-7000-8000-0000000000b1', '+14155550100', '+15017122661', 'B sent', 1, 'gsm7', 'sent')",
    ] {
        diesel::sql_query(statement)
            .execute(&mut conn)
            .await
            .unwrap();
    }

    nudge_db::migrate::run_pending(&db.url).await.unwrap();

    assert_eq!(
        rows(
            &mut conn,
            "SELECT number AS a, tenant_id::text AS b FROM sender_numbers ORDER BY number"
        )
        .await,
        vec![
            (
                "+15017122661".into(),
                Some("00000000-0000-7000-8000-00000000000a".into())
            ),
            (
                "+15017122663".into(),
                Some("00000000-0000-7000-8000-00000000000c".into())
            ),
        ],
        "each number to its first user"
    );
    assert_eq!(
        rows(
            &mut conn,
            "SELECT name AS a, sender_number AS b FROM shops ORDER BY name"
        )
        .await,
        vec![
            ("A shop".into(), Some("+15017122661".into())),
            ("B copy".into(), None),
            ("C shop".into(), Some("+15017122663".into())),
        ]
    );
    assert_eq!(
        rows(
            &mut conn,
            "SELECT body AS a, status AS b FROM messages ORDER BY body"
        )
        .await,
        vec![
            ("A".into(), Some("queued".into())),
            ("B".into(), Some("cancelled".into())),
            ("B sent".into(), Some("sent".into())),
        ],
        "only what B still had waiting is cancelled"
    );
    assert_eq!(
        rows(
            &mut conn,
            "SELECT event_type AS a, detail->>'reason' AS b FROM message_events \
             WHERE message_id = '00000000-0000-7000-8000-0000000000b2'"
        )
        .await,
        vec![("cancelled".into(), Some("sender_number_not_owned".into()))]
    );
    // Tenants of before count as approved, and the new rules hold from now on.
    assert_eq!(
        rows(
            &mut conn,
            "SELECT name AS a, (approved_at IS NOT NULL)::text AS b FROM tenants ORDER BY name"
        )
        .await,
        vec![
            ("A".into(), Some("true".into())),
            ("B".into(), Some("true".into())),
            ("C".into(), Some("true".into())),
        ]
    );
    let refused =
        diesel::sql_query("UPDATE shops SET sender_number = '+15017122661' WHERE name = 'B copy'")
            .execute(&mut conn)
            .await;
    assert!(refused.is_err(), "B cannot take the number back");
}

/// The schema as the catalog describes it: columns (with types, nullability, defaults),
/// constraints and indexes of every table in `public`, as sorted text.
async fn schema_signature(conn: &mut AsyncPgConnection) -> Vec<(String, Option<String>)> {
    rows(
        conn,
        "SELECT table_name || '.' || column_name AS a,
                data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '') AS b
           FROM information_schema.columns WHERE table_schema = 'public'
         UNION ALL
         SELECT conrelid::regclass::text || ':' || conname AS a, pg_get_constraintdef(oid) AS b
           FROM pg_constraint WHERE connamespace = 'public'::regnamespace
         UNION ALL
         SELECT tablename || ':' || indexname AS a, indexdef AS b
           FROM pg_indexes WHERE schemaname = 'public'
         ORDER BY a, b",
    )
    .await
}

/// Every `down.sql` runs, newest first, down to an empty database, and the ups then
/// build the very same schema again: a rollback is a tested path, not a hope.
#[tokio::test]
async fn every_migration_can_be_undone_and_done_again_to_the_same_schema() {
    let db = nudge_testkit::TestDb::new().await;
    let mut conn = db.connect().await;
    let head = schema_signature(&mut conn).await;
    assert!(head.len() > 100, "the catalog query sees the schema");

    revert_to_before(&db.url, "0000-00-00-000000").await;
    let empty = schema_signature(&mut conn).await;
    assert!(
        empty
            .iter()
            .all(|(name, _)| name.starts_with("__diesel_schema_migrations")),
        "every down.sql undid its up: {empty:?}"
    );

    let applied = nudge_db::migrate::run_pending(&db.url).await.unwrap();
    assert_eq!(
        applied,
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
            .unwrap()
            .filter(|entry| entry.as_ref().unwrap().path().is_dir())
            .count()
    );
    assert_eq!(schema_signature(&mut conn).await, head);
}

/// A database of the previous release (before owned numbers, keys' scopes, provider
/// accounts and the sandbox), with a shop, customers and messages in every state,
/// migrated to head: its data reads back, and the send-and-log flow runs on it.
#[tokio::test]
async fn a_database_of_the_previous_release_upgrades_and_keeps_sending() {
    use nudge_domain::{MessageId, TenantId};

    let db = nudge_testkit::TestDb::new().await;
    revert_to_before(&db.url, OWNED_NUMBERS).await;
    let mut conn = db.connect().await;
    for statement in [
        "INSERT INTO tenants (id, name) VALUES ('00000000-0000-7000-8000-00000000000a', 'A')",
        "INSERT INTO shops (id, tenant_id, name, sender_number, time_zone, created_at) VALUES
           ('00000000-0000-7000-8000-0000000000a1', '00000000-0000-7000-8000-00000000000a', 'A shop', '+15017122661', 'Europe/Paris', now() - interval '30 days')",
        "INSERT INTO customers (id, tenant_id, shop_id, phone, name, consent)
           SELECT ('00000000-0000-7000-8000-' || lpad(n::text, 12, '0'))::uuid,
                  '00000000-0000-7000-8000-00000000000a', '00000000-0000-7000-8000-0000000000a1',
                  '+1415555' || lpad(n::text, 4, '0'), 'Customer ' || n,
                  CASE WHEN n % 3 = 0 THEN 'opted_out' ELSE 'opted_in' END
             FROM generate_series(1, 300) AS n",
        "INSERT INTO messages (id, tenant_id, shop_id, to_number, from_number, body, segments, encoding, status, provider_sid, category)
           SELECT ('00000000-0000-7000-9000-' || lpad(n::text, 12, '0'))::uuid,
                  '00000000-0000-7000-8000-00000000000a', '00000000-0000-7000-8000-0000000000a1',
                  '+1415555' || lpad(n::text, 4, '0'), '+15017122661', 'Order #' || n || ' shipped', 1, 'gsm7',
                  (ARRAY['queued', 'sent', 'delivered', 'failed'])[1 + n % 4],
                  CASE WHEN n % 4 IN (1, 2) THEN 'SM' || lpad(to_hex(n), 32, '0') END,
                  CASE WHEN n % 2 = 0 THEN 'transactional' ELSE 'marketing' END
             FROM generate_series(1, 400) AS n",
        "INSERT INTO message_events (id, tenant_id, message_id, event_type, detail)
           SELECT gen_random_uuid(), tenant_id, id, 'queued', '{}'::jsonb FROM messages",
    ] {
        diesel::sql_query(statement)
            .execute(&mut conn)
            .await
            .unwrap();
    }

    nudge_db::migrate::run_pending(&db.url).await.unwrap();

    let tenant = TenantId::from_uuid("00000000-0000-7000-8000-00000000000a".parse().unwrap());
    let counts = nudge_db::messages::count_by_status(&mut conn, tenant)
        .await
        .unwrap();
    assert_eq!(counts.values().sum::<i64>(), 400, "{counts:?}");
    assert_eq!(counts.get("delivered"), Some(&100));

    // The flow of a send on the upgraded data: the queued message is claimed and
    // recorded as sent, and its log says so.
    let id = MessageId::from_uuid("00000000-0000-7000-9000-000000000004".parse().unwrap());
    let lease = nudge_db::messages::Lease {
        worker: "upgrade",
        duration: chrono::Duration::seconds(30),
    };
    let claimed = match nudge_db::messages::claim(&mut conn, tenant, id, &lease)
        .await
        .unwrap()
    {
        nudge_db::messages::Claim::Claimed(message) => message,
        other => panic!("the old queued message should be claimable: {other:?}"),
    };
    nudge_db::messages::record_sent(
        &mut conn,
        &claimed,
        "SMupgradeupgradeupgradeupgrade00",
        Some(1),
        serde_json::json!({}),
    )
    .await
    .unwrap();
    let events: Vec<String> = nudge_db::messages::events(&mut conn, tenant, id)
        .await
        .unwrap()
        .into_iter()
        .map(|event| event.event_type)
        .collect();
    assert_eq!(events, ["queued", "sending", "sent"]);
    let page = nudge_db::messages::list(
        &mut conn,
        tenant,
        &nudge_db::messages::MessageFilter::default(),
        nudge_db::PageRequest {
            limit: 50,
            before: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(page.items.len(), 50);
}
