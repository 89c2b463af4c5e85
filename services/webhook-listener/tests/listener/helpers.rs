use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nudge_db::messages::Lease;
use nudge_db::models::{Customer, InboundMessage, Message, MessageEvent};
use nudge_domain::{MessageId, ShopId, TargetPolicy, TenantId};
use nudge_testkit::{TestDb, TestQueue};
use webhook_listener::{Application, Config};

pub const AUTH_TOKEN: &str = "listener-test-token";
/// Where "Twilio" believes the listener is (not where it listens: a load balancer).
pub const PUBLIC_BASE: &str = "https://hooks.example.com/nudge";

pub struct TestApp {
    pub db: TestDb,
    pub address: String,
    pub http: reqwest::Client,
    /// What the listener puts on `inbound-sms` and, for its answers, `outbound-sms`.
    pub inbound_queue: TestQueue,
    pub outbound_queue: TestQueue,
}

/// How a test wants the listener set up.
pub struct Options {
    pub body_limit: usize,
    /// `WEBHOOK_TARGETS`: tests with local fake endpoints allow any (development).
    pub webhook_targets: TargetPolicy,
    pub retry_delays: Vec<u64>,
    pub webhook_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            body_limit: 64 * 1024,
            webhook_targets: TargetPolicy::DEVELOPMENT,
            retry_delays: vec![1, 1, 1],
            webhook_timeout: Duration::from_secs(2),
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with_limit(body_limit: usize) -> TestApp {
    spawn_app_with(Options {
        body_limit,
        ..Options::default()
    })
    .await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let db = TestDb::new().await;
    let inbound_queue = TestQueue::new("inbound", 3).await;
    let outbound_queue = TestQueue::new("replies", 3).await;
    let config = Config {
        database_pool_size: 4,
        http_host: "127.0.0.1".into(),
        http_port: 0,
        webhook_body_limit_bytes: options.body_limit,
        inbound_sms_queue: inbound_queue.url.clone(),
        outbound_sms_queue: outbound_queue.url.clone(),
        outbox_relay_interval: Duration::from_millis(200),
        webhook_targets: options.webhook_targets,
        webhook_retry_delays_seconds: options.retry_delays,
        webhook_timeout: options.webhook_timeout,
        webhook_dispatch_interval: Duration::from_millis(200),
        keyring: Some(nudge_domain::sealed::Keyring::parse(nudge_testkit::TEST_KEYRING).unwrap()),
        ..Config::new(&db.url, PUBLIC_BASE, AUTH_TOKEN)
    };
    let app = Application::build(config, &nudge_testkit::localstack_config())
        .await
        .unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        db,
        address,
        http: reqwest::Client::new(),
        inbound_queue,
        outbound_queue,
    }
}

pub use nudge_testkit::twilio_status_callback as callback;

/// A tenant's endpoint for all its shops, with a fresh signing secret (not yet stored).
pub fn new_endpoint(
    tenant: TenantId,
    url: &str,
    events: serde_json::Value,
) -> nudge_db::models::WebhookEndpoint {
    nudge_db::models::WebhookEndpoint {
        id: uuid::Uuid::now_v7(),
        tenant_id: tenant.as_uuid(),
        shop_id: None,
        url: url.into(),
        events,
        secret: nudge_domain::standard_webhooks::new_secret(),
        description: None,
        created_at: chrono::Utc::now(),
    }
}

impl TestApp {
    /// Posts `params` to `path`, signed as Twilio signs it for `signed_url`.
    pub async fn post_signed_as(
        &self,
        path: &str,
        signed_url: &str,
        params: &[(String, String)],
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let signature = nudge_domain::twilio_signature::sign(AUTH_TOKEN, signed_url, params);
        let mut request = self
            .http
            .post(format!("{}{path}", self.address))
            .header("X-Twilio-Signature", signature)
            .form(params);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    /// Posts `params` to `path`, correctly signed.
    pub async fn post_signed(&self, path: &str, params: &[(String, String)]) -> reqwest::Response {
        self.post_signed_as(path, &format!("{PUBLIC_BASE}{path}"), params, &[])
            .await
    }

    /// A status callback for `sid`, correctly signed, with an idempotency token.
    pub async fn status(&self, sid: &str, status: &str, token: &str) -> reqwest::Response {
        let params = callback(sid, status);
        let url = format!("{PUBLIC_BASE}/twilio/status");
        self.post_signed_as(
            "/twilio/status",
            &url,
            &params,
            &[("I-Twilio-Idempotency-Token", token)],
        )
        .await
    }

    /// A tenant, a shop and a message the sender has handed to the provider as `sid`.
    pub async fn sent_message(&self, sid: &str) -> (TenantId, MessageId) {
        let mut conn = self.db.connect().await;
        let (tenant, shop) = nudge_testkit::tenant_with_shop(&mut conn, "t").await;
        let (message, outbox, envelope) = nudge_testkit::queued_message(
            tenant,
            shop,
            "+14155550100",
            "Your order shipped",
            "outbound-sms",
        );
        nudge_db::messages::insert_accepted(&mut conn, &message, &outbox)
            .await
            .unwrap();
        let id = envelope.payload.message_id;
        self.hand_to_provider(tenant, id, sid).await;
        (tenant, id)
    }

    /// What the sender does: claim, then record the provider's sid.
    pub async fn hand_to_provider(&self, tenant: TenantId, id: MessageId, sid: &str) {
        let mut conn = self.db.connect().await;
        let lease = Lease {
            worker: "test",
            duration: chrono::Duration::seconds(30),
        };
        let nudge_db::messages::Claim::Claimed(claimed) =
            nudge_db::messages::claim(&mut conn, tenant, id, &lease)
                .await
                .unwrap()
        else {
            panic!("not claimable")
        };
        nudge_db::messages::record_sent(&mut conn, &claimed, sid, None, serde_json::json!({}))
            .await
            .unwrap();
    }

    pub async fn message(&self, tenant: TenantId, id: MessageId) -> Message {
        let mut conn = self.db.connect().await;
        nudge_db::messages::find(&mut conn, tenant, id)
            .await
            .unwrap()
            .unwrap()
    }

    pub async fn events(&self, tenant: TenantId, id: MessageId) -> Vec<MessageEvent> {
        let mut conn = self.db.connect().await;
        nudge_db::messages::events(&mut conn, tenant, id)
            .await
            .unwrap()
    }

    /// Stored callbacks: (sid, status, matched to a message).
    pub async fn callbacks(&self) -> Vec<(String, String, bool)> {
        use nudge_db::schema::provider_callbacks as c;
        let mut conn = self.db.connect().await;
        let rows: Vec<(String, String, Option<uuid::Uuid>)> = c::table
            .order(c::received_at.asc())
            .select((c::provider_sid, c::provider_status, c::message_id))
            .load(&mut conn)
            .await
            .unwrap();
        rows.into_iter()
            .map(|(sid, status, message)| (sid, status, message.is_some()))
            .collect()
    }

    /// A customer texts the shop's number: a signed inbound webhook, with a new sid.
    pub async fn inbound(&self, from: &str, body: &str) -> (String, reqwest::Response) {
        let sid = format!("SM{}", uuid::Uuid::new_v4().simple());
        let response = self.inbound_with_sid(&sid, from, body).await;
        (sid, response)
    }

    pub async fn inbound_with_sid(&self, sid: &str, from: &str, body: &str) -> reqwest::Response {
        let params: Vec<(String, String)> = [
            ("AccountSid", "AC11111111111111111111111111111111"),
            ("ApiVersion", "2010-04-01"),
            ("Body", body),
            ("From", from),
            ("MessageSid", sid),
            ("NumMedia", "0"),
            ("NumSegments", "1"),
            ("SmsMessageSid", sid),
            ("SmsSid", sid),
            ("SmsStatus", "received"),
            ("To", SHOP_NUMBER),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        self.post_signed("/twilio/inbound", &params).await
    }

    /// The inbound message with this sid once inbound processing has acted on it.
    pub async fn processed(&self, sid: &str) -> InboundMessage {
        use nudge_db::schema::inbound_messages as i;
        let mut conn = self.db.connect().await;
        for _ in 0..150 {
            let found: Option<InboundMessage> = i::table
                .filter(i::provider_sid.eq(sid))
                .filter(i::processed_at.is_not_null())
                .select(InboundMessage::as_select())
                .first(&mut conn)
                .await
                .optional()
                .unwrap();
            if let Some(found) = found {
                return found;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("inbound {sid} was not processed within 15 s");
    }

    /// The outbound messages answering an inbound message.
    pub async fn replies_to(&self, inbound: uuid::Uuid) -> Vec<Message> {
        use nudge_db::schema::messages as m;
        let mut conn = self.db.connect().await;
        m::table
            .filter(m::in_reply_to.eq(inbound))
            .select(Message::as_select())
            .order(m::id.asc())
            .load(&mut conn)
            .await
            .unwrap()
    }

    /// The shop's customer with this phone.
    pub async fn customer(&self, tenant: TenantId, shop: ShopId, phone: &str) -> Customer {
        let conn = self.db.connect().await;
        nudge_db::customers::find_by_phone(
            &conn,
            tenant,
            shop,
            &nudge_domain::PhoneNumber::parse(phone).unwrap(),
        )
        .await
        .unwrap()
        .expect("the customer exists")
    }

    /// A tenant and its shop, which sends from [`SHOP_NUMBER`].
    pub async fn shop(&self) -> (TenantId, ShopId) {
        let mut conn = self.db.connect().await;
        nudge_testkit::tenant_with_shop(&mut conn, "t").await
    }

    /// Waits until `check` holds, polling for up to 15 s.
    pub async fn eventually<T>(&self, what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
        for _ in 0..150 {
            if let Some(value) = check().await {
                return value;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("{what}: not within 15 s");
    }
}

/// The test shop's number (`nudge_testkit::shop`).
pub const SHOP_NUMBER: &str = "+15017122661";
