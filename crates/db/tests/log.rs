//! The message log's time filters, against a real Postgres: `created_at` decides, even
//! though the query also bounds the ids (UUIDv7, minted moments after `created_at`) so
//! that an index can seek to the range.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

use chrono::{DateTime, Duration, DurationRound, Utc};
use nudge_db::messages::{list, MessageFilter};
use nudge_db::PageRequest;
use nudge_testkit::{queued_message, tenant_with_shop, TestDb};

/// A message accepted at `created_at` whose id was minted `minted_after` later.
async fn stored_at(
    conn: &mut nudge_db::AsyncPgConnection,
    (tenant, shop): (nudge_domain::TenantId, nudge_domain::ShopId),
    created_at: DateTime<Utc>,
    minted_after: Duration,
) -> uuid::Uuid {
    let (mut message, outbox, _) =
        queued_message(tenant, shop, "+14155550100", "Hi", "outbound-sms");
    let minted = u64::try_from((created_at + minted_after).timestamp_millis()).unwrap();
    message.id = uuid::Builder::from_unix_timestamp_millis(minted, &rand_bytes()).into_uuid();
    message.created_at = created_at;
    nudge_db::messages::insert_accepted(conn, &message, &outbox)
        .await
        .unwrap();
    message.id
}

fn rand_bytes() -> [u8; 10] {
    let mut bytes = [0u8; 10];
    bytes.copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..10]);
    bytes
}

async fn ids(
    conn: &mut nudge_db::AsyncPgConnection,
    tenant: nudge_domain::TenantId,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> Vec<uuid::Uuid> {
    let filter = MessageFilter {
        since,
        until,
        ..MessageFilter::default()
    };
    let page = PageRequest {
        limit: 200,
        before: None,
    };
    list(conn, tenant, &filter, page)
        .await
        .unwrap()
        .items
        .iter()
        .map(|m| m.id)
        .collect()
}

#[tokio::test]
async fn time_filters_follow_created_at_to_the_microsecond() {
    let db = TestDb::new().await;
    let mut conn = db.connect().await;
    let owner = tenant_with_shop(&mut conn, "log").await;
    let noon = (Utc::now() - Duration::days(3))
        .duration_trunc(Duration::hours(1))
        .unwrap();
    let early = stored_at(
        &mut conn,
        owner,
        noon - Duration::hours(2),
        Duration::zero(),
    )
    .await;
    // Its id minted a few seconds after its created_at (a long campaign page).
    let at_noon = stored_at(&mut conn, owner, noon, Duration::seconds(5)).await;
    let late = stored_at(
        &mut conn,
        owner,
        noon + Duration::hours(2),
        Duration::zero(),
    )
    .await;

    let tenant = owner.0;
    assert_eq!(
        ids(&mut conn, tenant, Some(noon), None).await,
        [late, at_noon]
    );
    assert_eq!(
        ids(
            &mut conn,
            tenant,
            Some(noon + Duration::microseconds(1)),
            None
        )
        .await,
        [late]
    );
    assert_eq!(ids(&mut conn, tenant, None, Some(noon)).await, [early]);
    assert_eq!(
        ids(
            &mut conn,
            tenant,
            None,
            Some(noon + Duration::microseconds(1))
        )
        .await,
        [at_noon, early]
    );
    assert_eq!(
        ids(
            &mut conn,
            tenant,
            Some(noon - Duration::hours(1)),
            Some(noon + Duration::hours(1))
        )
        .await,
        [at_noon]
    );
    // Ranges far outside the ids' time: everything, or nothing.
    let epoch = DateTime::<Utc>::from_timestamp(0, 0).unwrap();
    assert_eq!(ids(&mut conn, tenant, Some(epoch), None).await.len(), 3);
    assert!(ids(&mut conn, tenant, None, Some(epoch)).await.is_empty());
}
