//! Many accepted messages stored at once (a batch, a campaign page), against a real
//! Postgres: every row written, and the frequency cap decided as one send at a time
//! would decide it, counting the messages stored earlier in the same call. And the same
//! through group commit, which stores concurrent single sends that way.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nudge_db::messages::{
    insert_accepted_many, insert_accepted_within_cap, Accepted, CapReached, FrequencyCap,
    GroupCommit, NewAccepted,
};
use nudge_db::schema::{message_events, messages, outbox};
use nudge_domain::{ShopId, TenantId};
use nudge_testkit::{queued_message, tenant_with_shop, TestDb};
use serde_json::json;

const ONE_A_DAY: FrequencyCap = FrequencyCap {
    count: 1,
    window: chrono::Duration::hours(24),
};

fn marketing(tenant: TenantId, shop: ShopId, to: &str) -> NewAccepted {
    let (mut message, outbox_row, _) =
        queued_message(tenant, shop, to, "Sale today", "outbound-sms");
    message.category = "marketing".into();
    NewAccepted {
        message,
        outbox_row,
        detail: json!({}),
        cap: Some(ONE_A_DAY),
    }
}

fn transactional(tenant: TenantId, shop: ShopId, to: &str) -> NewAccepted {
    let (message, outbox_row, _) = queued_message(tenant, shop, to, "Your order", "outbound-sms");
    NewAccepted {
        message,
        outbox_row,
        detail: json!({}),
        cap: None,
    }
}

async fn counts(conn: &mut nudge_db::AsyncPgConnection) -> (i64, i64, i64) {
    (
        messages::table.count().get_result(conn).await.unwrap(),
        message_events::table
            .count()
            .get_result(conn)
            .await
            .unwrap(),
        outbox::table.count().get_result(conn).await.unwrap(),
    )
}

#[tokio::test]
async fn each_stored_message_has_its_event_and_outbox_row_and_the_cap_counts_the_call_itself() {
    let db = TestDb::new().await;
    let mut conn = db.connect().await;
    let (tenant, shop) = tenant_with_shop(&mut conn, "many").await;

    // One marketing message already stored to the first recipient.
    let earlier = marketing(tenant, shop, "+14155550101");
    let stored = insert_accepted_within_cap(
        &mut conn,
        &earlier.message,
        &earlier.outbox_row,
        earlier.cap,
        json!({}),
        None,
    )
    .await
    .unwrap();
    assert!(matches!(stored, Accepted::Stored { .. }));

    let items = vec![
        marketing(tenant, shop, "+14155550101"), // capped by the stored one
        marketing(tenant, shop, "+14155550102"), // first to this recipient: stored
        marketing(tenant, shop, "+14155550102"), // capped by the one just before it
        transactional(tenant, shop, "+14155550101"), // no cap
        marketing(tenant, shop, "+14155550103"), // stored
    ];
    let ids: Vec<_> = items.iter().map(|item| item.message.id).collect();
    let outcomes = insert_accepted_many(&mut conn, items).await.unwrap();

    let verdicts: Vec<Result<uuid::Uuid, CapReached>> = outcomes
        .iter()
        .map(|outcome| {
            outcome
                .as_ref()
                .map(|(message, _)| message.id)
                .map_err(|c| *c)
        })
        .collect();
    assert_eq!(
        verdicts,
        vec![
            Err(CapReached { already: 1 }),
            Ok(ids[1]),
            Err(CapReached { already: 1 }),
            Ok(ids[3]),
            Ok(ids[4]),
        ]
    );
    for (message, event) in outcomes.iter().filter_map(|o| o.as_ref().ok()) {
        assert_eq!(event.message_id, message.id);
        assert_eq!(event.event_type, "queued");
    }
    // The earlier message and three of the five, each with one event and one outbox row.
    assert_eq!(counts(&mut conn).await, (4, 4, 4));
}

#[tokio::test]
async fn a_scheduled_message_counts_where_it_lands_and_gets_a_scheduled_event() {
    let db = TestDb::new().await;
    let mut conn = db.connect().await;
    let (tenant, shop) = tenant_with_shop(&mut conn, "many-scheduled").await;
    let mut later = marketing(tenant, shop, "+14155550104");
    later.message.status = "scheduled".into();
    later.message.send_at = Some(chrono::Utc::now() + chrono::Duration::days(3));
    let now = marketing(tenant, shop, "+14155550104");

    // Three days apart: both fit a one-a-day cap.
    let outcomes = insert_accepted_many(&mut conn, vec![later, now])
        .await
        .unwrap();
    let events: Vec<String> = outcomes
        .into_iter()
        .map(|outcome| outcome.unwrap().1.event_type)
        .collect();
    assert_eq!(events, ["scheduled", "queued"]);

    // A third, an hour after the scheduled one: within its window, refused.
    let mut close = marketing(tenant, shop, "+14155550104");
    close.message.status = "scheduled".into();
    close.message.send_at =
        Some(chrono::Utc::now() + chrono::Duration::days(3) + chrono::Duration::hours(1));
    let outcomes = insert_accepted_many(&mut conn, vec![close]).await.unwrap();
    assert_eq!(outcomes[0].as_ref().err(), Some(&CapReached { already: 1 }));
    assert_eq!(counts(&mut conn).await, (2, 2, 2));
}

#[tokio::test]
async fn another_tenants_messages_to_the_same_number_do_not_count() {
    let db = TestDb::new().await;
    let mut conn = db.connect().await;
    let (tenant, shop) = tenant_with_shop(&mut conn, "many-a").await;
    let (other, other_shop) = tenant_with_shop(&mut conn, "many-b").await;
    let outcomes = insert_accepted_many(
        &mut conn,
        vec![marketing(other, other_shop, "+14155550105")],
    )
    .await
    .unwrap();
    assert!(outcomes[0].is_ok());
    let outcomes = insert_accepted_many(&mut conn, vec![marketing(tenant, shop, "+14155550105")])
        .await
        .unwrap();
    assert!(outcomes[0].is_ok(), "{:?}", outcomes[0].as_ref().err());
}

/// Sends committed through group commit at the same moment: every one answered with
/// its own message and stored with its rows, in fewer transactions than sends (rows
/// written by one transaction share its `xmin`), and the cap decided across the group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sends_share_transactions_and_keep_their_caps() {
    let db = TestDb::new().await;
    let mut conn = db.connect().await;
    let (tenant, shop) = tenant_with_shop(&mut conn, "grouped").await;
    let group = GroupCommit::start(db.pool(), 2);

    let mut sends = Vec::new();
    for n in 0..200 {
        // Every tenth goes to one recipient with a one-a-day cap: one of those is stored.
        let item = if n % 10 == 0 {
            marketing(tenant, shop, "+14155559999")
        } else {
            transactional(tenant, shop, &format!("+1415555{n:04}"))
        };
        let group = group.clone();
        sends.push(tokio::spawn(async move {
            let id = item.message.id;
            (id, group.store(item).await.unwrap())
        }));
    }
    let (mut stored, mut capped) = (0, 0);
    for send in sends {
        let (id, outcome) = send.await.unwrap();
        match outcome {
            Ok((message, event)) => {
                assert_eq!(message.id, id, "answered with its own message");
                assert_eq!(event.message_id, id);
                stored += 1;
            }
            Err(CapReached { already }) => {
                assert_eq!(already, 1);
                capped += 1;
            }
        }
    }
    assert_eq!((stored, capped), (181, 19));
    assert_eq!(counts(&mut conn).await, (181, 181, 181));
    let transactions: i64 =
        diesel::sql_query("SELECT count(DISTINCT xmin::text) AS count FROM messages")
            .get_result::<Count>(&mut conn)
            .await
            .unwrap()
            .count;
    assert!(
        transactions < 100,
        "181 sends in {transactions} transactions: not grouped"
    );
}

/// A send the database refuses (here: a message id already taken) fails alone; the
/// sends committed beside it are stored, so one tenant's bad row cannot fail another's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_the_database_refuses_does_not_fail_the_others_in_its_group() {
    let db = TestDb::new().await;
    let mut conn = db.connect().await;
    let (tenant, shop) = tenant_with_shop(&mut conn, "group-a").await;
    let (other, other_shop) = tenant_with_shop(&mut conn, "group-b").await;
    let taken = transactional(tenant, shop, "+14155550110");
    insert_accepted_many(&mut conn, vec![taken.clone()])
        .await
        .unwrap();
    let group = GroupCommit::start(db.pool(), 1);

    let mut sends = Vec::new();
    for n in 0..50 {
        let item = if n == 25 {
            let mut again = transactional(tenant, shop, "+14155550110");
            again.message.id = taken.message.id;
            again.outbox_row.message_id = Some(taken.message.id);
            again
        } else {
            transactional(other, other_shop, &format!("+1415556{n:04}"))
        };
        let group = group.clone();
        sends.push(tokio::spawn(async move { group.store(item).await }));
    }
    let mut refused = 0;
    for (n, send) in sends.into_iter().enumerate() {
        match send.await.unwrap() {
            Ok(outcome) => {
                assert_ne!(n, 25, "the duplicate was stored");
                assert!(outcome.is_ok());
            }
            Err(error) => {
                assert_eq!(n, 25, "send {n} failed with the duplicate: {error}");
                assert!(matches!(error, nudge_db::DbError::Conflict(_)), "{error:?}");
                refused += 1;
            }
        }
    }
    assert_eq!(refused, 1);
    assert_eq!(counts(&mut conn).await, (50, 50, 50));
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    count: i64,
}
