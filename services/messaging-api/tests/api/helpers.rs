use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use messaging_api::{Application, Config};
use nudge_testkit::{localstack_config, TestDb, TestQueue};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};

/// The console's sender address in tests.
pub const CONSOLE_EMAIL_FROM: &str = "Nudge <no-reply@nudge.localhost>";

static TELEMETRY: std::sync::OnceLock<Option<nudge_telemetry::TelemetryGuard>> =
    std::sync::OnceLock::new();

pub struct TestApp {
    pub address: String,
    pub db: TestDb,
    pub queue: TestQueue,
    /// Where accepted lead searches go (no worker reads it in these tests).
    pub lead_queue: TestQueue,
    pub api_key: String,
    pub tenant_id: String,
    pub client: reqwest::Client,
}

/// Where the app finds its dependencies; tests that take one away pass a proxy's URL.
#[derive(Default)]
pub struct Overrides {
    pub database_url: Option<String>,
    pub sqs_endpoint: Option<String>,
    pub campaign_page_size: Option<i64>,
    /// `CAMPAIGN_MAX_UNSENT`; default 5,000.
    pub campaign_max_unsent: Option<i64>,
    /// `WEBHOOK_TARGETS`; default `public` (production's rule).
    pub webhook_targets: Option<&'static str>,
    /// An OpenID Connect issuer for the console (the sandbox's `/oidc`), with the
    /// sandbox's default client; off by default.
    pub oidc_issuer: Option<String>,
    /// The console's email over SMTP to this URL instead of SES.
    pub smtp_url: Option<String>,
    /// `TRUSTED_PROXIES`; none by default.
    pub trusted_proxies: Option<&'static str>,
    /// `CONSOLE_PUBLIC_URL`; `http://localhost:8080` by default.
    pub console_public_url: Option<&'static str>,
    /// `API_KEY_CACHE_MS`; production's 5,000 by default.
    pub api_key_cache_ms: Option<u64>,
    /// `DAILY_COUNT_REFRESH_MS`; production's 1,000 by default.
    pub daily_count_refresh_ms: Option<u64>,
}

/// The client the sandbox's OpenID Connect issuer knows by default.
pub const OIDC_CLIENT_ID: &str = "nudge-console";
pub const OIDC_CLIENT_SECRET: &str = "sandbox-oidc-secret";

/// The app's configuration as an operator would set it: the variables, read by
/// `Config::from_vars`, with the test's dependencies and `overrides`.
fn config(
    database_url: String,
    queue: &TestQueue,
    lead_queue: &TestQueue,
    overrides: &Overrides,
) -> Config {
    let mut vars = vec![
        ("DATABASE_URL", database_url),
        ("DATABASE_POOL_SIZE", "4".into()),
        ("HTTP_HOST", "127.0.0.1".into()),
        ("HTTP_PORT", "0".into()),
        ("OUTBOUND_SMS_QUEUE", queue.url.clone()),
        ("LEAD_SEARCHES_QUEUE", lead_queue.url.clone()),
        ("OUTBOX_RELAY_INTERVAL_MS", "200".into()),
        (
            "CAMPAIGN_PAGE_SIZE",
            overrides.campaign_page_size.unwrap_or(200).to_string(),
        ),
        (
            "CAMPAIGN_MAX_UNSENT",
            overrides.campaign_max_unsent.unwrap_or(5_000).to_string(),
        ),
        (
            "WEBHOOK_TARGETS",
            overrides.webhook_targets.unwrap_or("public").into(),
        ),
        (
            "CONSOLE_PUBLIC_URL",
            overrides
                .console_public_url
                .unwrap_or("http://localhost:8080")
                .into(),
        ),
        ("CONSOLE_EMAIL_FROM", CONSOLE_EMAIL_FROM.into()),
        ("CONSOLE_OIDC_NAME", "Sandbox ID".into()),
        ("MEDIA_BUCKET", "nudge-media".into()),
        (
            "TRUSTED_PROXIES",
            overrides.trusted_proxies.unwrap_or_default().into(),
        ),
    ];
    if let Some(issuer) = &overrides.oidc_issuer {
        vars.push(("CONSOLE_OIDC_ISSUER", issuer.clone()));
        vars.push(("CONSOLE_OIDC_CLIENT_ID", OIDC_CLIENT_ID.into()));
        vars.push(("CONSOLE_OIDC_CLIENT_SECRET", OIDC_CLIENT_SECRET.into()));
    }
    if let Some(ttl) = overrides.api_key_cache_ms {
        vars.push(("API_KEY_CACHE_MS", ttl.to_string()));
    }
    if let Some(refresh) = overrides.daily_count_refresh_ms {
        vars.push(("DAILY_COUNT_REFRESH_MS", refresh.to_string()));
    }
    if let Some(smtp_url) = &overrides.smtp_url {
        vars.push(("CONSOLE_EMAIL_TRANSPORT", "smtp".into()));
        vars.push(("CONSOLE_SMTP_URL", smtp_url.clone()));
    }
    Config::from_vars(
        vars.into_iter()
            .map(|(name, value)| (name.to_owned(), value)),
    )
    .expect("the test configuration is valid")
}

/// The test tenant's sender numbers (an operator gave them, as `admin create-tenant
/// --number` does), and the one [`TestApp::other_tenant`] gets.
pub const SHOP_NUMBER: &str = "+15017122661";
pub const SPARE_NUMBER: &str = "+15017122662";
pub const OTHER_NUMBER: &str = "+15017122669";

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| Overrides::default()).await
}

/// Starts the app; `overrides` sees the test database's URL first.
pub async fn spawn_app_with(overrides: impl FnOnce(&TestDb) -> Overrides) -> TestApp {
    // The real telemetry stack, so that requests have trace context as in production,
    // and the layer that lets a test read everything recorded.
    TELEMETRY.get_or_init(|| {
        nudge_telemetry::init_with("messaging-api-test", crate::capture::layer()).ok()
    });
    let db = TestDb::new().await;
    let queue = TestQueue::new("outbound", 3).await;
    let lead_queue = TestQueue::new("lead-searches", 3).await;
    let overrides = overrides(&db);
    let config = config(
        overrides
            .database_url
            .clone()
            .unwrap_or_else(|| db.url.clone()),
        &queue,
        &lead_queue,
        &overrides,
    );
    let aws = match overrides.sqs_endpoint {
        Some(endpoint) => nudge_testkit::localstack_config_at(&endpoint),
        None => localstack_config(),
    };
    // SES sends only from verified identities (the stack's bootstrap verifies this one).
    aws_sdk_ses::Client::new(&localstack_config())
        .verify_email_identity()
        .email_address("no-reply@nudge.localhost")
        .send()
        .await
        .expect("verify the console's sender at SES");
    nudge_testkit::ensure_media_bucket("nudge-media").await;
    let app = Application::build(config, &aws).await.expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let mut conn = db.connect().await;
    let output = messaging_api::admin::create_tenant(
        &mut conn,
        "Test Shop Inc",
        &[SHOP_NUMBER.into(), SPARE_NUMBER.into()],
        true,
    )
    .await
    .unwrap();
    let created: Value = serde_json::from_str(&output).unwrap();
    TestApp {
        address,
        db,
        queue,
        lead_queue,
        api_key: created["api_key"].as_str().unwrap().to_owned(),
        tenant_id: created["tenant_id"].as_str().unwrap().to_owned(),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap(),
    }
}

impl TestApp {
    /// Starts another replica of the app on the same database and queue (its relay and
    /// campaign expander compete with the first's); returns its address.
    pub async fn spawn_replica(&self, campaign_page_size: Option<i64>) -> String {
        let config = config(
            self.db.url.clone(),
            &self.queue,
            &self.lead_queue,
            &Overrides {
                campaign_page_size,
                ..Overrides::default()
            },
        );
        let app = Application::build(config, &localstack_config())
            .await
            .expect("build replica");
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        address
    }

    /// Another tenant with its own key and number ([`OTHER_NUMBER`]), in the same
    /// database.
    pub async fn other_tenant(&self) -> String {
        let mut conn = self.db.connect().await;
        let output = messaging_api::admin::create_tenant(
            &mut conn,
            "Another Merchant",
            &[OTHER_NUMBER.into()],
            true,
        )
        .await
        .unwrap();
        let created: Value = serde_json::from_str(&output).unwrap();
        created["api_key"].as_str().unwrap().to_owned()
    }

    /// Lets the test tenant text these country calling codes (`admin tenants
    /// set-destinations`); by default it texts only its numbers' (+1).
    pub async fn allow_destinations(&self, calling_codes: &str) {
        let mut conn = self.db.connect().await;
        messaging_api::admin::tenants::set_destinations(
            &mut conn,
            self.tenant_id.parse().unwrap(),
            calling_codes,
        )
        .await
        .unwrap();
    }

    pub fn request(&self, method: Method, path: &str, key: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.address))
            .bearer_auth(key)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path, &self.api_key)
            .send()
            .await
            .unwrap()
    }

    /// `GET /v1/messages/{id}`: the message with its timeline (200, or the test fails).
    pub async fn message(&self, id: &str) -> Value {
        let response = self.get(&format!("/v1/messages/{id}")).await;
        assert_eq!(response.status(), 200, "GET /v1/messages/{id}");
        response.json().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.request(Method::POST, path, &self.api_key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn create_shop(&self) -> Value {
        let response = self
            .post(
                "/v1/shops",
                // No quiet hours: tests that are not about them must not depend on the time of day.
                &json!({"name": "XYZ Bags", "sender_number": "+15017122661", "time_zone": "Europe/Paris",
                        "quiet_hours": {"start": "00:00", "end": "00:00"}}),
            )
            .await;
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    /// A lead search of this tenant (through the API) that has found `leads`, stored
    /// the way `lead-search` stores a page. Returns the search as the API shows it.
    pub async fn lead_search_with_leads(
        &self,
        leads: &[nudge_db::lead_searches::FoundLead],
    ) -> Value {
        let response = self
            .post(
                "/v1/lead-searches",
                &json!({"query": {"job_titles": ["Head of Growth"]}, "max_results": 100}),
            )
            .await;
        assert_eq!(response.status(), 202);
        let search: Value = response.json().await.unwrap();
        let id: nudge_domain::LeadSearchId = search["id"].as_str().unwrap().parse().unwrap();
        let tenant: nudge_domain::TenantId = self.tenant_id.parse().unwrap();
        let mut conn = self.db.connect().await;
        let claim = nudge_db::lead_searches::claim(
            &mut conn,
            tenant,
            id,
            "test-worker",
            "google",
            chrono::Duration::seconds(60),
        )
        .await
        .unwrap();
        assert!(matches!(claim, nudge_db::lead_searches::Claim::Claimed(_)));
        let results = i32::try_from(leads.len()).unwrap();
        nudge_db::lead_searches::record_page(
            &mut conn,
            tenant,
            id,
            "test-worker",
            &nudge_db::lead_searches::PageRecord {
                offset: 0,
                next_offset: 10,
                results,
                skipped: 0,
                leads: leads.to_vec(),
                finished: true,
            },
        )
        .await
        .unwrap()
        .unwrap();
        self.get(&format!("/v1/lead-searches/{id}"))
            .await
            .json()
            .await
            .unwrap()
    }

    pub async fn create_template(&self, name: &str, body: &str) -> Value {
        let response = self
            .post("/v1/templates", &json!({"name": name, "body": body}))
            .await;
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    /// A customer who opted in at checkout (so marketing may reach them).
    pub async fn create_customer(&self, shop_id: &str, phone: &str) -> Value {
        let response = self
            .post(
                "/v1/customers",
                &json!({
                    "shop_id": shop_id, "phone": phone, "name": "Asha", "attributes": {"tier": "gold"},
                    "consent": {"state": "opted_in", "evidence": {"form": "checkout", "ip": "203.0.113.7"}}
                }),
            )
            .await;
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    /// Waits for the next envelope on the app's outbound queue (left on the queue) and
    /// returns it parsed, with the SQS message for its attributes.
    pub async fn next_outbound(&self, timeout: Duration) -> (Value, aws_sdk_sqs::types::Message) {
        let received = nudge_testkit::eventually("an envelope on SQS", timeout, || async {
            self.queue
                .peek(&self.queue.url, Duration::from_secs(1))
                .await
                .into_iter()
                .next()
        })
        .await;
        let envelope = serde_json::from_str(received.body().unwrap()).unwrap();
        (envelope, received)
    }

    /// Creates a customer from a full body and returns it.
    pub async fn create_from(&self, body: &Value) -> Value {
        let response = self.post("/v1/customers", body).await;
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    /// Rows in `messages` and `message_events`: what a refused request must leave
    /// unchanged (the outbox drains by itself, so it is no measure of that).
    pub async fn stored_messages(&self) -> (i64, i64) {
        let (messages, events, _) = self.stored_counts().await;
        (messages, events)
    }

    /// Rows in `messages`, `message_events` and `outbox`: what a refused request must
    /// leave unchanged.
    pub async fn stored_counts(&self) -> (i64, i64, i64) {
        use nudge_db::schema::{message_events, messages, outbox};
        let mut conn = self.db.connect().await;
        (
            messages::table.count().get_result(&mut conn).await.unwrap(),
            message_events::table
                .count()
                .get_result(&mut conn)
                .await
                .unwrap(),
            outbox::table.count().get_result(&mut conn).await.unwrap(),
        )
    }
}

/// Asserts a problem+json response and returns its body.
pub async fn problem(response: Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert!(body["type"]
        .as_str()
        .unwrap()
        .starts_with("https://nudge.dev/problems/"));
    body
}

/// The field names of a validation problem.
pub fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .expect("errors list")
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}
