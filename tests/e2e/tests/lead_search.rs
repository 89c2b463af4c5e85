//! Lead searches end to end, as separate processes: the real `messaging-api`,
//! `lead-search` and `provider-sandbox` (its fake of Google Custom Search) binaries,
//! a fresh database and fresh SQS queues on LocalStack. A merchant asks for leads over
//! HTTP while the worker is killed (SIGKILL) mid-search and started again, then stopped
//! with SIGTERM and started again; the search completes with every page stored once,
//! and the leads are listed and exported.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

use std::time::Duration;

use nudge_e2e::{aws_env, create_tenant_with_cli, free_port, start_sandbox, Service};
use nudge_testkit::{eventually, TestDb, TestQueue};
use serde_json::{json, Value};

/// The worker's lease and the queue's visibility timeout, short so that a killed
/// worker's search is taken over quickly.
const LEASE_SECONDS: u32 = 5;

fn worker_env(
    database_url: &str,
    queue: &str,
    sandbox: &str,
    metrics_port: u16,
) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("DATABASE_URL", database_url.to_owned()),
        ("LEAD_SEARCHES_QUEUE", queue.to_owned()),
        ("LEAD_SEARCH_PROVIDER", "google".into()),
        ("GOOGLE_CSE_API_KEY", "e2e-key".into()),
        ("GOOGLE_CSE_ENGINE_ID", "e2e-cx".into()),
        ("GOOGLE_CSE_BASE_URL", sandbox.to_owned()),
        ("LEAD_SEARCH_PROVIDER_TIMEOUT_MS", "2000".into()),
        ("LEAD_SEARCH_PAGE_DELAY_MS", "400".into()),
        ("LEAD_SEARCH_LEASE_SECONDS", LEASE_SECONDS.to_string()),
        ("OUTBOX_RELAY_INTERVAL_MS", "200".into()),
        (
            "LEAD_SEARCH_METRICS_ADDRESS",
            format!("127.0.0.1:{metrics_port}"),
        ),
    ];
    env.extend(aws_env());
    env
}

#[tokio::test]
async fn a_search_survives_kills_and_stops_of_its_worker_and_its_leads_are_listed_and_exported() {
    let db = TestDb::new().await;
    let outbound = TestQueue::new("e2e-leads-outbound", 3).await;
    let queue = TestQueue::with_visibility("e2e-leads", 5, LEASE_SECONDS).await;
    let logs = std::env::temp_dir().join(format!("nudge-e2e-leads-{}", std::process::id()));
    std::fs::create_dir_all(&logs).unwrap();
    let (api_port, sandbox_port, metrics_port) = (free_port(), free_port(), free_port());
    let tenant = create_tenant_with_cli(&db.url, "Lead hunter", &[]);
    let key = tenant["api_key"].as_str().unwrap().to_owned();

    let _sandbox = start_sandbox(sandbox_port, &logs);
    let sandbox = format!("http://127.0.0.1:{sandbox_port}");
    let mut api_env = vec![
        ("DATABASE_URL", db.url.clone()),
        ("HTTP_HOST", "127.0.0.1".into()),
        ("HTTP_PORT", api_port.to_string()),
        ("OUTBOUND_SMS_QUEUE", outbound.name.clone()),
        ("LEAD_SEARCHES_QUEUE", queue.name.clone()),
        ("OUTBOX_RELAY_INTERVAL_MS", "200".into()),
    ];
    api_env.extend(aws_env());
    let _api = Service::start("messaging-api", &["serve"], &api_env, &logs);
    let env = worker_env(&db.url, &queue.name, &sandbox, metrics_port);
    let mut worker = Service::start("lead-search", &[], &env, &logs);

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let api = format!("http://127.0.0.1:{api_port}");
    for base in [&api, &sandbox] {
        eventually(
            &format!("{base} healthy"),
            Duration::from_secs(30),
            || async {
                let response = http.get(format!("{base}/healthz")).send().await.ok()?;
                response.status().is_success().then_some(())
            },
        )
        .await;
    }
    let get = |path: String| {
        let request = http.get(format!("{api}{path}")).bearer_auth(&key);
        async move { request.send().await.unwrap() }
    };
    let response = http
        .post(format!("{api}/v1/lead-searches"))
        .bearer_auth(&key)
        .json(&json!({"query": {"keywords": ["ecommerce"]}, "max_results": 100}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let search: Value = response.json().await.unwrap();
    let search_path = format!("/v1/lead-searches/{}", search["id"].as_str().unwrap());
    let progress = || async {
        let search: Value = get(search_path.clone()).await.json().await.unwrap();
        search
    };

    // Three SIGKILLs, each after the search has stored at least one more page.
    let mut pages_seen = 0;
    for _ in 0..3 {
        let at_least = pages_seen + 1;
        pages_seen = eventually("another page stored", Duration::from_secs(60), || async {
            let pages = progress().await["progress"]["pages_fetched"]
                .as_i64()
                .unwrap();
            (pages >= at_least).then_some(pages)
        })
        .await;
        worker.kill();
        worker = Service::start("lead-search", &[], &env, &logs);
    }
    // Then a SIGTERM mid-search: the worker hands the search back and exits in time.
    let at_least = pages_seen + 1;
    eventually("another page stored", Duration::from_secs(60), || async {
        let pages = progress().await["progress"]["pages_fetched"]
            .as_i64()
            .unwrap();
        (pages >= at_least).then_some(())
    })
    .await;
    assert!(
        worker.terminate(Duration::from_secs(30)),
        "lead-search did not stop cleanly on SIGTERM"
    );
    let _worker = Service::start("lead-search", &[], &env, &logs);

    let done = eventually("the search completed", Duration::from_secs(120), || async {
        let search = progress().await;
        (search["status"] == "completed").then_some(search)
    })
    .await;
    let p = &done["progress"];
    assert_eq!(p["results_seen"], 100, "{done:#}");
    assert_eq!(p["pages_fetched"], 10, "each page stored once: {done:#}");
    assert_eq!(
        p["leads_new"].as_i64().unwrap()
            + p["duplicates"].as_i64().unwrap()
            + p["skipped"].as_i64().unwrap(),
        100
    );

    // Every lead once, through the list's pages and the export.
    let mut listed = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/leads?limit=25&cursor={c}"),
            None => "/v1/leads?limit=25".into(),
        };
        let page: Value = get(path).await.json().await.unwrap();
        for lead in page["data"].as_array().unwrap() {
            assert!(listed.insert(lead["profile_url"].as_str().unwrap().to_owned()));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(listed.len() as i64, p["leads_new"].as_i64().unwrap());
    // The last worker's metrics: the pages it fetched, the search it completed.
    let metrics = http
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            r#"nudge_lead_search_provider_requests_total{provider="google",outcome="ok"}"#
        ) && metrics.contains(r#"nudge_lead_search_searches_ended_total{kind="completed"} 1"#),
        "{metrics}"
    );
    let csv = get("/v1/leads.csv".into()).await.text().await.unwrap();
    assert_eq!(
        csv.lines()
            .filter(|l| l.contains("linkedin.com/in/"))
            .count(),
        listed.len()
    );
}
