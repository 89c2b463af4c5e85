//! Spans leave over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set. The variable is
//! process-wide, so this test is a binary of its own: one test, one process, under any
//! runner (`cargo test` runs a binary's tests on threads of one process).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

use opentelemetry::trace::TracerProvider as _;
use tracing_subscriber::layer::SubscriberExt;

#[test]
fn spans_are_exported_over_otlp_http_when_an_endpoint_is_set() {
    // A one-shot OTLP/HTTP collector: accept one request, remember its path.
    let collector = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", collector.local_addr().unwrap());
    let received = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut stream, _) = collector.accept().unwrap();
        let mut buffer = vec![0u8; 64 * 1024];
        let read = stream.read(&mut buffer).unwrap();
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .unwrap();
        String::from_utf8_lossy(&buffer[..read])
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned()
    });
    // The only test of this process, so nothing reads the environment meanwhile.
    std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint);
    let provider = nudge_telemetry::tracer_provider("telemetry-test").unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("exported").in_scope(|| {});
    });
    provider.force_flush().unwrap();
    assert_eq!(received.join().unwrap(), "POST /v1/traces HTTP/1.1");
}
