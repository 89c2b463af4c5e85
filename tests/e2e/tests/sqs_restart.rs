//! LocalStack stopped for a minute and started again mid-run, with the real
//! `messaging-api`, `sms-sender` and `provider-sandbox` processes: the API keeps
//! accepting all along (every answer a 202: its outbox holds what SQS cannot take), the
//! sender keeps running through the outage, and once SQS is back every accepted
//! message is sent, once.
//!
//! The test runs a LocalStack of its own (SQS only, on a free port) so that stopping it
//! does not take SQS away from the tests running beside it. Community LocalStack keeps
//! no queue across a restart, so the queues are created again when it is back, as
//! `./nudge up` does; what was on them is stopped for only after it was all sent.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use nudge_e2e::{free_port, sender_env, start_sandbox, Service};
use nudge_testkit::{eventually, TestDb};
use serde_json::{json, Value};

/// A LocalStack of this test's own, started and stopped with `localstack/host.sh`.
struct PrivateLocalStack {
    env: Vec<(&'static str, String)>,
    url: String,
    home: PathBuf,
}

impl PrivateLocalStack {
    fn new() -> Self {
        let port = free_port();
        let home = std::env::temp_dir().join(format!("nudge-ls-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&home).unwrap();
        Self {
            env: vec![
                ("LOCALSTACK_PORT", port.to_string()),
                ("LOCALSTACK_HOME", home.display().to_string()),
                ("LOCALSTACK_PIDFILE", home.join("pid").display().to_string()),
                ("LOCALSTACK_SERVICES", "sqs".into()),
            ],
            url: format!("http://127.0.0.1:{port}"),
            home,
        }
    }

    fn script(&self, command: &str) {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../localstack/host.sh");
        let output = Command::new("bash")
            .arg(script)
            .arg(command)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "host.sh {command}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Starts it and creates Nudge's queues on it.
    fn start(&self) {
        self.script("start");
        self.script("bootstrap");
    }

    fn stop(&self) {
        self.script("stop");
    }
}

impl Drop for PrivateLocalStack {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_stopped_and_restarted_mid_run_loses_nothing_and_sends_nothing_twice() {
    let localstack = PrivateLocalStack::new();
    localstack.start();
    let db = TestDb::new().await;
    let mut conn = db.connect().await;
    let issued = nudge_db::tenants::create_with_key(&mut conn, "restart")
        .await
        .unwrap();
    let tenant = nudge_domain::TenantId::from_uuid(issued.tenant.id);
    nudge_db::tenants::approve(&mut conn, tenant).await.unwrap();
    let shop = nudge_testkit::insert_shop(&mut conn, tenant).await;
    let logs = std::env::temp_dir().join(format!("nudge-sqs-restart-{}", std::process::id()));
    std::fs::create_dir_all(&logs).unwrap();
    let aws = [
        ("AWS_ENDPOINT_URL", localstack.url.clone()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
    ];

    let (api_port, sandbox_port) = (free_port(), free_port());
    let _sandbox = start_sandbox(sandbox_port, &logs);
    let mut api_env = vec![
        ("DATABASE_URL", db.url.clone()),
        ("HTTP_HOST", "127.0.0.1".to_owned()),
        ("HTTP_PORT", api_port.to_string()),
        ("OUTBOX_RELAY_INTERVAL_MS", "200".to_owned()),
    ];
    api_env.extend(aws.iter().cloned());
    let _api = Service::start("messaging-api", &["serve"], &api_env, &logs);
    // The shared sender settings, pointed at this test's LocalStack (later entries win).
    let mut sender_env = sender_env(&db.url, "outbound-sms", sandbox_port);
    sender_env.extend(aws.iter().cloned());
    let mut sender = Service::start("sms-sender", &[], &sender_env, &logs);

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let api = format!("http://127.0.0.1:{api_port}");
    eventually("the API to be ready", Duration::from_secs(30), || async {
        let response = http.get(format!("{api}/readyz")).send().await.ok()?;
        response.status().is_success().then_some(())
    })
    .await;
    let send = |i: usize| {
        let body = json!({"shop_id": shop.id, "to": format!("+1415555{i:04}"), "body": format!("Order #{i} shipped"), "category": "transactional"});
        let request = http
            .post(format!("{api}/v1/messages"))
            .bearer_auth(&issued.plain_text)
            .json(&body);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 202, "message {i}");
        }
    };
    let sent = || async {
        let mut conn = db.connect().await;
        nudge_db::messages::count_by_status(&mut conn, tenant)
            .await
            .unwrap()
            .get("sent")
            .copied()
            .unwrap_or(0)
    };

    for i in 0..10 {
        send(i).await;
    }
    eventually("the first ten sent", Duration::from_secs(60), || async {
        (sent().await == 10).then_some(())
    })
    .await;

    // SQS goes away for a minute (`NUDGE_SQS_OUTAGE_SECONDS`). The API accepts all
    // along (its outbox holds the messages); the sender keeps polling.
    let outage = std::env::var("NUDGE_SQS_OUTAGE_SECONDS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(60);
    localstack.stop();
    let away = std::time::Instant::now();
    for i in 10..20 {
        send(i).await;
        tokio::time::sleep(Duration::from_millis(outage * 1000 / 10)).await;
    }
    assert!(away.elapsed() >= Duration::from_secs(outage));
    assert!(sender.is_running(), "the sender must survive the outage");
    assert_eq!(sent().await, 10);

    // SQS is back, empty: the queues are created again, and the work catches up.
    localstack.start();
    eventually("all twenty sent", Duration::from_secs(90), || async {
        (sent().await == 20).then_some(())
    })
    .await;
    assert!(sender.is_running());
    let recorded: Value = http
        .get(format!("http://127.0.0.1:{sandbox_port}/sandbox/messages"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bodies: std::collections::BTreeSet<&str> = recorded["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        recorded["messages"].as_array().unwrap().len(),
        20,
        "each message once"
    );
    assert_eq!(bodies.len(), 20);
}
