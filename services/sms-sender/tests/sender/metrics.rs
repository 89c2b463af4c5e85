//! `/metrics`: outcomes by error code, provider latency, in-flight work and the queue's
//! depth, in the Prometheus text format.

use std::time::Duration;

use nudge_queue::SqsQueue;
use tokio_util::sync::CancellationToken;

use crate::helpers::{received, twilio_accepts_each, twilio_refuses, Harness};

/// The value of the sample whose name and labels are exactly `series`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
}

#[tokio::test]
async fn outcomes_and_provider_calls_are_counted_and_served() {
    let harness = Harness::new(3, 3).await;
    twilio_refuses(500, 20500, "Internal Server Error")
        .up_to_n_times(1)
        .mount(&harness.twilio)
        .await;
    twilio_accepts_each().mount(&harness.twilio).await;
    let (_, first) = harness.queued_message("+14155550100", "a").await;
    let (_, second) = harness.queued_message("+14155550101", "b").await;
    let sender = &harness.sender;
    sender.process(&received(first.clone(), 1)).await; // 500: in doubt, reconcile first
    sender.process(&received(first.clone(), 2)).await; // sent
    sender.process(&received(first, 3)).await; // a duplicate delivery
    sender.process(&received(second, 1)).await; // sent
    sender.process(&received("not json".into(), 1)).await; // poison

    let text = sender.metrics.encode();
    let outcome = |outcome: &str, code: &str| {
        sample(
            &text,
            &format!("nudge_sender_messages_total{{outcome=\"{outcome}\",error_code=\"{code}\"}}"),
        )
    };
    assert_eq!(outcome("sent", ""), Some(2.0), "{text}");
    assert_eq!(outcome("in_doubt", "20500"), Some(1.0), "{text}");
    assert_eq!(outcome("duplicate", ""), Some(1.0), "{text}");
    assert_eq!(outcome("poison", ""), Some(1.0), "{text}");
    assert_eq!(outcome("failed", "20500"), None, "{text}");
    let calls = |result: &str| {
        sample(
            &text,
            &format!("nudge_sender_provider_request_duration_seconds_count{{operation=\"create_message\",result=\"{result}\"}}"),
        )
    };
    assert_eq!(calls("ok"), Some(2.0), "{text}");
    assert_eq!(calls("error"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "nudge_sender_in_flight"), Some(0.0), "{text}");

    // The same text over HTTP, with the OpenMetrics content type.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let server =
        nudge_telemetry::metrics_server::serve(listener, sender.metrics.clone(), stop.clone())
            .unwrap();
    let response = reqwest::get(format!("http://{address}/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let served = response.text().await.unwrap();
    assert_eq!(
        sample(
            &served,
            "nudge_sender_messages_total{outcome=\"sent\",error_code=\"\"}"
        ),
        Some(2.0)
    );
    assert!(served.ends_with("# EOF\n"));
    let health = reqwest::get(format!("http://{address}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the metrics server stops when told")
        .unwrap();
}

#[tokio::test]
async fn messages_being_processed_show_as_in_flight() {
    let harness = Harness::new(3, 3).await;
    let metrics = harness.sender.metrics.clone();
    let first = metrics.in_flight();
    let second = metrics.in_flight();
    assert_eq!(
        sample(&metrics.encode(), "nudge_sender_in_flight"),
        Some(2.0)
    );
    drop(first);
    assert_eq!(
        sample(&metrics.encode(), "nudge_sender_in_flight"),
        Some(1.0)
    );
    drop(second);
    assert_eq!(
        sample(&metrics.encode(), "nudge_sender_in_flight"),
        Some(0.0)
    );
}

#[tokio::test]
async fn the_queue_and_its_dead_letter_queue_are_sampled_from_sqs() {
    let harness = Harness::new(3, 3).await;
    harness.queue.send_raw("one").await;
    harness.queue.send_raw("two").await;
    let metrics = harness.sender.metrics.clone();
    let stop = CancellationToken::new();
    let sampler = tokio::spawn(sms_sender::metrics::sample_queues(
        metrics.clone(),
        SqsQueue::new(nudge_testkit::sqs_client(), &harness.queue.url),
        stop.clone(),
    ));
    let series = |queue: &str, state: &str| {
        format!("nudge_sender_queue_messages{{queue=\"{queue}\",state=\"{state}\"}}")
    };
    let text = nudge_testkit::eventually("a sample", Duration::from_secs(10), || async {
        let text = metrics.encode();
        sample(&text, &series(&harness.queue.dlq_name, "visible")).map(|_| text)
    })
    .await;
    assert_eq!(
        sample(&text, &series(&harness.queue.name, "visible")),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, &series(&harness.queue.name, "in_flight")),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, &series(&harness.queue.dlq_name, "visible")),
        Some(0.0),
        "{text}"
    );
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), sampler)
        .await
        .expect("the sampler stops when told")
        .unwrap();
}
