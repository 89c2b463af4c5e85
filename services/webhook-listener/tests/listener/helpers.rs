use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nudge_db::messages::Lease;
use nudge_db::models::{Message, MessageEvent};
use nudge_domain::{MessageId, TenantId};
use nudge_testkit::TestDb;
use secrecy::SecretString;
use webhook_listener::{Application, Config};

pub const AUTH_TOKEN: &str = "listener-test-token";
/// Where "Twilio" believes the listener is (not where it listens: a load balancer).
pub const PUBLIC_BASE: &str = "https://hooks.example.com/nudge";

pub struct TestApp {
    pub db: TestDb,
    pub address: String,
    pub http: reqwest::Client,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with_limit(64 * 1024).await
}

pub async fn spawn_app_with_limit(body_limit: usize) -> TestApp {
    let db = TestDb::new().await;
    let config = Config {
        database_url: SecretString::from(db.url.clone()),
        database_pool_size: 4,
        http_host: "127.0.0.1".into(),
        http_port: 0,
        public_base_url: PUBLIC_BASE.into(),
        twilio_auth_token: SecretString::from(AUTH_TOKEN),
        webhook_body_limit_bytes: body_limit,
    };
    let app = Application::build(config).unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        db,
        address,
        http: reqwest::Client::new(),
    }
}

pub use nudge_testkit::twilio_status_callback as callback;

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
}
