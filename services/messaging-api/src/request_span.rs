//! The root span of every request: tracing-actix-web's fields (method, route, status,
//! OpenTelemetry context from an incoming `traceparent`) plus `tenant_id`, filled in by
//! authentication, so that a tenant's requests can be found in logs and traces.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::Error;
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};

pub struct NudgeRootSpan;

impl RootSpanBuilder for NudgeRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        tracing_actix_web::root_span!(request, tenant_id = tracing::field::Empty)
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}
