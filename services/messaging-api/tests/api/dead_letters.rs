//! `messaging-api admin dlq list|redrive`: each dead-lettered message with why it is
//! there, listing leaves the DLQ as it was, and a redrive moves exactly the chosen
//! messages back to their queue.

use std::time::Duration;

use messaging_api::admin::dlq::{self, Selection};
use nudge_queue::SqsQueue;
use nudge_testkit::{TestDb, TestQueue};

/// Sends `bodies` to the queue and lets SQS move them to its DLQ (max receive count 1:
/// the second receive of a message that was not deleted dead-letters it). Returns the
/// SQS message ids.
async fn dead_letter(queue: &TestQueue, bodies: &[String]) -> Vec<String> {
    let mut ids = Vec::new();
    for body in bodies {
        let sent = queue
            .client
            .send_message()
            .queue_url(&queue.url)
            .message_body(body)
            .send()
            .await
            .unwrap();
        ids.push(sent.message_id.unwrap());
    }
    nudge_testkit::eventually(
        "everything dead-lettered",
        Duration::from_secs(30),
        || async {
            queue
                .client
                .receive_message()
                .queue_url(&queue.url)
                .max_number_of_messages(10)
                .visibility_timeout(0)
                .send()
                .await
                .unwrap();
            (queue.depth(&queue.url).await == 0
                && queue.depth(&queue.dlq_url).await == bodies.len() as u64)
                .then_some(())
        },
    )
    .await;
    ids
}

#[tokio::test]
async fn list_shows_each_dead_letter_with_its_reason_and_leaves_it_there() {
    let db = TestDb::new().await;
    let queue = TestQueue::new("dlq-list", 1).await;
    let mut conn = db.connect().await;
    let (tenant, shop) = nudge_testkit::tenant_with_shop(&mut conn, "t").await;
    let (message, outbox, envelope) = nudge_testkit::queued_message(
        tenant,
        shop,
        "+14155550100",
        "Your order shipped",
        &queue.name,
    );
    nudge_db::messages::insert_accepted(&mut conn, &message, &outbox)
        .await
        .unwrap();
    let (_, _, unknown) =
        nudge_testkit::queued_message(tenant, shop, "+14155550101", "never stored", &queue.name);
    let bodies = vec![
        "this is not json".to_owned(),
        envelope.to_json().unwrap(),
        unknown.to_json().unwrap(),
    ];
    let ids = dead_letter(&queue, &bodies).await;
    // The sender recorded why it refused the first one.
    nudge_db::rejections::record(
        &mut conn,
        &queue.name,
        &ids[0],
        "not a valid envelope: expected value",
        &bodies[0],
        2,
    )
    .await
    .unwrap();

    let source = SqsQueue::new(nudge_testkit::sqs_client(), &queue.name);
    let listing = dlq::list(&mut conn, &source, 100).await.unwrap();
    assert_eq!(listing.dead_letter_queue, queue.dlq_name);
    assert_eq!(listing.messages.len(), 3);
    let reason = |body: &str| {
        listing
            .messages
            .iter()
            .find(|m| m.body == body)
            .map(|m| m.reason.clone())
            .unwrap()
    };
    assert!(
        reason(&bodies[0]).starts_with("poison: not a valid envelope"),
        "{}",
        reason(&bodies[0])
    );
    let queued = reason(&bodies[1]);
    assert!(
        queued.contains(&format!("message {} is queued", message.id))
            && queued.contains("redrive sends it"),
        "{queued}"
    );
    assert!(
        reason(&bodies[2]).contains("does not exist for tenant"),
        "{}",
        reason(&bodies[2])
    );
    assert!(listing
        .messages
        .iter()
        .all(|m| m.receive_count >= 2 && m.sent_at.is_some()));
    let text = dlq::table(std::slice::from_ref(&listing));
    assert!(
        text.starts_with(&format!(
            "{} (dead letters of {}): 3 message(s)",
            queue.dlq_name, queue.name
        )),
        "{text}"
    );

    // Listing consumed nothing: the same three are there for the next look.
    assert_eq!(queue.depth(&queue.dlq_url).await, 3);
    let again = dlq::list(&mut conn, &source, 100).await.unwrap();
    assert_eq!(again.messages.len(), 3);
    assert_eq!(queue.depth(&queue.url).await, 0);
}

#[tokio::test]
async fn inbound_dead_letters_say_whether_their_text_was_processed() {
    let db = TestDb::new().await;
    let queue = TestQueue::new("dlq-inbound", 1).await;
    let mut conn = db.connect().await;
    let (tenant, _) = nudge_testkit::tenant_with_shop(&mut conn, "t").await;
    let (inbound, _) = nudge_testkit::customer_texts(
        &mut conn,
        "SM00000000000000000000000000000f01",
        "+14155550100",
        "+15017122661",
        "hello",
    )
    .await;
    // The envelope the listener queued, read back from its outbox row.
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    let body: serde_json::Value = nudge_db::schema::outbox::table
        .filter(nudge_db::schema::outbox::queue.eq("inbound-sms"))
        .select(nudge_db::schema::outbox::body)
        .first(&mut conn)
        .await
        .unwrap();
    dead_letter(&queue, &[body.to_string()]).await;
    let source = SqsQueue::new(nudge_testkit::sqs_client(), &queue.name);
    let listing = dlq::list(&mut conn, &source, 100).await.unwrap();
    let reason = &listing.messages[0].reason;
    assert!(
        reason.contains(&format!("inbound message {} (received", inbound.id))
            && reason.contains("redrive processes it"),
        "{reason}"
    );
    nudge_db::inbound::mark_processed(
        &mut conn,
        tenant,
        nudge_domain::InboundMessageId::from_uuid(inbound.id),
        "help",
        serde_json::json!({}),
    )
    .await
    .unwrap();
    let listing = dlq::list(&mut conn, &source, 100).await.unwrap();
    let reason = &listing.messages[0].reason;
    assert!(
        reason.contains("was processed at") && reason.contains("(help)"),
        "{reason}"
    );
}

#[tokio::test]
async fn redrive_moves_the_chosen_messages_back_and_keeps_the_rest() {
    let queue = TestQueue::new("dlq-redrive", 1).await;
    let bodies: Vec<String> = (0..4).map(|i| format!("{{\"n\":{i}}}")).collect();
    let ids = dead_letter(&queue, &bodies).await;
    let source = SqsQueue::new(nudge_testkit::sqs_client(), &queue.url);

    // A source queue that refuses: nothing moves, everything stays, visible again.
    let dead_letters = source.dead_letter_queue().await.unwrap().unwrap();
    let gone = SqsQueue::new(nudge_testkit::sqs_client(), "test-no-such-queue");
    let report = dead_letters.redrive_to(&gone, 100, |_| true).await.unwrap();
    assert!(report.stopped_by.is_some());
    assert!(report.moved.is_empty());
    assert_eq!(report.kept, 4);
    assert_eq!(queue.depth(&queue.dlq_url).await, 4);
    // (Visible again: the redrive below receives them at once.)

    let report = dlq::redrive(&source, &Selection::Ids(vec![ids[1].clone()]), 100)
        .await
        .unwrap();
    assert_eq!(report.moved, vec![ids[1].clone()]);
    assert_eq!(report.kept, 3);
    assert!(report.duplicated.is_empty());
    assert_eq!(report.stopped_by, None);
    let back = queue.peek(&queue.url, Duration::from_secs(2)).await;
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].body.as_deref(), Some(bodies[1].as_str()));
    assert_eq!(queue.depth(&queue.dlq_url).await, 3);

    let report = dlq::redrive(&source, &Selection::All, 100).await.unwrap();
    assert_eq!(report.moved.len(), 3);
    assert_eq!(report.kept, 0);
    nudge_testkit::eventually("all four back", Duration::from_secs(40), || async {
        (queue.depth(&queue.url).await == 4).then_some(())
    })
    .await;
    assert_eq!(queue.depth(&queue.dlq_url).await, 0);
}

#[tokio::test]
async fn a_queue_without_a_redrive_policy_is_refused_clearly() {
    let client = nudge_testkit::sqs_client();
    let name = format!("test-no-dlq-{}", uuid::Uuid::new_v4().simple());
    let url = client
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let source = SqsQueue::new(client.clone(), &url);
    let error = dlq::redrive(&source, &Selection::All, 10)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("no redrive policy"), "{error}");
    client.delete_queue().queue_url(&url).send().await.unwrap();
}
