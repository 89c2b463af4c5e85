use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use lead_search::providers;
use lead_search::worker::Worker;
use lead_search::{Application, Config};
use nudge_db::models::{Lead, LeadSearch};
use nudge_domain::{LeadQuery, LeadSearchId, TenantId};
use nudge_queue::SqsQueue;
use nudge_testkit::{TestDb, TestQueue};
use secrecy::SecretString;
use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Longer than the sandbox's slow answer (3 s): a slow page is slow, not a timeout.
pub const PROVIDER_TIMEOUT: Duration = Duration::from_secs(5);
/// The shortest lease the worker's configuration allows with that timeout.
pub const LEASE: Duration = Duration::from_secs(8);

pub struct Harness {
    pub db: TestDb,
    pub queue: TestQueue,
    pub sandbox: String,
    pub http: reqwest::Client,
    pub provider: &'static str,
    pub stop: CancellationToken,
}

impl Harness {
    /// A database, a queue whose messages come back after the lease, the sandbox, and
    /// the outbox relay that hands searches to the queue.
    pub async fn new(provider: &'static str) -> Self {
        let queue =
            TestQueue::with_visibility("lead-searches", 5, u32::try_from(LEASE.as_secs()).unwrap())
                .await;
        Self::on(provider, TestDb::new().await, queue)
    }

    /// [`Harness::new`] on a database and a queue of the test's choosing.
    pub fn on(provider: &'static str, db: TestDb, queue: TestQueue) -> Self {
        let address = provider_sandbox::spawn_local().unwrap();
        let stop = CancellationToken::new();
        tokio::spawn(nudge_queue::relay::run(
            db.pool(),
            nudge_db::lead_searches::LEAD_SEARCHES_QUEUE,
            SqsQueue::new(nudge_testkit::sqs_client(), &queue.url),
            Arc::new(Notify::new()),
            Duration::from_millis(100),
            stop.clone(),
        ));
        Self {
            db,
            queue,
            sandbox: address,
            http: reqwest::Client::new(),
            provider,
            stop,
        }
    }

    pub async fn tenant(&self, name: &str) -> TenantId {
        let mut conn = self.db.connect().await;
        nudge_testkit::tenant_with_shop(&mut conn, name).await.0
    }

    /// A worker built the one way `main` builds it ([`Application::build`]). Dropping
    /// (or cancelling) the harness's `stop` stops it.
    pub async fn worker(&self, id: &str, key: &str, tenant_daily_queries: i32) -> Arc<Worker> {
        let vars: Vec<(String, String)> = [
            ("GOOGLE_CSE_API_KEY", key),
            ("GOOGLE_CSE_ENGINE_ID", "sandbox-cx"),
            ("GOOGLE_CSE_BASE_URL", &self.sandbox),
            ("BRAVE_SEARCH_API_KEY", key),
            ("BRAVE_SEARCH_BASE_URL", &self.sandbox),
            ("SEARXNG_BASE_URL", &self.sandbox),
            ("SEARXNG_MAX_PAGES", "5"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let config = Config {
            database_url: SecretString::from(self.db.url.clone()),
            database_pool_size: 4,
            lead_searches_queue: self.queue.url.clone(),
            provider: providers::from_env(self.provider, &vars, PROVIDER_TIMEOUT).unwrap(),
            concurrency: 2,
            tenant_daily_queries,
            key_daily_queries: 10_000,
            page_delay: Duration::from_millis(150),
            lease: LEASE,
            max_failures: 3,
            orphan_after: Duration::from_secs(300),
            worker_id: id.into(),
            metrics_address: None,
            outbox_relay_interval: Duration::from_millis(100),
        };
        let application = Application::build(config, &nudge_testkit::localstack_config())
            .await
            .unwrap();
        let (harness, worker) = (self.stop.clone(), application.stop_token());
        tokio::spawn(async move {
            harness.cancelled().await;
            worker.cancel();
        });
        application.worker()
    }

    /// Runs a worker loop; the handle aborts it (a crash: nothing handed back).
    pub fn start(&self, worker: Arc<Worker>) -> tokio::task::JoinHandle<()> {
        let stop = worker.searcher.stop.clone();
        tokio::spawn(lead_search::worker::run(worker, 2, stop))
    }

    /// Stores a search as the API does (with its outbox row).
    pub async fn search(
        &self,
        tenant: TenantId,
        query: LeadQuery,
        max_results: i32,
    ) -> LeadSearchId {
        let id = LeadSearchId::new();
        let query = serde_json::to_value(query.validate().unwrap()).unwrap();
        let search = LeadSearch::queued(tenant.as_uuid(), id.as_uuid(), query, max_results);
        let mut conn = self.db.connect().await;
        nudge_db::lead_searches::insert(&mut conn, &search, None)
            .await
            .unwrap();
        id
    }

    pub async fn search_row(&self, tenant: TenantId, id: LeadSearchId) -> LeadSearch {
        let mut conn = self.db.connect().await;
        nudge_db::lead_searches::find(&mut conn, tenant, id)
            .await
            .unwrap()
            .unwrap()
    }

    /// Waits for the search to reach `status`.
    pub async fn until_status(
        &self,
        tenant: TenantId,
        id: LeadSearchId,
        status: &str,
    ) -> LeadSearch {
        nudge_testkit::eventually(
            &format!("search {id} {status}"),
            Duration::from_secs(60),
            || async {
                let search = self.search_row(tenant, id).await;
                (search.status == status).then_some(search)
            },
        )
        .await
    }

    pub async fn leads(&self, tenant: TenantId) -> Vec<Lead> {
        let mut conn = self.db.connect().await;
        nudge_db::schema::leads::table
            .filter(nudge_db::schema::leads::tenant_id.eq(tenant.as_uuid()))
            .select(Lead::as_select())
            .load(&mut conn)
            .await
            .unwrap()
    }

    /// What the sandbox served: (provider, position, outcome).
    pub async fn served(&self) -> Vec<(String, i64, String)> {
        let body: Value = self
            .http
            .get(format!("{}/sandbox/search/requests", self.sandbox))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["provider"].as_str().unwrap().to_owned(),
                    r["position"].as_i64().unwrap(),
                    r["outcome"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    pub async fn fault(&self, faults: Value) {
        let response = self
            .http
            .post(format!("{}/sandbox/search/faults", self.sandbox))
            .json(&faults)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A query that matches no one in the sandbox's corpus: the whole corpus comes back.
pub fn everyone() -> LeadQuery {
    LeadQuery {
        keywords: vec!["ecommerce".into()],
        ..LeadQuery::default()
    }
}

/// Positions served with `outcome`, in order.
pub fn positions(served: &[(String, i64, String)], outcome: &str) -> Vec<i64> {
    served
        .iter()
        .filter(|(_, _, o)| o == outcome)
        .map(|(_, p, _)| *p)
        .collect()
}
