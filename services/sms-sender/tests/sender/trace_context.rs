//! The worker's span for a message continues the trace of the API request that
//! accepted it, through the SQS message attribute `traceparent`.

use nudge_queue::{ReceivedMessage, SqsQueue};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tracing_subscriber::layer::SubscriberExt;

use crate::helpers::{twilio_accepts, Harness};

#[tokio::test(flavor = "current_thread")]
async fn the_message_span_is_a_child_of_the_producers_span() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    // current_thread: the whole test runs on this thread, under this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);

    let harness = Harness::new(3, 3).await;
    twilio_accepts("SMeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee")
        .mount(&harness.twilio)
        .await;
    let (id, envelope) = harness.queued_message("+14155550100", "traced").await;
    harness.queue.send_raw(&envelope).await;
    let queue = SqsQueue::new(nudge_testkit::sqs_client(), &harness.queue.url);
    let mut received = queue
        .receive(1, std::time::Duration::from_secs(5))
        .await
        .unwrap();
    let message: ReceivedMessage = received.remove(0);
    let message = ReceivedMessage {
        traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
        ..message
    };

    sms_sender::worker::handle(&harness.sender, &queue, message).await;
    assert_eq!(harness.message(id).await.status, "sent");
    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let span = spans
        .iter()
        .find(|s| s.name == "queue_message")
        .expect("a queue_message span");
    assert_eq!(
        span.span_context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(span.parent_span_id.to_string(), "00f067aa0ba902b7");
    let message_id = span
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == "message_id")
        .unwrap();
    assert_eq!(message_id.value.to_string(), id.to_string());
    let queue_name = span
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == "queue")
        .unwrap();
    assert_eq!(queue_name.value.to_string(), queue.name());
}
