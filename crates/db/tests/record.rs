//! Recording several sends at once (the sender's batched record), against a real
//! Postgres: each message moves `sending -> sent` with its own sid and parts, only in
//! its own tenant, and only from `sending`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

use nudge_db::messages::{claim_many, find_many, record_sent_many, Claim, Lease, SentRecord};
use nudge_db::models::Message;
use nudge_domain::{MessageId, ShopId, TenantId};
use nudge_testkit::TestDb;
use serde_json::json;

async fn claimed_message(
    conn: &mut nudge_db::AsyncPgConnection,
    (tenant, shop): (TenantId, ShopId),
) -> Message {
    let id = nudge_testkit::accepted_message(conn, (tenant, shop)).await;
    let lease = Lease {
        worker: "test-worker",
        duration: chrono::Duration::seconds(60),
    };
    let item = (tenant, id);
    match claim_many(conn, &[item], &lease).await.unwrap().remove(0) {
        Ok(Claim::Claimed(message)) => *message,
        other => panic!("not claimed: {other:?}"),
    }
}

fn record(message: &Message, sid: &str, provider_segments: Option<i32>) -> SentRecord {
    SentRecord {
        message: message.clone(),
        provider_sid: sid.to_owned(),
        provider_segments,
        detail: json!({ "provider_sid": sid }),
    }
}

async fn reread(conn: &mut nudge_db::AsyncPgConnection, message: &Message) -> Message {
    let wanted = (
        TenantId::from_uuid(message.tenant_id),
        MessageId::from_uuid(message.id),
    );
    find_many(conn, &[wanted]).await.unwrap().remove(0).unwrap()
}

#[tokio::test]
async fn each_send_is_recorded_on_its_own_message_in_its_own_tenant() {
    let db = TestDb::new().await;
    let mut conn = db.connect().await;
    let a = nudge_testkit::tenant_with_shop(&mut conn, "A").await;
    let b = nudge_testkit::tenant_with_shop(&mut conn, "B").await;
    let first_of_a = claimed_message(&mut conn, a).await;
    let second_of_a = claimed_message(&mut conn, a).await;
    let of_b = claimed_message(&mut conn, b).await;
    // A record naming A's message under B's tenant must not reach it.
    let mut forged = second_of_a.clone();
    forged.tenant_id = b.0.as_uuid();

    record_sent_many(
        &mut conn,
        &[
            record(&first_of_a, "SM00000000000000000000000000000001", Some(3)),
            record(&of_b, "SM00000000000000000000000000000002", None),
            record(&forged, "SM00000000000000000000000000000003", Some(1)),
        ],
    )
    .await
    .unwrap();

    let first_of_a_now = reread(&mut conn, &first_of_a).await;
    assert_eq!(first_of_a_now.status, "sent");
    assert_eq!(
        first_of_a_now.provider_sid.as_deref(),
        Some("SM00000000000000000000000000000001")
    );
    assert_eq!(first_of_a_now.segments, 3, "the provider's count of parts");
    assert!(first_of_a_now.sent_at.is_some());
    assert_eq!(first_of_a_now.lease_until, None);

    let of_b_now = reread(&mut conn, &of_b).await;
    assert_eq!(of_b_now.status, "sent");
    assert_eq!(
        of_b_now.provider_sid.as_deref(),
        Some("SM00000000000000000000000000000002")
    );
    assert_eq!(of_b_now.segments, of_b.segments, "ours when it gave none");

    let second_of_a_now = reread(&mut conn, &second_of_a).await;
    assert_eq!(second_of_a_now.status, "sending");
    assert_eq!(second_of_a_now.provider_sid, None);

    // Only from `sending`: a second record of a sent message changes nothing.
    record_sent_many(
        &mut conn,
        &[record(
            &first_of_a,
            "SM00000000000000000000000000000009",
            None,
        )],
    )
    .await
    .unwrap();
    let again = reread(&mut conn, &first_of_a).await;
    assert_eq!(
        again.provider_sid.as_deref(),
        Some("SM00000000000000000000000000000001")
    );
    assert_eq!(again.segments, 3);
    assert!(record_sent_many(&mut conn, &[]).await.is_ok());
}
