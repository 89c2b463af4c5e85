//! The database goes away under the whole pipeline, as it does on AWS (a restart for a
//! parameter change, a Multi-AZ failover, a maintenance window), on a Postgres server
//! of the test's own that it restarts and stops:
//!
//! - `pg_ctl restart -m fast` while clients send (each request with an
//!   `Idempotency-Key`, retried on 503 after its `Retry-After`), senders send and
//!   cdc-streamer streams: the restart completes in seconds, the API answers only 202
//!   or 503, every accepted message reaches the provider once, nothing is
//!   dead-lettered, and the change stream holds every message;
//! - the database away for minutes (`NUDGE_DB_OUTAGE_SECONDS`, default 90: four and a
//!   half visibility timeouts, where a worker that kept receiving would dead-letter
//!   within 60 s) with messages on the queue: none is dead-lettered, all are sent once
//!   it is back.
//!
//! docs/reliability.md lists these with the other failures.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nudge_domain::db_change::Op;
use nudge_domain::DbChangeV1;
use nudge_e2e::{
    aws_env, create_shop, create_tenant_with_cli, free_port, logs_dir, queue_accepted, sender_env,
    setting, start_sandbox, wait_ok, Service, SHOP_NUMBER,
};
use nudge_testkit::{eventually, Cluster, TestDb, TestQueue, TestStream};
use serde_json::{json, Value};

/// Statuses of the tenant's messages.
async fn statuses(db: &TestDb, tenant: nudge_domain::TenantId) -> BTreeMap<String, i64> {
    let mut conn = db.connect().await;
    nudge_db::messages::count_by_status(&mut conn, tenant)
        .await
        .unwrap()
}

/// How many of the tenant's messages reached the provider and were recorded.
async fn sent(db: &TestDb, tenant: nudge_domain::TenantId) -> i64 {
    let counts = statuses(db, tenant).await;
    counts.get("sent").copied().unwrap_or(0) + counts.get("delivered").copied().unwrap_or(0)
}

/// Waits up to three minutes for `count` messages sent; says where they are if not.
async fn wait_until_all_sent(
    db: &TestDb,
    tenant: nudge_domain::TenantId,
    count: usize,
    queue: &TestQueue,
) {
    for _ in 0..360 {
        if sent(db, tenant).await == count as i64 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!(
        "not every message sent: {:?}; queue {} visible or in flight, dead letters {}",
        statuses(db, tenant).await,
        queue.depth(&queue.url).await,
        queue.depth(&queue.dlq_url).await,
    );
}

/// The sandbox's messages, by body: each body must be there once.
async fn provider_bodies(sandbox_port: u16) -> BTreeMap<String, usize> {
    let recorded: Value = reqwest::get(format!("http://127.0.0.1:{sandbox_port}/sandbox/messages"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut bodies = BTreeMap::new();
    for message in recorded["messages"].as_array().unwrap() {
        *bodies
            .entry(message["body"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    bodies
}

/// One client sending `POST /v1/messages` with an `Idempotency-Key`, as a careful
/// integration does: on a 503 it waits the `Retry-After` and sends the same request
/// again; if the connection breaks, the same. Returns every status it saw.
async fn send_until_accepted(
    http: &reqwest::Client,
    api: &str,
    key: &str,
    body: &Value,
    seen: &Mutex<BTreeMap<u16, usize>>,
) {
    let idempotency_key: String = body["body"]
        .as_str()
        .unwrap()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    for _ in 0..120 {
        let answer = http
            .post(format!("{api}/v1/messages"))
            .bearer_auth(key)
            .header("Idempotency-Key", &idempotency_key)
            .json(body)
            .send()
            .await;
        let Ok(answer) = answer else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let status = answer.status().as_u16();
        *seen.lock().unwrap().entry(status).or_insert(0) += 1;
        match status {
            202 => return,
            503 => {
                let wait = answer
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .expect("a 503 says when to retry");
                tokio::time::sleep(Duration::from_secs(wait.min(5))).await;
            }
            other => panic!(
                "{idempotency_key}: answered {other}: {}",
                answer.text().await.unwrap_or_default()
            ),
        }
    }
    panic!("{idempotency_key}: never accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_restart_of_postgres_mid_stream_finishes_in_seconds_and_loses_nothing() {
    let count = setting("NUDGE_RESTART_MESSAGES", 200);
    let cluster = Arc::new(Cluster::start());
    let db = TestDb::on(cluster.url.clone()).await;
    let queue = TestQueue::new("pgrestart", 3).await;
    let stream = TestStream::new("pgrestart", 1).await;
    let logs = logs_dir("pg-restart");
    let tenant = create_tenant_with_cli(&db.url, "restart", &[SHOP_NUMBER]);
    let key = tenant["api_key"].as_str().unwrap().to_owned();
    let tenant_id: nudge_domain::TenantId = tenant["tenant_id"].as_str().unwrap().parse().unwrap();

    let (api_port, sandbox_port, cdc_metrics) = (free_port(), free_port(), free_port());
    let _sandbox = start_sandbox(sandbox_port, &logs);
    let mut api_env = vec![
        ("DATABASE_URL", db.url.clone()),
        ("HTTP_HOST", "127.0.0.1".to_owned()),
        ("HTTP_PORT", api_port.to_string()),
        ("OUTBOUND_SMS_QUEUE", queue.name.clone()),
        ("OUTBOX_RELAY_INTERVAL_MS", "200".to_owned()),
    ];
    api_env.extend(aws_env());
    let _api = Service::start("messaging-api", &["serve"], &api_env, &logs);
    let _senders: Vec<Service> = (0..2)
        .map(|_| {
            Service::start(
                "sms-sender",
                &[],
                &sender_env(&db.url, &queue.name, sandbox_port),
                &logs,
            )
        })
        .collect();
    let mut cdc_env = vec![
        ("DATABASE_URL", db.url.clone()),
        ("CDC_SLOT", "restart".to_owned()),
        ("CDC_PUBLICATION", "restart".to_owned()),
        ("CDC_STREAM", stream.name.clone()),
        ("CDC_HEARTBEAT_INTERVAL_MS", "500".to_owned()),
        ("CDC_METRICS_ADDRESS", format!("127.0.0.1:{cdc_metrics}")),
    ];
    cdc_env.extend(aws_env());
    let mut cdc = Service::start("cdc-streamer", &[], &cdc_env, &logs);

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let api = format!("http://127.0.0.1:{api_port}");
    wait_ok(&http, &format!("{api}/readyz")).await;
    wait_ok(&http, &format!("http://127.0.0.1:{cdc_metrics}/healthz")).await;
    let shop = create_shop(&http, &api, &key, "Restart Bags").await;

    // Four clients send all the messages between them.
    let seen = Arc::new(Mutex::new(BTreeMap::new()));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (http, api, key, shop_id) = (http.clone(), api.clone(), key.clone(), shop["id"].clone());
            let (seen, next) = (seen.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if i >= count {
                        return;
                    }
                    let body = json!({"shop_id": shop_id, "to": format!("+1415{i:07}"), "body": format!("restart #{i}"), "category": "transactional"});
                    send_until_accepted(&http, &api, &key, &body, &seen).await;
                }
            })
        })
        .collect();

    // A quarter in, the operator restarts Postgres.
    eventually("a quarter accepted", Duration::from_secs(60), || async {
        (seen.lock().unwrap().get(&202).copied().unwrap_or(0) >= count / 4).then_some(())
    })
    .await;
    let restart = tokio::task::spawn_blocking({
        let cluster = cluster.clone();
        move || cluster.restart_fast()
    });
    let took = tokio::time::timeout(Duration::from_secs(120), restart)
        .await
        .expect("pg_ctl restart -m fast never finished: a WAL sender held it")
        .unwrap();
    // A fast shutdown waits for each WAL sender to confirm the end of WAL: with
    // cdc-streamer connected it must still take seconds, not minutes.
    assert!(
        took < Duration::from_secs(30),
        "the restart took {took:?}:\n{}",
        cluster.log()
    );

    for client in clients {
        client.await.unwrap();
    }
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.keys().all(|status| [202, 503].contains(status)),
        "only 202 and 503: {seen:?}"
    );
    wait_until_all_sent(&db, tenant_id, count, &queue).await;
    let bodies = provider_bodies(sandbox_port).await;
    let twice: Vec<_> = bodies.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
    assert_eq!(bodies.len(), count, "every message reached the provider");
    assert_eq!(
        queue.depth(&queue.dlq_url).await,
        0,
        "nothing dead-lettered"
    );

    // The change stream holds every message's insert: no gap across the restart.
    let mut conn = db.connect().await;
    let ids: BTreeSet<String> = {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        nudge_db::schema::messages::table
            .select(nudge_db::schema::messages::id)
            .load::<uuid::Uuid>(&mut conn)
            .await
            .unwrap()
            .into_iter()
            .map(|id| id.to_string())
            .collect()
    };
    assert_eq!(ids.len(), count);
    eventually(
        "every message's insert on the change stream",
        Duration::from_secs(120),
        || async {
            let streamed: BTreeSet<String> = stream
                .read_all()
                .await
                .iter()
                .filter_map(|raw| serde_json::from_slice::<DbChangeV1>(&raw.data).ok())
                .filter(|change| change.source.table == "messages" && change.op == Op::Create)
                .filter_map(|change| change.key?.get("id")?.as_str().map(str::to_owned))
                .collect();
            ids.is_subset(&streamed).then_some(())
        },
    )
    .await;
    assert!(cdc.is_running(), "cdc-streamer rode out the restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_away_for_minutes_dead_letters_nothing_and_then_sends_everything() {
    let count = 40;
    let outage = Duration::from_secs(setting("NUDGE_DB_OUTAGE_SECONDS", 90) as u64);
    let cluster = Cluster::start();
    let db = TestDb::on(cluster.url.clone()).await;
    // Three receives before the dead-letter queue: a worker that kept receiving
    // through the outage would lose messages to it within a minute.
    let queue = TestQueue::with_visibility("dbaway", 3, 20).await;
    let logs = logs_dir("db-away");
    let mut conn = db.connect().await;
    let (tenant, shop) = nudge_testkit::tenant_with_shop(&mut conn, "away").await;
    queue_accepted(&mut conn, &queue.url, tenant, shop, "away", count).await;
    drop(conn);
    let sandbox_port = free_port();
    let _sandbox = start_sandbox(sandbox_port, &logs);
    // The messages are on the queue; the database goes away; then a sender starts.
    cluster.stop();
    let mut env = sender_env(&db.url, &queue.url, sandbox_port);
    env.push(("SENDER_CONCURRENCY", "8".to_owned()));
    let mut sender = Service::start("sms-sender", &[], &env, &logs);
    tokio::time::sleep(outage).await;
    assert!(sender.is_running(), "the sender waits; it does not crash");
    assert_eq!(
        queue.depth(&queue.dlq_url).await,
        0,
        "nothing dead-lettered during the outage"
    );
    cluster.start_again();

    wait_until_all_sent(&db, tenant, count, &queue).await;
    let bodies = provider_bodies(sandbox_port).await;
    assert_eq!(bodies.len(), count);
    assert!(bodies.values().all(|n| *n == 1), "{bodies:?}");
    assert_eq!(
        queue.depth(&queue.dlq_url).await,
        0,
        "nothing dead-lettered"
    );
    drop(db);
    drop(cluster);
}
