//! Tracing for every Nudge service, set up in one call at start:
//!
//! - logs to stdout, human-readable by default, JSON with `LOG_FORMAT=json`, filtered by
//!   `RUST_LOG` (default `info`), a filter of the logs only;
//! - OpenTelemetry spans, always generated so that trace ids exist and travel (W3C
//!   `traceparent`) between services, and exported over OTLP/HTTP only when
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` is set (the exporter reads the standard `OTEL_*`
//!   variables itself).
//!
//! `traceparent` helpers carry a span's context through a queue message attribute.

pub mod background;
pub mod http;
pub mod metrics_server;
pub mod shutdown;

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("LOG_FORMAT must be 'json' or 'pretty', got '{0}'")]
    BadLogFormat(String),
    #[error("could not build the OTLP exporter: {0}")]
    Exporter(String),
    #[error("a global tracing subscriber is already set: {0}")]
    AlreadySet(String),
}

/// Keeps the tracer provider alive; dropping it flushes spans still in the exporter.
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        // Best effort: at exit there is nobody left to tell about a failed flush.
        let _ = self.provider.shutdown();
    }
}

/// Libraries that log each protocol message at `info` (pg_walstream logs every standby
/// status update: thousands a second while a server waits to shut down) are held to
/// `warn` unless `RUST_LOG` names them.
const CHATTY: [&str; 1] = ["pg_walstream"];

/// The filter of printed logs: `RUST_LOG` (default `info`), with [`CHATTY`] crates at
/// `warn` unless it names them.
fn log_filter(rust_log: Option<&str>) -> EnvFilter {
    let mut directives = rust_log.unwrap_or("info").to_owned();
    for target in CHATTY {
        if !directives.contains(target) {
            directives.push(',');
            directives.push_str(target);
            directives.push_str("=warn");
        }
    }
    EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// The body of every service's `main`: telemetry first (its guard flushes the spans
/// still in the exporter at exit), then `run`. An error is printed whole, its causes
/// included (`{:#}`), and the process exits non-zero for its orchestrator to see.
pub async fn main<E: std::fmt::Display>(
    service_name: &'static str,
    run: impl std::future::Future<Output = Result<(), E>>,
) -> std::process::ExitCode {
    let _telemetry = match init(service_name) {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("{service_name}: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match run.await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{service_name}: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Sets up logging and tracing for `service_name`. Call once, first thing in `main`.
pub fn init(service_name: &'static str) -> Result<TelemetryGuard, TelemetryError> {
    init_with(service_name, tracing_subscriber::layer::Identity::new())
}

/// [`init`] with one more layer, under the log and trace layers: the test suites add one
/// that captures every span field and event, to prove what is never recorded.
pub fn init_with<L>(service_name: &'static str, extra: L) -> Result<TelemetryGuard, TelemetryError>
where
    L: Layer<Registry> + Send + Sync + 'static,
{
    let json = match std::env::var("LOG_FORMAT").as_deref() {
        Err(_) | Ok("pretty") | Ok("") => false,
        Ok("json") => true,
        Ok(other) => return Err(TelemetryError::BadLogFormat(other.to_owned())),
    };
    let provider = tracer_provider(service_name)?;
    let tracer = provider.tracer(service_name);
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(provider.clone());

    // RUST_LOG filters what is printed, not what is traced: trace context must exist
    // (and propagate) even when logs are quiet, so each layer has its own filter.
    let log_filter = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    let fmt = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .boxed()
    } else {
        // Colour only on a terminal: log files and collectors get plain text.
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
        tracing_subscriber::fmt::layer()
            .with_target(false)
            .with_ansi(ansi)
            .boxed()
    };
    let traces = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(LevelFilter::INFO);
    tracing_subscriber::registry()
        .with(extra)
        .with(fmt.with_filter(log_filter))
        .with(traces)
        .try_init()
        .map_err(|e| TelemetryError::AlreadySet(e.to_string()))?;
    Ok(TelemetryGuard { provider })
}

/// A provider that always samples (so trace context exists and propagates), exporting
/// over OTLP only when an endpoint is configured.
pub fn tracer_provider(service_name: &'static str) -> Result<SdkTracerProvider, TelemetryError> {
    let resource = Resource::builder().with_service_name(service_name).build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    if std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
        || std::env::var_os("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some()
    {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        builder = builder.with_batch_exporter(exporter);
    }
    Ok(builder.build())
}

/// The W3C `traceparent` of the current span, if it belongs to a trace.
pub fn current_traceparent() -> Option<String> {
    let context = tracing::Span::current().context();
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove("traceparent")
}

/// Makes `span` a child of the remote span that `traceparent` names. A malformed value
/// is ignored (the span starts a trace of its own) rather than failing the work.
pub fn set_remote_parent(span: &tracing::Span, traceparent: &str) {
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let context = TraceContextPropagator::new().extract(&carrier);
    if let Err(error) = span.set_parent(context) {
        tracing::debug!(%error, "could not attach the remote trace parent");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TraceContextExt;

    #[test]
    fn a_span_with_a_remote_parent_joins_its_trace() {
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
            let span = tracing::info_span!("child");
            set_remote_parent(&span, parent);
            let _entered = span.enter();
            let own = current_traceparent().unwrap();
            // Same trace, a new span id of its own.
            assert!(
                own.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
                "{own}"
            );
            assert!(!own.contains("00f067aa0ba902b7"));
            let context = span.context();
            assert_eq!(
                context.span().span_context().trace_id().to_string(),
                "4bf92f3577b34da6a3ce929d0e0e4736"
            );
        });
    }

    #[test]
    fn no_traceparent_outside_a_trace() {
        assert_eq!(current_traceparent(), None);
    }
}
