//! Everything the app records, captured while a test asks: every event and every span's
//! fields (at close, so fields recorded late are there), as JSON. This is a superset of
//! what reaches stdout (`RUST_LOG`, default `info`) and of the attributes an OTLP
//! exporter sends, so a secret absent here is absent from both.
//!
//! The layer is part of the suite's telemetry (`helpers::spawn_app`) and writes nothing
//! until a test calls [`start`].

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use tracing::subscriber::Interest;
use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::filter::dynamic_filter_fn;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// What has been written since [`start`]; `None` when no test is capturing.
static CAPTURED: Mutex<Option<Vec<u8>>> = Mutex::new(None);
/// Whether a test is capturing: read on every event, so an atomic rather than the lock.
static CAPTURING: AtomicBool = AtomicBool::new(false);

/// Crates whose every `trace!` is captured too; the rest are captured from `debug`
/// (as verbose as an operator would run them).
const OURS: [&str; 5] = [
    "messaging_api",
    "nudge_db",
    "nudge_domain",
    "nudge_telemetry",
    "tracing_actix_web",
];

/// The test's fake identity provider runs in the test's process; what it logs is not
/// Nudge's.
const NOT_OURS: [&str; 1] = ["provider_sandbox"];

/// Whether a callsite is ever captured: decided once per callsite, so the other crates'
/// `trace!`s cost the tests that do not capture nothing.
fn captured_callsite(metadata: &'static Metadata<'static>) -> Interest {
    let target = metadata.target();
    let wanted = !NOT_OURS.iter().any(|prefix| target.starts_with(prefix))
        && (*metadata.level() <= Level::DEBUG
            || OURS.iter().any(|prefix| target.starts_with(prefix)));
    if wanted {
        Interest::sometimes()
    } else {
        Interest::never()
    }
}

struct Writer;

impl Write for Writer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut captured) = CAPTURED.lock() {
            if let Some(buffer) = captured.as_mut() {
                buffer.extend_from_slice(bytes);
            }
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The suite's capturing layer.
pub fn layer<S>() -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .json()
        .with_span_list(true)
        .with_current_span(true)
        .with_span_events(FmtSpan::CLOSE)
        .with_writer(|| Writer)
        .with_filter(
            dynamic_filter_fn(|_, _| CAPTURING.load(Ordering::Relaxed))
                .with_callsite_filter(captured_callsite),
        )
}

/// Captures from now until the returned guard drops.
pub fn start() -> Capture {
    *CAPTURED.lock().unwrap() = Some(Vec::new());
    CAPTURING.store(true, Ordering::Relaxed);
    Capture
}

pub struct Capture;

impl Capture {
    /// Everything captured so far.
    pub fn text(&self) -> String {
        let captured = CAPTURED.lock().unwrap();
        String::from_utf8_lossy(captured.as_deref().unwrap_or_default()).into_owned()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        CAPTURING.store(false, Ordering::Relaxed);
        if let Ok(mut captured) = CAPTURED.lock() {
            *captured = None;
        }
    }
}
