//! Looking several messages up at once (the sender's batched lookup), against a real
//! Postgres: each request is answered in its own tenant, in the order asked.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

use nudge_db::messages::find_many;
use nudge_domain::MessageId;
use nudge_testkit::TestDb;

#[tokio::test]
async fn each_message_is_found_in_its_own_tenant_only_and_answers_keep_their_order() {
    let db = TestDb::new().await;
    let mut conn = db.connect().await;
    let a = nudge_testkit::tenant_with_shop(&mut conn, "A").await;
    let b = nudge_testkit::tenant_with_shop(&mut conn, "B").await;
    let (tenant_a, tenant_b) = (a.0, b.0);
    let of_a = nudge_testkit::accepted_message(&mut conn, a).await;
    let of_b = nudge_testkit::accepted_message(&mut conn, b).await;

    let wanted = [
        (tenant_b, of_b),
        // Both tenants and both ids are in the query: only exact pairs may answer.
        (tenant_b, of_a),
        (tenant_a, of_b),
        (tenant_a, MessageId::new()),
        (tenant_a, of_a),
        (tenant_a, of_a),
    ];
    let found = find_many(&mut conn, &wanted).await.unwrap();

    let ids: Vec<Option<uuid::Uuid>> = found
        .iter()
        .map(|message| message.as_ref().map(|m| m.id))
        .collect();
    assert_eq!(
        ids,
        vec![
            Some(of_b.as_uuid()),
            None,
            None,
            None,
            Some(of_a.as_uuid()),
            Some(of_a.as_uuid()),
        ]
    );
    for (message, (tenant, _)) in found.iter().zip(&wanted) {
        if let Some(message) = message {
            assert_eq!(message.tenant_id, tenant.as_uuid());
        }
    }
    assert!(find_many(&mut conn, &[]).await.unwrap().is_empty());
}
