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
