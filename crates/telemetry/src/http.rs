//! The root span of every HTTP request the services serve, and who the request is from.
//!
//! tracing-actix-web's default span records `http.target`, the path with its query
//! string: invitation and email links, OIDC codes and `state`s would land in every log
//! line and every exported span. This span records the *route* (`/console/invite/{token}`,
//! never the token) and no query; otherwise it carries the same OpenTelemetry fields,
//! continues an incoming `traceparent`, and adds `tenant_id` for authentication to fill.
//!
//! The client address is the TCP peer, or, behind trusted proxies, the client they
//! report (`nudge_domain::client_address`): the same address per-client limits count.

use std::net::IpAddr;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::{web, Error, HttpMessage, HttpRequest};
use nudge_domain::TrustedProxies;
use opentelemetry::trace::TraceContextExt;
use tracing::field::Empty;
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The root span builder of `messaging-api` and `webhook-listener`.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let route = request
            .match_pattern()
            .unwrap_or_else(|| "default".to_owned());
        let method = request.method().as_str().to_owned();
        let user_agent = request
            .headers()
            .get("user-agent")
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        let client_ip = client_ip(request.request()).map(|ip| ip.to_string());
        let span = tracing::info_span!(
            "HTTP request",
            otel.name = %format!("{method} {route}"),
            otel.kind = "server",
            http.method = %method,
            http.route = %route,
            http.flavor = ?request.version(),
            http.scheme = %request.connection_info().scheme(),
            http.client_ip = client_ip.as_deref().unwrap_or(""),
            http.user_agent = %user_agent,
            http.status_code = Empty,
            otel.status_code = Empty,
            trace_id = Empty,
            request_id = %request_id,
            exception.message = Empty,
            exception.details = Empty,
            tenant_id = Empty,
        );
        if let Some(traceparent) = request
            .headers()
            .get("traceparent")
            .and_then(|value| value.to_str().ok())
        {
            crate::set_remote_parent(&span, traceparent);
        }
        let trace_id = span.context().span().span_context().trace_id();
        span.record("trace_id", tracing::field::display(trace_id));
        span
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// Who sent `request`: the TCP peer, or the client the trusted proxies in front of us
/// report (when the app holds a [`TrustedProxies`] as app data).
pub fn client_ip(request: &HttpRequest) -> Option<IpAddr> {
    let peer = request.peer_addr()?.ip();
    Some(match request.app_data::<web::Data<TrustedProxies>>() {
        Some(proxies) => proxies.client(peer, forwarded_for(request.headers())),
        None => peer,
    })
}

/// Every `X-Forwarded-For` value, in the order received.
fn forwarded_for(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all("x-forwarded-for")
        .filter_map(|value| value.to_str().ok())
}
