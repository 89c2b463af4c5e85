//! Helpers of the cross-service end-to-end tests (in `tests/`): the workspace's real
//! binaries started as processes, killed when the test ends.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test support: a panic is how a test fails"
)]

pub mod bench;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub const ACCOUNT_SID: &str = "AC0e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e";
pub const AUTH_TOKEN: &str = "e2e-token";

/// The directory holding the workspace's binaries: the parent of a test's `deps/`, or
/// the directory of a binary (the benchmark tools) built beside them.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap();
    if dir.ends_with("deps") {
        dir.parent().unwrap().to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process that is killed when the test ends, with its output in a log file.
pub struct Service {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Service {
    pub fn start(
        name: &'static str,
        args: &[&str],
        env: &[(&str, String)],
        logs: &std::path::Path,
    ) -> Self {
        let binary = bin_dir().join(name);
        assert!(
            binary.exists(),
            "{} is not built; run `cargo build --workspace --bins` first",
            binary.display()
        );
        // A service started again (a restart in a test) gets a log of its own, so that
        // the log of the process before it is kept: `{name}.log`, `{name}.2.log`...
        let log = (1..)
            .map(|start| match start {
                1 => logs.join(format!("{name}.log")),
                n => logs.join(format!("{name}.{n}.log")),
            })
            .find(|path| !path.exists())
            .expect("a free log name");
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(&binary)
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap();
        Self { name, child, log }
    }

    /// Blocks until the service accepts connections on `port` (at most 30 s), so that a
    /// test's first request does not race its start on a loaded machine.
    pub fn wait_listening(&self, port: u16) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "{} never listened on port {port}; its log: {}",
                self.name,
                self.log.display()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- {} log ({}) ---", self.name, self.log.display());
            eprintln!("{}", std::fs::read_to_string(&self.log).unwrap_or_default());
        }
    }
}

impl Service {
    /// SIGTERM, as an orchestrator stops a container; waits up to `bound` for the exit.
    /// Returns whether it exited successfully in time.
    pub fn terminate(&mut self, bound: std::time::Duration) -> bool {
        let pid = self.child.id().to_string();
        let signalled = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(
            signalled.is_ok_and(|s| s.success()),
            "could not signal {}",
            self.name
        );
        let deadline = std::time::Instant::now() + bound;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        false
    }

    /// Whether the process has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no chance to clean up, as in a crash.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sender number the stacks' and benches' tenants get.
pub const SHOP_NUMBER: &str = "+15017122661";

/// The operator's `messaging-api admin create-tenant --name NAME --approved [--number N]...` on
/// `database_url`: its JSON output (`tenant_id`, `api_key`, `sender_numbers`).
pub fn create_tenant_with_cli(
    database_url: &str,
    name: &str,
    numbers: &[&str],
) -> serde_json::Value {
    let mut args = vec!["admin", "create-tenant", "--name", name, "--approved"];
    for number in numbers {
        args.extend(["--number", number]);
    }
    let created = Command::new(bin_dir().join("messaging-api"))
        .args(&args)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    serde_json::from_slice(&created.stdout).unwrap()
}

/// LocalStack's endpoint and dummy credentials, for the services' AWS SDK.
pub fn aws_env() -> Vec<(&'static str, String)> {
    vec![
        (
            "AWS_ENDPOINT_URL",
            std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".into()),
        ),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
    ]
}

/// The `provider-sandbox` process on `port`, with the account these tests use.
pub fn start_sandbox(port: u16, logs: &std::path::Path) -> Service {
    start_sandbox_posting_inbound_to(port, None, logs)
}

/// As [`start_sandbox`], posting the SMS `POST /sandbox/inbound` makes up to
/// `inbound_url` (the listener's `/twilio/inbound`).
pub fn start_sandbox_posting_inbound_to(
    port: u16,
    inbound_url: Option<&str>,
    logs: &std::path::Path,
) -> Service {
    start_sandbox_with(port, inbound_url, &[], logs)
}

/// As [`start_sandbox_posting_inbound_to`], with more of the sandbox's settings.
pub fn start_sandbox_with(
    port: u16,
    inbound_url: Option<&str>,
    settings: &[(&'static str, String)],
    logs: &std::path::Path,
) -> Service {
    let mut env = vec![
        ("SANDBOX_HTTP_PORT", port.to_string()),
        ("SANDBOX_ACCOUNT_SID", ACCOUNT_SID.into()),
        ("SANDBOX_AUTH_TOKEN", AUTH_TOKEN.into()),
    ];
    env.extend(settings.iter().cloned());
    if let Some(url) = inbound_url {
        env.push(("SANDBOX_INBOUND_URL", url.to_owned()));
    }
    let sandbox = Service::start("provider-sandbox", &[], &env, logs);
    // Tests call it at once (to plan faults): it must be listening first.
    sandbox.wait_listening(port);
    sandbox
}

/// What an `sms-sender` process needs to drain `queue` into the sandbox on
/// `sandbox_port`, with the throughput limits out of the way (they are tested on their
/// own) and metrics on a free port (several senders run at once).
pub fn sender_env(
    database_url: &str,
    queue: &str,
    sandbox_port: u16,
) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("DATABASE_URL", database_url.to_owned()),
        ("OUTBOUND_SMS_QUEUE", queue.to_owned()),
        (
            "TWILIO_API_BASE_URL",
            format!("http://127.0.0.1:{sandbox_port}"),
        ),
        ("TWILIO_ACCOUNT_SID", ACCOUNT_SID.into()),
        ("TWILIO_AUTH_TOKEN", AUTH_TOKEN.into()),
        ("SENDER_RATE_LONG_CODE", "100000".into()),
        ("SENDER_RATE_ACCOUNT", "100000".into()),
        ("SENDER_METRICS_ADDRESS", "127.0.0.1:0".into()),
    ];
    env.extend(aws_env());
    env
}

/// The real `messaging-api` in-process for the benchmark tools, on a fresh database and
/// LocalStack queue, with a tenant whose limits are out of the way.
pub struct BenchApp {
    pub db: nudge_testkit::TestDb,
    pub queue: nudge_testkit::TestQueue,
    pub base: String,
    pub key: String,
    pub tenant: nudge_domain::TenantId,
}

impl BenchApp {
    pub async fn start(pool_size: usize, campaign_page_size: i64) -> Self {
        Self::start_with(pool_size, campaign_page_size, &[]).await
    }

    /// [`Self::start`] with more of the app's variables (to compare settings in one run).
    pub async fn start_with(
        pool_size: usize,
        campaign_page_size: i64,
        more: &[(&str, &str)],
    ) -> Self {
        let db = nudge_testkit::TestDb::new().await;
        let queue = nudge_testkit::TestQueue::new("bench", 5).await;
        let config = messaging_api::Config::from_vars(
            [
                ("DATABASE_URL", db.url.clone()),
                ("DATABASE_POOL_SIZE", pool_size.to_string()),
                ("HTTP_HOST", "127.0.0.1".into()),
                ("HTTP_PORT", "0".into()),
                ("OUTBOUND_SMS_QUEUE", queue.url.clone()),
                // No lead searches in the benchmarks: a queue that is never written.
                ("LEAD_SEARCHES_QUEUE", queue.dlq_url.clone()),
                ("OUTBOX_RELAY_INTERVAL_MS", "200".into()),
                ("CAMPAIGN_PAGE_SIZE", campaign_page_size.to_string()),
                // The benchmarks measure expansion alone, with no sender draining.
                ("CAMPAIGN_MAX_UNSENT", i64::MAX.to_string()),
            ]
            .map(|(name, value)| (name.to_owned(), value))
            .into_iter()
            .chain(
                more.iter()
                    .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
            ),
        )
        .expect("the benchmark's configuration is valid");
        let app = messaging_api::Application::build(config, &nudge_testkit::localstack_config())
            .await
            .unwrap();
        let base = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        let mut conn = db.connect().await;
        let created: serde_json::Value = serde_json::from_str(
            &messaging_api::admin::create_tenant(&mut conn, "bench", &[SHOP_NUMBER.into()], true)
                .await
                .unwrap(),
        )
        .unwrap();
        let tenant: nudge_domain::TenantId =
            created["tenant_id"].as_str().unwrap().parse().unwrap();
        nudge_db::tenants::set_limits(&mut conn, tenant, Some(i32::MAX), Some(i32::MAX))
            .await
            .unwrap();
        let key = created["api_key"].as_str().unwrap().to_owned();
        Self {
            db,
            queue,
            base,
            key,
            tenant,
        }
    }
}

/// The whole pipeline as processes: `messaging-api`, `sms-sender`, `webhook-listener`
/// and `provider-sandbox` on free ports, a fresh database and fresh queues, and a
/// tenant created with the operator's command. Everything stops when it is dropped.
pub struct Stack {
    // Dropped first (fields drop in order): the processes stop before their database
    // and queues are removed.
    _services: Vec<Service>,
    pub db: nudge_testkit::TestDb,
    pub queue: nudge_testkit::TestQueue,
    pub inbound_queue: nudge_testkit::TestQueue,
    /// Base URLs.
    pub api: String,
    pub sandbox: String,
    pub listener: String,
    /// The sender's `/metrics`.
    pub sender_metrics: String,
    /// The tenant's id and API key.
    pub tenant_id: String,
    pub key: String,
    pub logs: PathBuf,
}

impl Stack {
    pub async fn start(tenant_name: &str) -> Self {
        Self::start_with(tenant_name, &[]).await
    }

    /// As [`Stack::start`], with settings for the provider sandbox (such as
    /// `SANDBOX_FINAL_STATUS_AFTER_MS`).
    pub async fn start_with(
        tenant_name: &str,
        sandbox_settings: &[(&'static str, String)],
    ) -> Self {
        use std::time::Duration;

        let db = nudge_testkit::TestDb::new().await;
        let queue = nudge_testkit::TestQueue::new("e2e", 3).await;
        let inbound_queue = nudge_testkit::TestQueue::new("e2e-inbound", 3).await;
        nudge_testkit::ensure_media_bucket("nudge-media").await;
        let logs =
            std::env::temp_dir().join(format!("nudge-e2e-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&logs).unwrap();
        let (api_port, sandbox_port, metrics_port, listener_port) =
            (free_port(), free_port(), free_port(), free_port());
        let listener = format!("http://127.0.0.1:{listener_port}");
        let aws = aws_env();
        let database = ("DATABASE_URL", db.url.clone());

        // The operator's commands: migrate (a no-op on this database), create a tenant.
        let migrate = Command::new(bin_dir().join("messaging-api"))
            .arg("migrate")
            .env(database.0, &database.1)
            .output()
            .unwrap();
        assert!(
            migrate.status.success(),
            "{}",
            String::from_utf8_lossy(&migrate.stderr)
        );
        let tenant = create_tenant_with_cli(&database.1, tenant_name, &[SHOP_NUMBER]);

        let sandbox = start_sandbox_with(
            sandbox_port,
            Some(&format!("{listener}/twilio/inbound")),
            sandbox_settings,
            &logs,
        );
        let mut api_env = vec![
            database.clone(),
            ("HTTP_HOST", "127.0.0.1".into()),
            ("HTTP_PORT", api_port.to_string()),
            ("OUTBOUND_SMS_QUEUE", queue.name.clone()),
            ("OUTBOX_RELAY_INTERVAL_MS", "200".into()),
            // The console where a browser reaches it, signing in with the sandbox's
            // OpenID Connect issuer (its default client).
            ("CONSOLE_PUBLIC_URL", format!("http://127.0.0.1:{api_port}")),
            (
                "CONSOLE_OIDC_ISSUER",
                format!("http://127.0.0.1:{sandbox_port}/oidc"),
            ),
            ("CONSOLE_OIDC_CLIENT_ID", "nudge-console".into()),
            ("CONSOLE_OIDC_CLIENT_SECRET", "sandbox-oidc-secret".into()),
            ("CONSOLE_OIDC_NAME", "Sandbox ID".into()),
        ];
        api_env.extend(aws.iter().cloned());
        let api_service = Service::start("messaging-api", &["serve"], &api_env, &logs);
        let mut sender_env = vec![
            database.clone(),
            ("OUTBOUND_SMS_QUEUE", queue.name.clone()),
            (
                "TWILIO_API_BASE_URL",
                format!("http://127.0.0.1:{sandbox_port}"),
            ),
            ("TWILIO_ACCOUNT_SID", ACCOUNT_SID.into()),
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN.into()),
            ("PUBLIC_BASE_URL", listener.clone()),
            (
                "SENDER_METRICS_ADDRESS",
                format!("127.0.0.1:{metrics_port}"),
            ),
        ];
        sender_env.extend(aws.iter().cloned());
        let sender = Service::start("sms-sender", &[], &sender_env, &logs);
        let mut listener_env = vec![
            database.clone(),
            ("HTTP_HOST", "127.0.0.1".into()),
            ("HTTP_PORT", listener_port.to_string()),
            ("PUBLIC_BASE_URL", listener.clone()),
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN.into()),
            ("INBOUND_SMS_QUEUE", inbound_queue.name.clone()),
            // Answers go where the sender reads.
            ("OUTBOUND_SMS_QUEUE", queue.name.clone()),
            ("OUTBOX_RELAY_INTERVAL_MS", "200".into()),
        ];
        listener_env.extend(aws.iter().cloned());
        let listener_service = Service::start("webhook-listener", &[], &listener_env, &logs);

        let stack = Self {
            _services: vec![sandbox, api_service, sender, listener_service],
            db,
            queue,
            inbound_queue,
            api: format!("http://127.0.0.1:{api_port}"),
            sandbox: format!("http://127.0.0.1:{sandbox_port}"),
            listener,
            sender_metrics: format!("http://127.0.0.1:{metrics_port}/metrics"),
            tenant_id: tenant["tenant_id"].as_str().unwrap().to_owned(),
            key: tenant["api_key"].as_str().unwrap().to_owned(),
            logs,
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        for base in [&stack.api, &stack.sandbox, &stack.listener] {
            nudge_testkit::eventually(
                &format!("{base} to be healthy"),
                Duration::from_secs(30),
                || async {
                    let response = http.get(format!("{base}/healthz")).send().await.ok()?;
                    response.status().is_success().then_some(())
                },
            )
            .await;
        }
        nudge_testkit::eventually("the API to be ready", Duration::from_secs(30), || async {
            let response = http
                .get(format!("{}/readyz", stack.api))
                .send()
                .await
                .ok()?;
            response.status().is_success().then_some(())
        })
        .await;
        stack
    }

    /// What the provider sandbox received (`GET /sandbox/messages`), newest first.
    pub async fn sandbox_messages(&self) -> Vec<serde_json::Value> {
        let recorded: serde_json::Value =
            reqwest::get(format!("{}/sandbox/messages", self.sandbox))
                .await
                .expect("the sandbox answers")
                .json()
                .await
                .expect("the sandbox answers JSON");
        recorded["messages"]
            .as_array()
            .cloned()
            .expect("the sandbox lists messages")
    }

    /// A confirmed console account in the stack's tenant, made with the operator's
    /// `messaging-api admin create-console-user` (the password on standard input).
    pub fn create_console_user(&self, email: &str, role: &str, password: &str) {
        use std::io::Write;

        let mut child = Command::new(bin_dir().join("messaging-api"))
            .args([
                "admin",
                "create-console-user",
                "--tenant",
                &self.tenant_id,
                "--email",
                email,
                "--role",
                role,
            ])
            .env("DATABASE_URL", &self.db.url)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// A test's size from the environment (`NUDGE_CHAOS_MESSAGES`...), or `default`.
pub fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A directory for a test's service logs, under the temporary directory.
pub fn logs_dir(purpose: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nudge-{purpose}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Waits until `url` answers 2xx (a service's `/readyz` or `/healthz`).
pub async fn wait_ok(http: &reqwest::Client, url: &str) {
    nudge_testkit::eventually(
        &format!("{url} to answer"),
        std::time::Duration::from_secs(60),
        || async {
            let answer = http.get(url).send().await.ok()?;
            answer.status().is_success().then_some(())
        },
    )
    .await;
}

/// A shop on [`SHOP_NUMBER`] made through the API (`POST /v1/shops`), in UTC without
/// quiet hours.
pub async fn create_shop(
    http: &reqwest::Client,
    api: &str,
    key: &str,
    name: &str,
) -> serde_json::Value {
    let answer = http
        .post(format!("{api}/v1/shops"))
        .bearer_auth(key)
        .json(
            &serde_json::json!({"name": name, "sender_number": SHOP_NUMBER, "time_zone": "UTC",
            "quiet_hours": {"start": "00:00", "end": "00:00"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201, "create a shop");
    answer.json().await.unwrap()
}

/// `count` accepted messages of the shop, each to its own number with its own body
/// (`{purpose} #{i}`), stored as the API stores them and put on the queue at `queue_url`.
pub async fn queue_accepted(
    conn: &mut nudge_db::AsyncPgConnection,
    queue_url: &str,
    tenant: nudge_domain::TenantId,
    shop: nudge_domain::ShopId,
    purpose: &str,
    count: usize,
) {
    let sqs = nudge_queue::SqsQueue::new(nudge_testkit::sqs_client(), queue_url);
    let mut batch = Vec::new();
    for i in 0..count {
        let (message, outbox, envelope) = nudge_testkit::queued_message(
            tenant,
            shop,
            &format!("+1415{i:07}"),
            &format!("{purpose} #{i}"),
            "outbound-sms",
        );
        nudge_db::messages::insert_accepted(conn, &message, &outbox)
            .await
            .unwrap();
        batch.push(nudge_queue::OutgoingMessage {
            entry_id: batch.len().to_string(),
            body: envelope.to_json().unwrap(),
            traceparent: None,
        });
        if batch.len() == nudge_queue::MAX_BATCH || i + 1 == count {
            assert!(sqs.send_batch(&batch).await.unwrap().is_empty());
            batch.clear();
        }
    }
}
