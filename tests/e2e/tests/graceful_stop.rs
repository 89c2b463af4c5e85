//! `messaging-api` stopped with SIGTERM (a rolling deploy) while clients send, its
//! outbox relay works and a campaign is being expanded, then started again: no request
//! is answered with a 5xx (those in flight finish; new ones find the port closed and
//! are retried), every accepted message reaches the queue, none reaches it twice, and
//! the campaign reaches each of its customers once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nudge_e2e::{
    aws_env, create_shop, create_tenant_with_cli, free_port, logs_dir, wait_ok, Service,
    SHOP_NUMBER,
};
use nudge_testkit::{eventually, TestDb, TestQueue};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_of_the_api_mid_stream_answers_no_5xx_and_relays_each_message_once() {
    let count = 200;
    let audience = 600;
    let db = TestDb::new().await;
    let queue = TestQueue::new("graceful", 5).await;
    let logs = logs_dir("graceful");
    let tenant = create_tenant_with_cli(&db.url, "graceful", &[SHOP_NUMBER]);
    let key = tenant["api_key"].as_str().unwrap().to_owned();
    let port = free_port();
    let mut env = vec![
        ("DATABASE_URL", db.url.clone()),
        ("HTTP_HOST", "127.0.0.1".to_owned()),
        ("HTTP_PORT", port.to_string()),
        ("OUTBOUND_SMS_QUEUE", queue.name.clone()),
        ("OUTBOX_RELAY_INTERVAL_MS", "100".to_owned()),
        // Small pages, so that the campaign is mid-expansion when the API stops.
        ("CAMPAIGN_PAGE_SIZE", "20".to_owned()),
    ];
    env.extend(aws_env());
    let api = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let mut first = Service::start("messaging-api", &["serve"], &env, &logs);
    wait_ok(&http, &format!("{api}/readyz")).await;
    let shop = create_shop(&http, &api, &key, "Graceful").await;

    // The campaign's audience, and the campaign (accepted at once, expanded in pages).
    {
        use diesel_async::RunQueryDsl;
        let mut conn = db.connect().await;
        diesel::sql_query(format!(
            "INSERT INTO customers (id, tenant_id, shop_id, phone, name)
               SELECT gen_random_uuid(), '{}', '{}', '+1628' || lpad(n::text, 7, '0'), 'Customer ' || n
                 FROM generate_series(1, {audience}) AS n",
            tenant["tenant_id"].as_str().unwrap(),
            shop["id"].as_str().unwrap(),
        ))
        .execute(&mut conn)
        .await
        .unwrap();
    }
    let template = http
        .post(format!("{api}/v1/templates"))
        .bearer_auth(&key)
        .json(&json!({"name": "deploy-note", "body": "Hello {{customer.name}}, we moved", "category": "transactional"}))
        .send()
        .await
        .unwrap();
    assert_eq!(template.status(), 201, "{:?}", template.text().await);
    let seen = Arc::new(Mutex::new(BTreeMap::<u16, usize>::new()));
    let next = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (http, api, key, shop_id) = (http.clone(), api.clone(), key.clone(), shop["id"].clone());
            let (seen, next) = (seen.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= count {
                        return;
                    }
                    let body = json!({"shop_id": shop_id, "to": format!("+1415{i:07}"), "body": format!("deploy {i}"), "category": "transactional"});
                    for _ in 0..300 {
                        let answer = http
                            .post(format!("{api}/v1/messages"))
                            .bearer_auth(&key)
                            .header("Idempotency-Key", format!("deploy-{i}"))
                            .json(&body)
                            .send()
                            .await;
                        match answer {
                            Ok(answer) => {
                                let status = answer.status().as_u16();
                                *seen.lock().unwrap().entry(status).or_insert(0) += 1;
                                if status == 202 {
                                    break;
                                }
                                assert!(status == 503, "deploy {i}: answered {status}");
                            }
                            // The port is closed between the two processes.
                            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                        }
                    }
                }
            })
        })
        .collect();

    eventually("a third accepted", Duration::from_secs(60), || async {
        (seen.lock().unwrap().get(&202).copied().unwrap_or(0) >= count / 3).then_some(())
    })
    .await;
    // The campaign starts expanding just before the API is told to stop.
    let campaign: Value = http
        .post(format!("{api}/v1/campaigns"))
        .bearer_auth(&key)
        .json(&json!({"shop_id": shop["id"], "name": "Deploy", "template": "deploy-note"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let campaign_id = campaign["id"].as_str().expect("a campaign").to_owned();

    assert!(
        first.terminate(Duration::from_secs(30)),
        "the API did not stop cleanly after SIGTERM"
    );
    let _second = Service::start("messaging-api", &["serve"], &env, &logs);
    for client in clients {
        tokio::time::timeout(Duration::from_secs(120), client)
            .await
            .expect("every message accepted")
            .unwrap();
    }
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.keys().all(|status| *status == 202),
        "only 202 (in-flight requests finish; new ones wait for the next process): {seen:?}"
    );

    // The campaign went on in the next process: each customer got one message.
    eventually(
        "the campaign expanded",
        Duration::from_secs(120),
        || async {
            let shown: Value = http
                .get(format!("{api}/v1/campaigns/{campaign_id}"))
                .bearer_auth(&key)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (shown["status"] == "expanded").then_some(())
        },
    )
    .await;
    // Every message on the queue once: read it all back once the outbox is empty.
    eventually("the outbox relayed", Duration::from_secs(60), || async {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        let mut conn = db.connect().await;
        let left: i64 = nudge_db::schema::outbox::table
            .count()
            .get_result(&mut conn)
            .await
            .unwrap();
        (left == 0).then_some(())
    })
    .await;
    let mut relayed: BTreeMap<String, usize> = BTreeMap::new();
    for message in queue.read_all(&queue.url).await {
        let body: Value = serde_json::from_str(message.body().unwrap()).unwrap();
        let id = body["payload"]["message_id"].as_str().unwrap().to_owned();
        *relayed.entry(id).or_insert(0) += 1;
    }
    let twice: Vec<_> = relayed.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "relayed more than once: {twice:?}");

    let per_customer: Vec<i64> = {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        use nudge_db::schema::messages;
        let mut conn = db.connect().await;
        messages::table
            .filter(messages::campaign_id.eq(campaign_id.parse::<uuid::Uuid>().unwrap()))
            .group_by(messages::to_number)
            .select(diesel::dsl::count_star())
            .load(&mut conn)
            .await
            .unwrap()
    };
    assert_eq!(per_customer.len(), audience, "every customer reached");
    assert!(per_customer.iter().all(|n| *n == 1), "none twice");
    assert_eq!(
        relayed.len(),
        count + audience,
        "every accepted message relayed, the campaign's too"
    );
}
