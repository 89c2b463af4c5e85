use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nudge_db::models::OutboxRow;
use nudge_db::schema::{lead_search_budget, outbox, queue_rejections};
use nudge_domain::{Envelope, LeadSearchId, LeadSearchV1};
use serde_json::json;

use crate::helpers::{everyone, positions, Harness};

/// Waits until the search has stored at least `pages` pages.
async fn after_pages(
    harness: &Harness,
    tenant: nudge_domain::TenantId,
    id: LeadSearchId,
    pages: i32,
) {
    nudge_testkit::eventually("pages stored", Duration::from_secs(30), || async {
        (harness.search_row(tenant, id).await.pages_fetched >= pages).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_429_mid_search_waits_and_resumes_where_it_stopped() {
    let harness = Harness::new("brave").await;
    let tenant = harness.tenant("a").await;
    let id = harness.search(tenant, everyone(), 200).await;
    let worker = harness.worker("w1", "sandbox-key", 100).await;
    harness.start(worker.clone());
    after_pages(&harness, tenant, id, 2).await;
    harness.fault(json!({"rate_limited": 1})).await;

    let waiting = harness.until_status(tenant, id, "waiting").await;
    assert!(
        waiting
            .waiting_reason
            .as_deref()
            .unwrap()
            .contains("rate limited by brave"),
        "{waiting:?}"
    );
    assert!(waiting.resume_at.is_some());
    let done = harness.until_status(tenant, id, "completed").await;
    assert_eq!(done.errors, 1);
    assert_eq!(done.results_seen, 200, "{done:?}");
    // Every page once; the refused one asked again after the wait.
    let served = harness.served().await;
    assert_eq!(positions(&served, "ok"), (0..10).collect::<Vec<_>>());
    assert_eq!(positions(&served, "RateLimited").len(), 1);
    let metrics = worker.searcher.metrics.encode();
    assert!(
        metrics.contains(r#"nudge_lead_search_waits_total{kind="rate_limited"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(
        r#"nudge_lead_search_provider_requests_total{provider="brave",outcome="rate_limited"} 1"#
    ));
}

#[tokio::test]
async fn a_spent_provider_quota_waits_until_it_resets() {
    let harness = Harness::new("google").await;
    let tenant = harness.tenant("a").await;
    harness.fault(json!({"quota_exhausted": 1})).await;
    let id = harness.search(tenant, everyone(), 100).await;
    harness.start(harness.worker("w1", "sandbox-key", 100).await);
    let waiting = harness.until_status(tenant, id, "waiting").await;
    assert!(waiting.waiting_reason.unwrap().contains("quota"));
    // Google's daily quota resets at midnight in California: hours away, not seconds.
    let resume = waiting.resume_at.unwrap();
    assert!(
        resume > chrono::Utc::now() + chrono::Duration::minutes(1),
        "{resume}"
    );
    // The wake-up is queued in the outbox for that time, not held by SQS.
    let mut conn = harness.db.connect().await;
    let wake_up: OutboxRow = outbox::table
        .filter(outbox::queue.eq("lead-searches"))
        .select(OutboxRow::as_select())
        .first(&mut conn)
        .await
        .unwrap();
    assert_eq!(wake_up.available_at, resume);
    let envelope = Envelope::<LeadSearchV1>::from_json(&wake_up.body.to_string()).unwrap();
    assert_eq!(envelope.payload.lead_search_id, id);
}

#[tokio::test]
async fn a_spent_tenant_budget_waits_for_the_next_utc_day_and_charges_no_key() {
    let harness = Harness::new("google").await;
    let tenant = harness.tenant("a").await;
    let id = harness.search(tenant, everyone(), 100).await;
    harness.start(harness.worker("w1", "sandbox-key", 2).await);
    let waiting = harness.until_status(tenant, id, "waiting").await;
    assert_eq!(waiting.pages_fetched, 2);
    assert!(
        waiting
            .waiting_reason
            .as_deref()
            .unwrap()
            .contains("tenant's daily budget of 2"),
        "{waiting:?}"
    );
    let tomorrow = (chrono::Utc::now().date_naive() + chrono::Days::new(1))
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    assert_eq!(waiting.resume_at, Some(tomorrow));
    let mut conn = harness.db.connect().await;
    let spent: Vec<(String, i32)> = lead_search_budget::table
        .select((lead_search_budget::scope, lead_search_budget::queries))
        .order(lead_search_budget::scope)
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(spent.len(), 2);
    assert!(spent.iter().all(|(_, queries)| *queries == 2), "{spent:?}");
    assert_eq!(positions(&harness.served().await, "ok").len(), 2);
}

#[tokio::test]
async fn a_crash_mid_search_resumes_from_the_last_stored_page_without_duplicates() {
    let harness = Harness::new("google").await;
    let tenant = harness.tenant("a").await;
    let id = harness.search(tenant, everyone(), 100).await;

    // The first worker runs on its own runtime, so that dropping the runtime kills it
    // at once, mid-request, with nothing handed back (as kill -9 would).
    let crashing = tokio::runtime::Runtime::new().unwrap();
    let worker = harness.worker("doomed", "sandbox-key", 100).await;
    crashing.spawn(lead_search::worker::run(
        worker,
        2,
        harness.stop.child_token(),
    ));
    after_pages(&harness, tenant, id, 3).await;
    harness.fault(json!({"slow": 1})).await;
    nudge_testkit::eventually("a slow page in flight", Duration::from_secs(20), || async {
        (!positions(&harness.served().await, "Slow").is_empty()).then_some(())
    })
    .await;
    crashing.shutdown_background();
    let at_crash = harness.search_row(tenant, id).await;
    assert_eq!(at_crash.status, "running");
    assert_eq!(at_crash.worker_id.as_deref(), Some("doomed"));

    // Another worker takes over once the lease and the message's visibility lapse.
    harness.start(harness.worker("heir", "sandbox-key", 100).await);
    let done = harness.until_status(tenant, id, "completed").await;
    assert_eq!(done.results_seen, 100);
    assert_eq!(done.pages_fetched, 10, "each page stored once");
    assert_eq!(
        done.leads_new + done.duplicates + done.skipped,
        done.results_seen
    );
    assert_eq!(
        harness.leads(tenant).await.len(),
        usize::try_from(done.leads_new).unwrap()
    );
    // Only the page in flight at the crash was asked twice.
    let served = harness.served().await;
    let mut asked: Vec<i64> = positions(&served, "ok");
    asked.extend(positions(&served, "Slow"));
    asked.sort_unstable();
    let mut once = asked.clone();
    once.dedup();
    assert_eq!(once, (0..10).map(|page| 1 + 10 * page).collect::<Vec<_>>());
    assert_eq!(asked.len(), 11, "{asked:?}");
}

#[tokio::test]
async fn a_cancelled_search_stops_before_its_next_page() {
    let harness = Harness::new("brave").await;
    let tenant = harness.tenant("a").await;
    let id = harness.search(tenant, everyone(), 200).await;
    harness.start(harness.worker("w1", "sandbox-key", 100).await);
    after_pages(&harness, tenant, id, 1).await;
    let mut conn = harness.db.connect().await;
    nudge_db::lead_searches::cancel(&mut conn, tenant, id)
        .await
        .unwrap();
    let cancelled = harness.search_row(tenant, id).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let later = harness.search_row(tenant, id).await;
    assert_eq!(later.status, "cancelled");
    assert_eq!(
        later.pages_fetched, cancelled.pages_fetched,
        "no page after the cancel"
    );
    assert!(later.pages_fetched < 10);
}

#[tokio::test]
async fn a_refused_key_fails_the_search_with_the_providers_reason() {
    let harness = Harness::new("google").await;
    let tenant = harness.tenant("a").await;
    let id = harness.search(tenant, everyone(), 100).await;
    harness.start(harness.worker("w1", "invalid", 100).await);
    let failed = harness.until_status(tenant, id, "failed").await;
    assert!(
        failed
            .last_error
            .as_deref()
            .unwrap()
            .contains("API key not valid"),
        "{failed:?}"
    );
    // The key itself is in no error.
    assert!(!failed.last_error.unwrap().contains("key=invalid"));
}

#[tokio::test]
async fn an_outage_is_ridden_out_and_a_long_one_fails_the_search() {
    let harness = Harness::new("google").await;
    let tenant = harness.tenant("a").await;
    harness.fault(json!({"unavailable": 1})).await;
    let id = harness.search(tenant, everyone(), 10).await;
    harness.start(harness.worker("w1", "sandbox-key", 100).await);
    let done = harness.until_status(tenant, id, "completed").await;
    assert_eq!((done.errors, done.results_seen), (1, 10));

    // max_failures is 3 in the harness: the third outage in a row fails it.
    harness.fault(json!({"unavailable": 3})).await;
    let id = harness.search(tenant, everyone(), 10).await;
    let failed = nudge_testkit::eventually("failed", Duration::from_secs(120), || async {
        let search = harness.search_row(tenant, id).await;
        (search.status == "failed").then_some(search)
    })
    .await;
    assert_eq!(failed.errors, 3);
    assert!(failed.last_error.unwrap().contains("unavailable 3 times"));
}

#[tokio::test]
async fn poison_messages_are_dead_lettered_with_a_reason_and_the_worker_goes_on() {
    let harness = Harness::new("google").await;
    let tenant = harness.tenant("a").await;
    harness.start(harness.worker("w1", "sandbox-key", 100).await);
    harness.queue.send_raw("{not json").await;
    let stranger = Envelope::new(
        tenant,
        LeadSearchV1 {
            lead_search_id: LeadSearchId::new(),
        },
    );
    harness.queue.send_raw(&stranger.to_json().unwrap()).await;
    let id = harness.search(tenant, everyone(), 10).await;
    harness.until_status(tenant, id, "completed").await;

    let reasons = nudge_testkit::eventually("two rejections", Duration::from_secs(20), || async {
        let mut conn = harness.db.connect().await;
        let reasons: Vec<String> = queue_rejections::table
            .select(queue_rejections::reason)
            .load(&mut conn)
            .await
            .unwrap();
        (reasons.len() >= 2).then_some(reasons)
    })
    .await;
    assert!(
        reasons.iter().any(|r| r.contains("not a valid envelope")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("no lead search")),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn a_search_orphaned_by_a_dead_worker_and_a_lost_message_is_queued_again() {
    let harness = Harness::new("google").await;
    let tenant = harness.tenant("a").await;
    let id = harness.search(tenant, everyone(), 20).await;
    // A worker took it and died; then the queue lost the message (a purge).
    let mut conn = harness.db.connect().await;
    nudge_testkit::eventually("the search queued", Duration::from_secs(10), || async {
        (harness.queue.depth(&harness.queue.url).await >= 1).then_some(())
    })
    .await;
    let claim = nudge_db::lead_searches::claim(
        &mut conn,
        tenant,
        id,
        "dead",
        "google",
        chrono::Duration::milliseconds(1),
    )
    .await
    .unwrap();
    assert!(matches!(claim, nudge_db::lead_searches::Claim::Claimed(_)));
    harness
        .queue
        .client
        .purge_queue()
        .queue_url(&harness.queue.url)
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // A worker alone would wait for ever; the sweeper queues it again.
    let sweeper_metrics = lead_search::metrics::Metrics::new();
    harness.start(harness.worker("w1", "sandbox-key", 100).await);
    tokio::spawn(lead_search::sweeper::run(
        harness.db.pool(),
        Duration::from_millis(100),
        Duration::from_millis(500),
        sweeper_metrics.clone(),
        harness.stop.clone(),
    ));
    let done = harness.until_status(tenant, id, "completed").await;
    assert_eq!(done.results_seen, 20);
    assert_ne!(done.worker_id.as_deref(), Some("dead"));
    assert!(sweeper_metrics
        .encode()
        .contains("nudge_lead_search_orphans_requeued_total 1"));
}

#[tokio::test]
async fn a_tenants_own_budget_overrides_the_workers_default() {
    let harness = Harness::new("google").await;
    let (small, default) = (
        harness.tenant("small").await,
        harness.tenant("default").await,
    );
    let mut conn = harness.db.connect().await;
    assert!(
        nudge_db::tenants::set_lead_search_budget(&mut conn, small, Some(1))
            .await
            .unwrap()
    );
    let small_search = harness.search(small, everyone(), 30).await;
    let default_search = harness.search(default, everyone(), 30).await;
    // The worker's default is 2 queries a day per tenant.
    harness.start(harness.worker("w1", "sandbox-key", 2).await);
    let waiting = harness.until_status(small, small_search, "waiting").await;
    assert_eq!(waiting.pages_fetched, 1);
    assert!(waiting.waiting_reason.unwrap().contains("budget of 1 "));
    let waiting = harness
        .until_status(default, default_search, "waiting")
        .await;
    assert_eq!(waiting.pages_fetched, 2);
}
