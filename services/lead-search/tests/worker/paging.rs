use std::collections::HashSet;

use nudge_domain::LeadQuery;

use crate::helpers::{everyone, positions, Harness};

#[tokio::test]
async fn google_pages_by_ten_until_its_limit_of_a_hundred_results() {
    let harness = Harness::new("google").await;
    let tenant = harness.tenant("a").await;
    let id = harness.search(tenant, everyone(), 1_000).await;
    let worker = harness.worker("w1", "sandbox-key", 100).await;
    harness.start(worker.clone());

    let search = harness.until_status(tenant, id, "completed").await;
    assert_eq!(search.provider.as_deref(), Some("google"));
    let metrics = worker.searcher.metrics.encode();
    for line in [
        r#"nudge_lead_search_provider_requests_total{provider="google",outcome="ok"} 10"#
            .to_owned(),
        format!(
            r#"nudge_lead_search_results_total{{kind="new"}} {}"#,
            search.leads_new
        ),
        format!(
            r#"nudge_lead_search_results_total{{kind="skipped"}} {}"#,
            search.skipped
        ),
        r#"nudge_lead_search_searches_ended_total{kind="completed"} 1"#.to_owned(),
        "nudge_lead_search_in_progress 0".to_owned(),
    ] {
        assert!(metrics.contains(&line), "{line} not in\n{metrics}");
    }
    assert_eq!(search.pages_fetched, 10);
    assert_eq!(search.results_seen, 100, "Google gives at most 100 results");
    // Google's `start` is 1-based: 1, 11, ..., 91, each asked once.
    let served = harness.served().await;
    assert_eq!(
        positions(&served, "ok"),
        (0..10).map(|page| 1 + 10 * page).collect::<Vec<_>>()
    );
    // The corpus repeats profiles under locale subdomains and has company pages.
    assert!(search.duplicates > 0, "{search:?}");
    assert!(search.skipped > 0, "{search:?}");
    assert_eq!(
        search.leads_new + search.duplicates + search.skipped,
        search.results_seen
    );
    let leads = harness.leads(tenant).await;
    assert_eq!(leads.len(), usize::try_from(search.leads_new).unwrap());
    let urls: HashSet<&str> = leads.iter().map(|l| l.profile_url.as_str()).collect();
    assert_eq!(urls.len(), leads.len(), "one lead per canonical URL");
    for lead in &leads {
        assert!(
            lead.profile_url.starts_with("https://www.linkedin.com/in/")
                && !lead.profile_url.contains('?')
                && !lead.profile_url.ends_with('/'),
            "{}",
            lead.profile_url
        );
    }
    // Names as the corpus writes them, non-Latin and with commas.
    let names: HashSet<&str> = leads.iter().map(|l| l.name.as_str()).collect();
    assert!(names.contains("李明"), "{names:?}");
    assert!(leads
        .iter()
        .any(|l| l.company.is_some() && l.location.is_some()));
}

#[tokio::test]
async fn brave_pages_by_twenty_and_stops_at_max_results() {
    let harness = Harness::new("brave").await;
    let tenant = harness.tenant("a").await;
    let id = harness.search(tenant, everyone(), 50).await;
    harness.start(harness.worker("w1", "sandbox-key", 100).await);

    let search = harness.until_status(tenant, id, "completed").await;
    assert_eq!(search.results_seen, 50, "{search:?}");
    assert_eq!(search.pages_fetched, 3);
    // Brave's `offset` counts pages of `count` (20).
    assert_eq!(positions(&harness.served().await, "ok"), vec![0, 1, 2]);
}

#[tokio::test]
async fn searxng_pages_by_number_until_its_configured_depth() {
    let harness = Harness::new("searxng").await;
    let tenant = harness.tenant("a").await;
    let id = harness.search(tenant, everyone(), 1_000).await;
    harness.start(harness.worker("w1", "", 100).await);

    let search = harness.until_status(tenant, id, "completed").await;
    // SEARXNG_MAX_PAGES=5 in the harness, 10 results a page.
    assert_eq!(search.pages_fetched, 5);
    assert_eq!(search.results_seen, 50);
    assert_eq!(
        positions(&harness.served().await, "ok"),
        vec![1, 2, 3, 4, 5]
    );
}

#[tokio::test]
async fn a_narrow_query_ends_when_the_provider_has_no_more() {
    let harness = Harness::new("google").await;
    let tenant = harness.tenant("a").await;
    let query = LeadQuery {
        job_titles: vec!["Chief Digital Officer".into()],
        locations: vec!["Tokyo".into()],
        ..LeadQuery::default()
    };
    let id = harness.search(tenant, query, 1_000).await;
    harness.start(harness.worker("w1", "sandbox-key", 100).await);
    let search = harness.until_status(tenant, id, "completed").await;
    assert!(search.results_seen < 100, "{search:?}");
    assert!(search.results_seen > 0, "{search:?}");
}

#[tokio::test]
async fn two_tenants_with_the_same_query_keep_separate_leads() {
    let harness = Harness::new("google").await;
    let (a, b) = (harness.tenant("a").await, harness.tenant("b").await);
    let search_a = harness.search(a, everyone(), 30).await;
    let search_b = harness.search(b, everyone(), 30).await;
    harness.start(harness.worker("w1", "sandbox-key", 100).await);
    let done_a = harness.until_status(a, search_a, "completed").await;
    let done_b = harness.until_status(b, search_b, "completed").await;
    // B's search finds the same people, and they are new to B.
    assert_eq!(done_a.leads_new, done_b.leads_new);
    let (leads_a, leads_b) = (harness.leads(a).await, harness.leads(b).await);
    let urls = |leads: &[nudge_db::models::Lead]| -> HashSet<String> {
        leads.iter().map(|l| l.profile_url.clone()).collect()
    };
    assert_eq!(urls(&leads_a), urls(&leads_b));
    let ids_a: HashSet<_> = leads_a.iter().map(|l| l.id).collect();
    assert!(leads_b.iter().all(|l| !ids_a.contains(&l.id)));

    // A search of B's cannot be worked as A's: the message names the tenant.
    let mut conn = harness.db.connect().await;
    assert!(nudge_db::lead_searches::find(&mut conn, a, search_b)
        .await
        .unwrap()
        .is_none());
    // Deleting A's lead leaves B's.
    let first = leads_a.first().unwrap();
    assert!(
        nudge_db::leads::delete(&mut conn, a, nudge_domain::LeadId::from_uuid(first.id))
            .await
            .unwrap()
    );
    assert_eq!(harness.leads(b).await.len(), leads_b.len());
}

#[tokio::test]
async fn searching_again_links_known_leads_instead_of_copying_them() {
    let harness = Harness::new("google").await;
    let tenant = harness.tenant("a").await;
    let first = harness.search(tenant, everyone(), 20).await;
    harness.start(harness.worker("w1", "sandbox-key", 100).await);
    let first = harness.until_status(tenant, first, "completed").await;
    let second = harness.search(tenant, everyone(), 20).await;
    let second = harness.until_status(tenant, second, "completed").await;
    assert_eq!(second.leads_new, 0, "{second:?}");
    assert_eq!(second.duplicates, first.leads_new + first.duplicates);
    assert_eq!(
        harness.leads(tenant).await.len(),
        usize::try_from(first.leads_new).unwrap()
    );
    let mut conn = harness.db.connect().await;
    let lead = harness.leads(tenant).await.into_iter().next().unwrap();
    let searches = nudge_db::leads::searches_of(&mut conn, tenant, &[lead.id])
        .await
        .unwrap();
    assert_eq!(searches[&lead.id], vec![first.id, second.id]);
}

#[tokio::test]
async fn two_workers_given_the_same_search_never_work_it_at_once() {
    let harness = Harness::new("google").await;
    let tenant = harness.tenant("a").await;
    let id = harness.search(tenant, everyone(), 100).await;
    // A second copy of the search's message, as SQS may deliver.
    let copy =
        nudge_domain::Envelope::new(tenant, nudge_domain::LeadSearchV1 { lead_search_id: id });
    harness.queue.send_raw(&copy.to_json().unwrap()).await;
    harness.start(harness.worker("w1", "sandbox-key", 100).await);
    harness.start(harness.worker("w2", "sandbox-key", 100).await);

    let done = harness.until_status(tenant, id, "completed").await;
    assert_eq!(done.pages_fetched, 10);
    // No page was asked twice: one worker held the search, the other waited.
    let served = harness.served().await;
    assert_eq!(
        positions(&served, "ok"),
        (0..10).map(|page| 1 + 10 * page).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_search_moved_to_another_provider_starts_again_from_its_first_page() {
    let harness = Harness::new("brave").await;
    let tenant = harness.tenant("a").await;
    let id = harness.search(tenant, everyone(), 40).await;
    // A Google worker stored one page (Google's cursor: result 10) and stopped.
    let mut conn = harness.db.connect().await;
    let lease = chrono::Duration::seconds(30);
    nudge_db::lead_searches::claim(&mut conn, tenant, id, "old", "google", lease)
        .await
        .unwrap();
    let page = nudge_db::lead_searches::PageRecord {
        offset: 0,
        next_offset: 10,
        results: 10,
        skipped: 10,
        leads: vec![],
        finished: false,
    };
    nudge_db::lead_searches::record_page(&mut conn, tenant, id, "old", &page)
        .await
        .unwrap()
        .unwrap();
    nudge_db::lead_searches::release(&mut conn, tenant, id, "old")
        .await
        .unwrap();

    harness.start(harness.worker("w1", "sandbox-key", 100).await);
    let done = harness.until_status(tenant, id, "completed").await;
    assert_eq!(done.provider.as_deref(), Some("brave"));
    assert_eq!(done.results_seen, 40);
    // Brave's pages from the first: Google's cursor means nothing to it.
    assert_eq!(positions(&harness.served().await, "ok"), vec![0, 1]);
}
