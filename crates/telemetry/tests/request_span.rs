//! What the request span records: the route, never the path's values or the query
//! (where invitation and email links, reset and OIDC codes travel), and the client a
//! trusted balancer reports.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use actix_web::{test, web, App, HttpResponse};
use nudge_domain::TrustedProxies;
use nudge_telemetry::http::RequestSpan;
use tracing_actix_web::TracingLogger;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::fmt::MakeWriter;

/// Everything the subscriber writes, for the test to read.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Every span field, at every event and when the span closes, as JSON (what a log
/// shipper or an OTLP exporter would get), captured for this thread until the guard
/// drops.
fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_span_list(true)
        .with_current_span(true)
        .with_span_events(FmtSpan::CLOSE)
        .with_writer(captured.clone())
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

async fn invitation(token: web::Path<String>) -> HttpResponse {
    tracing::info!("invitation opened");
    HttpResponse::Ok().body(token.len().to_string())
}

#[actix_web::test]
async fn the_route_is_recorded_never_a_token_in_the_path_or_the_query() {
    let (captured, _default) = capture();

    let app = test::init_service(
        App::new()
            .wrap(TracingLogger::<RequestSpan>::new())
            .app_data(web::Data::new(TrustedProxies::parse("10.0.0.0/8").unwrap()))
            .route("/console/invitations/{token}", web::get().to(invitation)),
    )
    .await;
    let request = test::TestRequest::get()
        .uri("/console/invitations/inv-SECRET-TOKEN-1?code=SECRET-CODE-2&state=SECRET-STATE-3")
        .peer_addr("10.1.2.3:40000".parse().unwrap())
        .insert_header(("x-forwarded-for", "6.6.6.6, 203.0.113.50"))
        .to_request();
    let response = test::call_service(&app, request).await;
    assert!(response.status().is_success());

    let text = captured.text();
    assert!(
        text.contains("invitation opened"),
        "captured nothing: {text}"
    );
    assert!(text.contains("/console/invitations/{token}"), "{text}");
    assert!(!text.contains("SECRET"), "a secret in the logs: {text}");
    assert!(
        text.contains("\"http.client_ip\":\"203.0.113.50\""),
        "{text}"
    );
    assert!(
        text.contains("\"otel.name\":\"GET /console/invitations/{token}\""),
        "{text}"
    );
}

#[actix_web::test]
async fn a_forwarded_header_from_an_untrusted_peer_is_not_the_client() {
    let (captured, _default) = capture();
    let app = test::init_service(
        App::new()
            .wrap(TracingLogger::<RequestSpan>::new())
            .route("/console/invitations/{token}", web::get().to(invitation)),
    )
    .await;
    let request = test::TestRequest::get()
        .uri("/console/invitations/x")
        .peer_addr("198.51.100.9:40000".parse().unwrap())
        .insert_header(("x-forwarded-for", "203.0.113.50"))
        .to_request();
    test::call_service(&app, request).await;
    let text = captured.text();
    assert!(
        text.contains("\"http.client_ip\":\"198.51.100.9\""),
        "{text}"
    );
}
