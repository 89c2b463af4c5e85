use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nudge_db::models::{Message, MessageEvent};
use nudge_domain::{MessageId, ShopId, TenantId};
use nudge_queue::SqsQueue;
use nudge_testkit::{TestDb, TestQueue};
use secrecy::SecretString;
use serde_json::{json, Value};
use sms_sender::config::TwilioSettings;
use sms_sender::process::Sender;
use sms_sender::{Application, Config};
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const ACCOUNT_SID: &str = "AC11111111111111111111111111111111";
pub const AUTH_TOKEN: &str = "test-auth-token-do-not-log";
pub const MESSAGES_PATH: &str =
    "/2010-04-01/Accounts/AC11111111111111111111111111111111/Messages.json";

pub struct Harness {
    pub db: TestDb,
    pub queue: TestQueue,
    pub twilio: MockServer,
    pub tenant: TenantId,
    pub shop: ShopId,
    pub sender: Arc<Sender>,
    stop: CancellationToken,
}

/// The configuration of a test's sender: the test's database, queue and fake Twilio, no
/// metrics port, limits too high to matter. Tests change what they are about.
pub fn config(db: &TestDb, twilio: &MockServer, queue: &TestQueue) -> Config {
    Config {
        database_url: SecretString::from(db.url.clone()),
        database_pool_size: 4,
        outbound_sms_queue: queue.url.clone(),
        twilio: TwilioSettings {
            api_base_url: twilio.uri(),
            account_sid: ACCOUNT_SID.into(),
            auth_token: SecretString::from(AUTH_TOKEN),
            timeout: Duration::from_secs(5),
        },
        status_callback_url: Some("https://hooks.example.com/twilio/status".into()),
        concurrency: 4,
        max_attempts: 3,
        worker_id: "test-worker".into(),
        lease: chrono::Duration::seconds(30),
        limits: unlimited(),
        metrics_address: None,
        media_bucket: "nudge-media".into(),
        keyring: Some(nudge_domain::sealed::Keyring::parse(nudge_testkit::TEST_KEYRING).unwrap()),
    }
}

/// A sender built the one way `main` builds it ([`Application::build`]).
pub async fn build(config: Config) -> Arc<Sender> {
    Application::build(config, &nudge_testkit::localstack_config())
        .await
        .unwrap()
        .sender()
}

impl Harness {
    /// `max_receive_count`: receives before the queue dead-letters a message;
    /// `max_attempts`: the sender's own limit for retryable failures.
    pub async fn new(max_receive_count: u32, max_attempts: u32) -> Self {
        Self::with_visibility(max_receive_count, max_attempts, 30).await
    }

    /// As [`Harness::new`], with the queue's visibility timeout in seconds.
    pub async fn with_visibility(
        max_receive_count: u32,
        max_attempts: u32,
        visibility_seconds: u32,
    ) -> Self {
        Self::configured(max_receive_count, visibility_seconds, |config| {
            config.max_attempts = max_attempts;
        })
        .await
    }

    /// A harness whose sender's [`config`] `configure` changes first.
    pub async fn configured(
        max_receive_count: u32,
        visibility_seconds: u32,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        let db = TestDb::new().await;
        let queue =
            TestQueue::with_visibility("outbound", max_receive_count, visibility_seconds).await;
        let twilio = MockServer::start().await;
        // After an answer that leaves a send in doubt (no answer, a 5xx), the sender
        // asks Twilio's list first; unless a test says otherwise, it has nothing.
        twilio_lists_nothing().mount(&twilio).await;
        let (tenant, shop) = nudge_testkit::tenant_with_shop(&mut db.connect().await, "t").await;
        let mut config = config(&db, &twilio, &queue);
        configure(&mut config);
        let sender = build(config).await;
        Self {
            db,
            queue,
            twilio,
            tenant,
            shop,
            sender,
            stop: CancellationToken::new(),
        }
    }

    /// Another replica on the same database, queue and Twilio, configured by `configure`.
    pub async fn replica(&self, configure: impl FnOnce(&mut Config)) -> Arc<Sender> {
        let mut config = config(&self.db, &self.twilio, &self.queue);
        configure(&mut config);
        build(config).await
    }

    /// Stores a `queued` message as the API would, and returns it with its envelope.
    pub async fn queued_message(&self, to: &str, body: &str) -> (MessageId, String) {
        let (message, outbox, envelope) =
            nudge_testkit::queued_message(self.tenant, self.shop, to, body, "outbound-sms");
        let id = envelope.payload.message_id;
        let mut conn = self.db.connect().await;
        nudge_db::messages::insert_accepted(&mut conn, &message, &outbox)
            .await
            .unwrap();
        (id, envelope.to_json().unwrap())
    }

    /// Runs the real worker loop until the harness is dropped.
    pub fn start_worker(&self) {
        self.start_worker_with(nudge_testkit::sqs_client());
    }

    /// Runs the real worker loop, reaching SQS through `sqs` (a proxy, say).
    pub fn start_worker_with(&self, sqs: aws_sdk_sqs::Client) {
        let queue = SqsQueue::new(sqs, &self.queue.url);
        tokio::spawn(sms_sender::worker::run(
            self.sender.clone(),
            queue,
            4,
            self.stop.clone(),
        ));
    }

    pub async fn message(&self, id: MessageId) -> Message {
        let mut conn = self.db.connect().await;
        nudge_db::messages::find(&mut conn, self.tenant, id)
            .await
            .unwrap()
            .unwrap()
    }

    pub async fn event_types(&self, id: MessageId) -> Vec<String> {
        self.events(id)
            .await
            .into_iter()
            .map(|e| e.event_type)
            .collect()
    }

    pub async fn events(&self, id: MessageId) -> Vec<MessageEvent> {
        let mut conn = self.db.connect().await;
        nudge_db::messages::events(&mut conn, self.tenant, id)
            .await
            .unwrap()
    }

    /// Waits until the message reaches `status`.
    pub async fn wait_for_status(&self, id: MessageId, status: &str, timeout: Duration) -> Message {
        nudge_testkit::eventually(&format!("status {status}"), timeout, || async {
            let message = self.message(id).await;
            (message.status == status).then_some(message)
        })
        .await
    }

    /// Messages visible on the queue (1 s long poll), not deleted.
    pub async fn visible(&self, url: &str) -> usize {
        self.queue.peek(url, Duration::from_secs(1)).await.len()
    }

    /// The tenant's messages now `sent`.
    pub async fn sent_count(&self) -> i64 {
        let mut conn = self.db.connect().await;
        nudge_db::messages::count_by_status(&mut conn, self.tenant)
            .await
            .unwrap()
            .get("sent")
            .copied()
            .unwrap_or(0)
    }

    pub async fn rejections(&self) -> Vec<String> {
        use nudge_db::schema::queue_rejections;
        let mut conn = self.db.connect().await;
        queue_rejections::table
            .select(queue_rejections::reason)
            .load(&mut conn)
            .await
            .unwrap()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Twilio accepting a create-message request, with this sid.
/// Twilio's list of Messages, empty; below any list a test mounts itself.
pub fn twilio_lists_nothing() -> Mock {
    Mock::given(method("GET"))
        .and(path(MESSAGES_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "messages": [], "end": 0, "first_page_uri": MESSAGES_PATH, "next_page_uri": null,
            "page": 0, "page_size": 50, "previous_page_uri": null, "start": 0, "uri": MESSAGES_PATH,
        })))
        .with_priority(u8::MAX)
}

pub fn twilio_accepts(sid: &str) -> Mock {
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .respond_with(ResponseTemplate::new(201).set_body_json(created(sid)))
}

/// Twilio accepting every create-message request, each with a sid of its own.
pub fn twilio_accepts_each() -> Mock {
    twilio_accepts_each_after(Duration::ZERO)
}

/// As [`twilio_accepts_each`], answering after `delay`.
pub fn twilio_accepts_each_after(delay: Duration) -> Mock {
    let created_count = AtomicUsize::new(0);
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .respond_with(move |_: &wiremock::Request| {
            let n = created_count.fetch_add(1, Ordering::SeqCst);
            ResponseTemplate::new(201)
                .set_body_json(created(&format!("SM{n:032x}")))
                .set_delay(delay)
        })
}

/// Twilio refusing a create-message request with an error body.
pub fn twilio_refuses(status: u16, code: i32, message: &str) -> Mock {
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .respond_with(
            ResponseTemplate::new(status).set_body_json(twilio_error(code, status, message)),
        )
}

/// A 201 answer shaped like Twilio's.
pub fn created(sid: &str) -> Value {
    json!({
        "sid": sid, "status": "queued", "num_segments": "1", "account_sid": ACCOUNT_SID,
        "api_version": "2010-04-01", "direction": "outbound-api"
    })
}

pub fn twilio_error(code: i32, status: u16, message: &str) -> Value {
    json!({"code": code, "message": message, "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status})
}

/// Throughput limits too high to matter (tests about limits set their own).
pub fn unlimited() -> sms_sender::throughput::Limits {
    sms_sender::throughput::Limits {
        long_code: 10_000.0,
        toll_free: 10_000.0,
        short_code: 10_000.0,
        overrides: Default::default(),
        account: 10_000.0,
    }
}

/// A queue message as SQS hands it to the worker, delivered `receive_count` times.
pub fn received(envelope: String, receive_count: u32) -> nudge_queue::ReceivedMessage {
    nudge_queue::ReceivedMessage {
        message_id: "m-1".into(),
        receipt_handle: "r-1".into(),
        body: envelope,
        receive_count,
        traceparent: None,
    }
}
