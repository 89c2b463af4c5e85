//! The things the sender depends on go away for a while and come back: Twilio failing
//! with 500s, 429s and requests that never answer; SQS unreachable mid-run. Every
//! message is sent once it can be, and none twice.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nudge_domain::MessageId;
use nudge_testkit::TcpProxy;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{created, twilio_accepts_each_after, twilio_error, Harness, MESSAGES_PATH};

/// Queues `count` messages to distinct numbers and puts them on the queue.
async fn queue_messages(harness: &Harness, count: usize, offset: usize) -> Vec<MessageId> {
    let mut ids = Vec::with_capacity(count);
    for i in offset..offset + count {
        let (id, envelope) = harness
            .queued_message(&format!("+1415555{i:04}"), "Your order shipped")
            .await;
        harness.queue.send_raw(&envelope).await;
        ids.push(id);
    }
    ids
}

/// Waits until every message is `sent`; returns their sids.
async fn all_sent(harness: &Harness, ids: &[MessageId], timeout: Duration) -> Vec<String> {
    nudge_testkit::eventually("every message sent", timeout, || async {
        let mut sids = Vec::new();
        for id in ids {
            let message = harness.message(*id).await;
            if message.status != "sent" {
                return None;
            }
            sids.push(message.provider_sid.unwrap());
        }
        Some(sids)
    })
    .await
}

#[tokio::test]
async fn a_provider_outage_delays_messages_then_every_one_is_sent_once() {
    // Calls that never answer give up after 1.5 s.
    let harness = Harness::configured(20, 30, |config| {
        config.max_attempts = 12;
        config.twilio.timeout = Duration::from_millis(1_500);
    })
    .await;
    // Twilio, call by call: 6 server errors, 4 rate limits, 3 calls that never answer
    // in time (and create nothing), then business as usual.
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .respond_with(move |_: &wiremock::Request| {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            match n {
                0..6 => ResponseTemplate::new(500).set_body_json(twilio_error(
                    20500,
                    500,
                    "Internal Server Error",
                )),
                6..10 => ResponseTemplate::new(429).set_body_json(twilio_error(
                    20429,
                    429,
                    "Too Many Requests",
                )),
                10..13 => ResponseTemplate::new(503)
                    .set_delay(Duration::from_secs(4))
                    .set_body_json(twilio_error(20503, 503, "Service Unavailable")),
                _ => ResponseTemplate::new(201).set_body_json(created(&format!("SM{n:032x}"))),
            }
        })
        .mount(&harness.twilio)
        .await;
    let ids = queue_messages(&harness, 20, 0).await;
    harness.start_worker();

    let sids = all_sent(&harness, &ids, Duration::from_secs(120)).await;
    assert_eq!(sids.iter().collect::<HashSet<_>>().len(), 20);
    // Every failure was followed by exactly one more attempt: 13 failed calls and 20
    // accepted ones, nothing resent after it was accepted.
    assert_eq!(calls.load(Ordering::SeqCst), 33);
    let mut policies = HashSet::new();
    for id in &ids {
        for event in harness.events(*id).await {
            if event.event_type == "retry_scheduled" {
                policies.insert(event.detail["error_code"].to_string());
            }
        }
    }
    assert!(policies.contains("20500"), "{policies:?}");
    assert!(policies.contains("20429"), "{policies:?}");
    assert!(policies.contains("null"), "the timeouts: {policies:?}");
    nudge_testkit::eventually("an empty queue", Duration::from_secs(10), || async {
        (harness.queue.depth(&harness.queue.url).await == 0).then_some(())
    })
    .await;
    assert_eq!(harness.queue.depth(&harness.queue.dlq_url).await, 0);
}

#[tokio::test]
async fn sqs_unreachable_mid_run_then_back_loses_nothing_and_sends_nothing_twice() {
    // A short visibility timeout: messages whose delete was lost come back quickly.
    let harness = Harness::with_visibility(10, 3, 4).await;
    // Slow enough that some messages are in flight when SQS goes away.
    twilio_accepts_each_after(Duration::from_millis(400))
        .mount(&harness.twilio)
        .await;
    let localstack = std::env::var("AWS_ENDPOINT_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:4566".into())
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let sqs = TcpProxy::new(localstack).await;
    sqs.up().await;
    let mut ids = queue_messages(&harness, 15, 0).await;
    harness.start_worker_with(aws_sdk_sqs::Client::new(
        &nudge_testkit::localstack_config_at(&sqs.url("http")),
    ));
    nudge_testkit::eventually("the first sends", Duration::from_secs(20), || async {
        let counts = harness.sent_count().await;
        (counts >= 3).then_some(())
    })
    .await;

    // SQS goes away: receives and deletes fail. Work keeps arriving meanwhile.
    sqs.down().await;
    ids.extend(queue_messages(&harness, 15, 100).await);
    tokio::time::sleep(Duration::from_secs(6)).await;
    sqs.up().await;

    let sids = all_sent(&harness, &ids, Duration::from_secs(90)).await;
    assert_eq!(sids.iter().collect::<HashSet<_>>().len(), 30);
    // Messages sent while their delete could not reach SQS came back, and were
    // recognised as done: Twilio saw each message once.
    assert_eq!(harness.twilio.received_requests().await.unwrap().len(), 30);
    nudge_testkit::eventually("an empty queue", Duration::from_secs(30), || async {
        (harness.queue.depth(&harness.queue.url).await == 0).then_some(())
    })
    .await;
    assert_eq!(harness.queue.depth(&harness.queue.dlq_url).await, 0);
    // And the cut did land mid-work: some deletes were lost, and their messages came
    // back to be recognised as already sent.
    let metrics = harness.sender.metrics.encode();
    let duplicates = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("nudge_sender_messages_total{outcome=\"duplicate\",error_code=\"\"} ")
        })
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(duplicates >= 1, "{metrics}");
}
