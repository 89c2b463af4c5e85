//! The running API fuzzed from its own published description: Schemathesis reads
//! `/openapi.json` of a real `messaging-api` process and sends generated requests,
//! valid and invalid, to every operation, failing on any 5xx and on any answer the
//! description does not allow (status, content type, headers, body schema).
//!
//! `./nudge test` installs Schemathesis (pinned) into the cache and sets
//! `NUDGE_SCHEMATHESIS`. Time-bounded by `NUDGE_FUZZ_SECONDS` (default 120); the seed is
//! `NUDGE_FUZZ_SEED` (fixed in CI, printed, so that a failure can be replayed):
//! docs/reliability.md has the longer run's command.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

use std::path::PathBuf;
use std::process::Command;

use nudge_e2e::{
    aws_env, create_tenant_with_cli, free_port, logs_dir, wait_ok, Service, SHOP_NUMBER,
};
use nudge_testkit::{TestDb, TestQueue};

/// The seed CI uses: the same requests on every run, unless told otherwise.
const DEFAULT_SEED: &str = "20261207";

fn schemathesis() -> PathBuf {
    let path = std::env::var("NUDGE_SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            let cache = std::env::var("NUDGE_CACHE")
                .map(PathBuf::from)
                .unwrap_or_else(|_| {
                    PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/nudge")
                });
            cache.join("schemathesis-4.32.5/venv/bin/st")
        });
    assert!(
        path.exists(),
        "Schemathesis is not installed at {}: run the tests with ./nudge test, which installs it",
        path.display()
    );
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_requests_never_get_a_5xx_or_an_answer_outside_the_description() {
    let st = schemathesis();
    let seed = std::env::var("NUDGE_FUZZ_SEED").unwrap_or_else(|_| DEFAULT_SEED.into());
    let seconds = std::env::var("NUDGE_FUZZ_SECONDS").unwrap_or_else(|_| "120".into());
    eprintln!("fuzzing with seed {seed} for {seconds} s (NUDGE_FUZZ_SEED, NUDGE_FUZZ_SECONDS)");

    let db = TestDb::new().await;
    let queue = TestQueue::new("fuzz", 5).await;
    let logs = logs_dir("fuzz");
    let tenant = create_tenant_with_cli(&db.url, "fuzz", &[SHOP_NUMBER]);
    let key = tenant["api_key"].as_str().unwrap().to_owned();
    {
        // The rate limit would answer most requests 429 (described, but it tests little).
        let mut conn = db.connect().await;
        let id: nudge_domain::TenantId = tenant["tenant_id"].as_str().unwrap().parse().unwrap();
        nudge_db::tenants::set_limits(&mut conn, id, Some(i32::MAX), Some(i32::MAX))
            .await
            .unwrap();
    }
    let port = free_port();
    let mut env = vec![
        ("DATABASE_URL", db.url.clone()),
        ("HTTP_HOST", "127.0.0.1".to_owned()),
        ("HTTP_PORT", port.to_string()),
        ("OUTBOUND_SMS_QUEUE", queue.name.clone()),
    ];
    env.extend(aws_env());
    let _api = Service::start("messaging-api", &["serve"], &env, &logs);
    let api = format!("http://127.0.0.1:{port}");
    wait_ok(&reqwest::Client::new(), &format!("{api}/readyz")).await;

    let report = logs.join("schemathesis.junit.xml");
    let output = tokio::task::spawn_blocking(move || {
        let logs = report.parent().unwrap().to_path_buf();
        Command::new(st)
            .args(["run", &format!("{api}/openapi.json")])
            .args(["--url", &api])
            .args(["--header", &format!("Authorization: Bearer {key}")])
            .args(["--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance"])
            // One worker: with two threads, CPython 3.11's `ast` (which Hypothesis calls
            // to describe its strategies) can fail spuriously with "AST constructor
            // recursion depth mismatch" (python/cpython#106905), an error of the tool
            // and not of the API, seen here once under load.
            .args(["--seed", &seed, "--max-time", &seconds, "--workers", "1"])
            .args(["--generation-database", "none", "--no-color"])
            .args(["--request-timeout", "10"])
            .args(["--report", "junit", "--report-junit-path"])
            .arg(&report)
            .env("SCHEMATHESIS_HOOKS", "")
            // Its cache of crashes goes beside the logs, not into the checkout.
            .current_dir(&logs)
            .output()
            .expect("run schemathesis")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "Schemathesis found answers the API must not give:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // A run that tested nothing proves nothing.
    assert!(
        stdout.contains("passed") && !stdout.contains("No operations"),
        "{stdout}"
    );
}
