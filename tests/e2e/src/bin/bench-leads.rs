//! Benchmark of lead searches (docs/benchmarks.md):
//!
//! 1. parsing: search results read into leads (canonical URL, title, snippet) per
//!    second, on one core;
//! 2. the worker: searches worked end to end (claim, budget, provider request, parse,
//!    page stored with its leads) against the sandbox's fake of Google Custom Search,
//!    with no pause between pages: pages and results per second, so the worker's own
//!    cost, not a provider's rate limit;
//! 3. the CSV export: `GET /v1/leads.csv` of a tenant's leads, leads per second.
//!
//! Runs the real worker, the sandbox and `messaging-api` in-process against a fresh
//! database:
//!   cargo build --release -p nudge-e2e --bin bench-leads
//!   ~/.cache/nudge/target/release/bench-leads [searches, default 40] [leads to export, default 20000]
//! Needs Postgres and LocalStack running (`localstack/host.sh start`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark tool: failing loudly is right"
)]

use std::time::{Duration, Instant};

use lead_search::profile::{parse_hit, SearchHit};
use nudge_db::lead_searches::{FoundLead, PageRecord};
use nudge_db::models::LeadSearch;
use nudge_domain::{LeadQuery, LeadSearchId, TenantId};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let searches: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(40);
    let exported: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    parsing();
    worker(searches).await;
    export(exported).await;
}

fn parsing() {
    let hits: Vec<SearchHit> = (0..10_000)
        .map(|i| SearchHit {
            title: format!("Person {i}, PhD - Head of Growth - Acme {i} | LinkedIn"),
            url: format!("https://de.linkedin.com/in/person-{i}/?trk=public_profile&originalSubdomain=de"),
            snippet: format!(
                "Head of Growth · Experience: Acme {i} · Location: Berlin, Germany · 500+ connections on LinkedIn."
            ),
        })
        .collect();
    let started = Instant::now();
    let mut parsed = 0;
    for _ in 0..20 {
        parsed += hits.iter().filter_map(parse_hit).count();
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "parsing: {parsed} results in {seconds:.2} s = {:.0} results/s",
        parsed as f64 / seconds
    );
}

async fn worker(searches: usize) {
    let db = nudge_testkit::TestDb::new().await;
    let queue = nudge_testkit::TestQueue::with_visibility("bench-leads", 5, 30).await;
    let sandbox_url = provider_sandbox::spawn_local().unwrap();
    // The service as `main` builds it, from the variables an operator would set.
    let concurrency = 4;
    let vars: Vec<(String, String)> = [
        ("DATABASE_URL", db.url.as_str()),
        ("DATABASE_POOL_SIZE", "8"),
        ("LEAD_SEARCHES_QUEUE", queue.url.as_str()),
        ("LEAD_SEARCH_PROVIDER", "google"),
        ("GOOGLE_CSE_API_KEY", "bench-key"),
        ("GOOGLE_CSE_ENGINE_ID", "bench-cx"),
        ("GOOGLE_CSE_BASE_URL", sandbox_url.as_str()),
        ("LEAD_SEARCH_CONCURRENCY", "4"),
        ("LEAD_SEARCH_PAGE_DELAY_MS", "0"),
        ("LEAD_SEARCH_PROVIDER_TIMEOUT_MS", "10000"),
        ("LEAD_SEARCH_LEASE_SECONDS", "30"),
        ("LEAD_SEARCH_KEY_DAILY_QUERIES", "2000000"),
        ("LEAD_SEARCH_TENANT_DAILY_QUERIES", "1000000"),
        ("LEAD_SEARCH_WORKER_ID", "bench"),
        ("LEAD_SEARCH_METRICS_ADDRESS", "off"),
        ("OUTBOX_RELAY_INTERVAL_MS", "50"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let config = lead_search::Config::from_vars(&vars).unwrap();
    let application = lead_search::Application::build(config, &nudge_testkit::localstack_config())
        .await
        .unwrap();
    let stop = application.stop_token();
    tokio::spawn(application.run_until_stopped());

    // Searches of four tenants. The sandbox answers each with its whole corpus, so after
    // a tenant's first search most results are known leads: the same upsert and link.
    let mut conn = db.connect().await;
    let mut tenants = Vec::new();
    for t in 0..4 {
        tenants.push(
            nudge_testkit::tenant_with_shop(&mut conn, &format!("bench-{t}"))
                .await
                .0,
        );
    }
    let started = Instant::now();
    let mut ids = Vec::new();
    for i in 0..searches {
        let tenant = tenants[i % tenants.len()];
        let query = LeadQuery {
            keywords: vec![format!("bench {i}")],
            ..LeadQuery::default()
        };
        let id = LeadSearchId::new();
        nudge_db::lead_searches::insert(&mut conn, &search_row(tenant, id, query, 100), None)
            .await
            .unwrap();
        ids.push((tenant, id));
    }
    let mut done = Vec::new();
    for (tenant, id) in &ids {
        loop {
            let search = nudge_db::lead_searches::find(&mut conn, *tenant, *id)
                .await
                .unwrap()
                .unwrap();
            if search.status == "completed" {
                done.push(search);
                break;
            }
            assert!(search.status != "failed", "{search:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let pages: i64 = done.iter().map(|s| i64::from(s.pages_fetched)).sum();
    let results: i64 = done.iter().map(|s| i64::from(s.results_seen)).sum();
    println!(
        "worker (concurrency {concurrency}, no page delay): {searches} searches, {pages} pages, {results} results in {seconds:.2} s = {:.1} pages/s, {:.0} results/s",
        pages as f64 / seconds,
        results as f64 / seconds
    );
    stop.cancel();
}

fn search_row(
    tenant: TenantId,
    id: LeadSearchId,
    query: LeadQuery,
    max_results: i32,
) -> LeadSearch {
    let query = serde_json::to_value(query).unwrap();
    LeadSearch::queued(tenant.as_uuid(), id.as_uuid(), query, max_results)
}

async fn export(leads: usize) {
    let app = nudge_e2e::BenchApp::start(4, 200).await;
    let mut conn = app.db.connect().await;
    let id = LeadSearchId::new();
    let query = LeadQuery {
        keywords: vec!["export".into()],
        ..LeadQuery::default()
    };
    nudge_db::lead_searches::insert(&mut conn, &search_row(app.tenant, id, query, 1_000), None)
        .await
        .unwrap();
    let claimed = nudge_db::lead_searches::claim(
        &mut conn,
        app.tenant,
        id,
        "bench",
        "google",
        chrono::Duration::hours(1),
    )
    .await
    .unwrap();
    assert!(matches!(
        claimed,
        nudge_db::lead_searches::Claim::Claimed(_)
    ));
    for page in 0..leads.div_ceil(500) {
        let found: Vec<FoundLead> = (page * 500..((page + 1) * 500).min(leads))
            .map(|i| FoundLead {
                profile_url: format!("https://www.linkedin.com/in/person-{i}"),
                name: format!("Person {i}, PhD"),
                headline: Some("Head of Growth, \"EMEA\"".into()),
                company: Some(format!("Acme {i}")),
                location: Some("=Berlin, Germany".into()),
            })
            .collect();
        let offset = i32::try_from(page).unwrap();
        nudge_db::lead_searches::record_page(
            &mut conn,
            app.tenant,
            id,
            "bench",
            &PageRecord {
                offset,
                next_offset: offset + 1,
                results: i32::try_from(found.len()).unwrap(),
                skipped: 0,
                leads: found,
                finished: false,
            },
        )
        .await
        .unwrap()
        .unwrap();
    }
    let http = reqwest::Client::new();
    for run in 1..=3 {
        let started = Instant::now();
        let body = http
            .get(format!("{}/v1/leads.csv", app.base))
            .bearer_auth(&app.key)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let seconds = started.elapsed().as_secs_f64();
        let rows = body.iter().filter(|b| **b == b'\n').count() - 1;
        assert_eq!(rows, leads);
        println!(
            "export run {run}: {rows} leads, {:.1} MB in {seconds:.2} s = {:.0} leads/s",
            body.len() as f64 / 1e6,
            rows as f64 / seconds
        );
    }
}
