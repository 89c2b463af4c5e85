use std::time::Duration;

use serde_json::json;

use crate::helpers::{twilio_accepts, twilio_refuses, Harness, AUTH_TOKEN};

#[tokio::test]
async fn a_permanent_twilio_error_fails_the_message_with_its_code() {
    let harness = Harness::new(3, 3).await;
    twilio_refuses(400, 21211, "Invalid 'To' Phone Number")
        .expect(1)
        .mount(&harness.twilio)
        .await;
    let (id, envelope) = harness.queued_message("+15005550001", "x").await;
    harness.queue.send_raw(&envelope).await;
    harness.start_worker();

    let message = harness
        .wait_for_status(id, "failed", Duration::from_secs(20))
        .await;
    assert_eq!(message.error_code, Some(21211));
    assert_eq!(
        message.error_message.as_deref(),
        Some("Invalid 'To' Phone Number")
    );
    assert_eq!(
        harness.event_types(id).await,
        vec!["queued", "sending", "failed"]
    );
    let failed = harness.events(id).await.pop().unwrap();
    assert_eq!(
        failed.detail["more_info"],
        "https://www.twilio.com/docs/errors/21211"
    );
    assert_eq!(harness.visible(&harness.queue.url).await, 0);
    assert_eq!(harness.visible(&harness.queue.dlq_url).await, 0);
}

#[tokio::test]
async fn a_server_error_is_retried_with_backoff_then_sent() {
    let harness = Harness::new(5, 4).await;
    twilio_refuses(500, 20500, "Internal Server Error")
        .up_to_n_times(1)
        .expect(1)
        .mount(&harness.twilio)
        .await;
    twilio_accepts("SMcccccccccccccccccccccccccccccccc")
        .expect(1)
        .mount(&harness.twilio)
        .await;
    let (id, envelope) = harness.queued_message("+14155550100", "x").await;
    harness.queue.send_raw(&envelope).await;
    harness.start_worker();

    let message = harness
        .wait_for_status(id, "sent", Duration::from_secs(30))
        .await;
    assert_eq!(message.attempts, 2);
    // A 500 does not say the message was not created: Twilio's list is read first.
    assert_eq!(
        harness.event_types(id).await,
        vec![
            "queued",
            "sending",
            "retry_scheduled",
            "reconciling",
            "sending",
            "sent"
        ]
    );
    let retry = &harness.events(id).await[2];
    assert_eq!(retry.detail["error_code"], 20500);
    assert_eq!(retry.detail["policy"], "reconcile first");
    assert_eq!(
        retry.detail["retry_in_seconds"], 5,
        "at least 5 s before reconciling"
    );
}

#[tokio::test]
async fn retryable_errors_past_the_attempt_limit_fail_the_message() {
    let harness = Harness::new(5, 2).await;
    twilio_refuses(429, 20429, "Too Many Requests")
        .expect(2)
        .mount(&harness.twilio)
        .await;
    let (id, envelope) = harness.queued_message("+14155550100", "x").await;
    harness.queue.send_raw(&envelope).await;
    harness.start_worker();

    let message = harness
        .wait_for_status(id, "failed", Duration::from_secs(30))
        .await;
    assert_eq!(message.error_code, Some(20429));
    assert_eq!(
        harness.event_types(id).await,
        vec!["queued", "sending", "retry_scheduled", "sending", "failed"]
    );
}

#[tokio::test]
async fn poison_messages_are_recorded_and_end_in_the_dead_letter_queue() {
    let harness = Harness::new(2, 3).await;
    harness.queue.send_raw("this is not json").await;
    let unknown_type = json!({
        "type": "outbound_sms.v9", "id": "0192d1a0-0000-7000-8000-000000000000",
        "tenant_id": harness.tenant, "created_at": "2026-11-23T10:00:00Z", "payload": {}
    });
    harness.queue.send_raw(&unknown_type.to_string()).await;
    let unknown_message = json!({
        "type": "outbound_sms.v1", "id": "0192d1a0-0000-7000-8000-000000000001",
        "tenant_id": harness.tenant, "created_at": "2026-11-23T10:00:00Z",
        "payload": {"message_id": "0192d1a0-0000-7000-8000-000000000002", "shop_id": harness.shop, "to": "+14155550100"}
    });
    harness.queue.send_raw(&unknown_message.to_string()).await;
    harness.start_worker();

    nudge_testkit::eventually(
        "three messages in the DLQ",
        Duration::from_secs(40),
        || async { (harness.queue.depth(&harness.queue.dlq_url).await == 3).then_some(()) },
    )
    .await;
    let reasons = harness.rejections().await;
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("not a valid envelope")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("unknown message type 'outbound_sms.v9'")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.starts_with("no message")),
        "{reasons:?}"
    );
    assert_eq!(harness.twilio.received_requests().await.unwrap().len(), 0);
}

#[tokio::test]
async fn provider_errors_never_carry_the_auth_token() {
    let harness = Harness::new(3, 3).await;
    twilio_refuses(401, 20003, "Authenticate")
        .mount(&harness.twilio)
        .await;
    let (id, envelope) = harness.queued_message("+14155550100", "x").await;
    harness.queue.send_raw(&envelope).await;
    harness.start_worker();
    // Bad credentials are ours to fix: the policy retries later, not at once, and not never.
    let retry = nudge_testkit::eventually(
        "a retry_scheduled event",
        Duration::from_secs(20),
        || async {
            harness
                .events(id)
                .await
                .into_iter()
                .find(|e| e.event_type == "retry_scheduled")
        },
    )
    .await;
    assert_eq!(retry.detail["error_code"], 20003);
    assert_eq!(retry.detail["policy"], "retry later");
    assert_eq!(retry.detail["retry_in_seconds"], 300);
    for event in harness.events(id).await {
        assert!(!event.detail.to_string().contains(AUTH_TOKEN));
    }
    // The request carried it, as basic auth, and only there.
    let request = &harness.twilio.received_requests().await.unwrap()[0];
    assert!(request
        .headers
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("Basic "));
    assert!(!String::from_utf8_lossy(&request.body).contains(AUTH_TOKEN));
}
