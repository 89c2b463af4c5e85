use std::time::Duration;

use nudge_queue::Disposition;

use crate::helpers::{received, twilio_accepts, Harness};

#[tokio::test]
async fn a_queued_message_is_sent_recorded_and_removed_from_the_queue() {
    let harness = Harness::new(3, 3).await;
    twilio_accepts("SM0123456789abcdef0123456789abcdef")
        .expect(1)
        .mount(&harness.twilio)
        .await;
    let (id, envelope) = harness
        .queued_message("+14155550100", "Your bag is waiting")
        .await;
    harness.queue.send_raw(&envelope).await;
    harness.start_worker();

    let message = harness
        .wait_for_status(id, "sent", Duration::from_secs(20))
        .await;
    assert_eq!(
        message.provider_sid.as_deref(),
        Some("SM0123456789abcdef0123456789abcdef")
    );
    assert!(message.sent_at.is_some());
    assert_eq!(message.attempts, 1);
    assert_eq!(
        harness.event_types(id).await,
        vec!["queued", "sending", "sent"]
    );
    let sent = harness.events(id).await.pop().unwrap();
    assert_eq!(
        sent.detail["provider_sid"],
        "SM0123456789abcdef0123456789abcdef"
    );

    let requests = harness.twilio.received_requests().await.unwrap();
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&requests[0].body).unwrap();
    assert_eq!(
        form,
        vec![
            ("To".into(), "+14155550100".into()),
            ("From".into(), "+15017122661".into()),
            ("Body".into(), "Your bag is waiting".into()),
            (
                "StatusCallback".into(),
                "https://hooks.example.com/twilio/status".into()
            ),
        ]
    );
    // Deleted from the queue, nothing in the DLQ.
    assert_eq!(harness.visible(&harness.queue.url).await, 0);
    assert_eq!(harness.visible(&harness.queue.dlq_url).await, 0);
}

#[tokio::test]
async fn a_redelivered_queue_message_never_sends_twice() {
    let harness = Harness::new(3, 3).await;
    twilio_accepts("SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
        .expect(1)
        .mount(&harness.twilio)
        .await;
    let (id, envelope) = harness.queued_message("+14155550100", "Once only").await;
    // SQS delivers at least once: the same envelope arrives twice.
    harness.queue.send_raw(&envelope).await;
    harness.queue.send_raw(&envelope).await;
    harness.start_worker();

    harness
        .wait_for_status(id, "sent", Duration::from_secs(20))
        .await;
    nudge_testkit::eventually("both copies removed", Duration::from_secs(20), || async {
        (harness.visible(&harness.queue.url).await == 0).then_some(())
    })
    .await;
    assert_eq!(harness.visible(&harness.queue.dlq_url).await, 0);
    assert_eq!(
        harness.event_types(id).await,
        vec!["queued", "sending", "sent"]
    );
    // `expect(1)` on the mock is verified when the harness drops.
}

#[tokio::test]
async fn processing_the_same_queue_message_again_is_a_no_op() {
    let harness = Harness::new(3, 3).await;
    twilio_accepts("SMbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb")
        .expect(1)
        .mount(&harness.twilio)
        .await;
    let (_, envelope) = harness.queued_message("+14155550100", "Hi").await;
    let received = received(envelope, 1);
    assert_eq!(harness.sender.process(&received).await, Disposition::Delete);
    assert_eq!(harness.sender.process(&received).await, Disposition::Delete);
}

#[tokio::test]
async fn a_stopping_worker_hands_back_what_its_last_poll_receives() {
    let harness = Harness::new(3, 3).await;
    let queue = nudge_queue::SqsQueue::new(nudge_testkit::sqs_client(), &harness.queue.url);
    let stop = tokio_util::sync::CancellationToken::new();
    let worker = tokio::spawn(sms_sender::worker::run(
        harness.sender.clone(),
        queue,
        2,
        stop.clone(),
    ));
    tokio::time::sleep(std::time::Duration::from_secs(1)).await; // the worker is mid long poll
    stop.cancel();
    let (_, envelope) = harness
        .queued_message("+14155550100", "arrives during shutdown")
        .await;
    harness.queue.send_raw(&envelope).await;
    tokio::time::timeout(std::time::Duration::from_secs(30), worker)
        .await
        .unwrap()
        .unwrap();
    // Not processed, and not stranded invisible: the next worker can take it now.
    let visible = harness
        .queue
        .peek(&harness.queue.url, std::time::Duration::from_secs(2))
        .await;
    assert_eq!(visible.len(), 1);
    assert_eq!(harness.twilio.received_requests().await.unwrap().len(), 0);
}

#[tokio::test]
async fn the_segment_count_recorded_is_the_one_the_provider_sent() {
    let harness = Harness::new(3, 3).await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(
            wiremock::ResponseTemplate::new(201).set_body_json(serde_json::json!({
                "sid": "SMseg0seg0seg0seg0seg0seg0seg0se", "status": "queued", "num_segments": "2",
                "account_sid": crate::helpers::ACCOUNT_SID, "direction": "outbound-api"
            })),
        )
        .mount(&harness.twilio)
        .await;
    let (id, envelope) = harness.queued_message("+14155550100", "Hi").await;
    assert_eq!(
        harness.message(id).await.segments,
        1,
        "our count at acceptance"
    );
    let received = received(envelope, 1);
    assert_eq!(harness.sender.process(&received).await, Disposition::Delete);
    assert_eq!(harness.message(id).await.segments, 2, "what Twilio billed");
}
