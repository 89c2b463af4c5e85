//! `LOG_FORMAT` is checked at start. The variable is process-wide, so this test is a
//! binary of its own: one test, one process, under any runner.

use nudge_telemetry::TelemetryError;

#[test]
fn an_unknown_log_format_is_refused() {
    // The only test of this process, so nothing reads the environment meanwhile.
    std::env::set_var("LOG_FORMAT", "xml");
    assert!(matches!(
        nudge_telemetry::init("test"),
        Err(TelemetryError::BadLogFormat(format)) if format == "xml"
    ));
}
