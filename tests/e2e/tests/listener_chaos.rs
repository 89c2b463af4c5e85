//! `webhook-listener` SIGKILLed at random moments while "Twilio" posts signed inbound
//! SMS and status callbacks, retrying each one on anything but a 2xx as Twilio does,
//! and while it delivers the merchant's `message.delivered` webhooks: every inbound sid
//! is stored once and answered once (a HELP gets exactly one reply), every status is
//! applied, and every webhook is delivered (at least once after a kill, with one
//! `webhook-id` for its retries).
//!
//! The same with SIGTERM instead (a rolling deploy): besides, no webhook in flight is
//! answered with a 5xx (each is answered, or never reaches a stopping listener), and
//! each merchant webhook is delivered exactly once: the deliveries in flight finish
//! before the listener exits.
//!
//! Size: `NUDGE_LISTENER_CHAOS_TEXTS` (default 120 texts and as many callbacks) and
//! `NUDGE_LISTENER_CHAOS_KILLS` (default 8), `NUDGE_LISTENER_SIGTERMS` (default 3).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nudge_domain::MessageId;
use nudge_e2e::{aws_env, free_port, logs_dir, setting, Service, AUTH_TOKEN};
use nudge_testkit::{eventually, TestDb, TestQueue, SHOP_NUMBER};
use rand::Rng;

/// Where Twilio believes the listener is (what it signs).
const PUBLIC_BASE: &str = "https://hooks.example.com";

/// How the listener is stopped between runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// SIGKILL: a crash.
    Kill,
    /// SIGTERM: a deploy; what is in flight is answered first.
    Term,
}

/// Posts a signed form to the listener until it answers 2xx, as Twilio retries; with
/// `no_5xx`, a 5xx fails the test.
async fn deliver(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    params: &[(String, String)],
    no_5xx: bool,
) {
    let signature =
        nudge_domain::twilio_signature::sign(AUTH_TOKEN, &format!("{PUBLIC_BASE}{path}"), params);
    let token = format!("{}-{}", params[0].1, params[1].1);
    for _ in 0..600 {
        let answer = http
            .post(format!("{base}{path}"))
            .header("X-Twilio-Signature", &signature)
            .header("I-Twilio-Idempotency-Token", &token)
            .form(params)
            .send()
            .await;
        match answer {
            Ok(answer) if answer.status().is_success() => return,
            Ok(answer) => {
                assert!(
                    answer.status().is_server_error(),
                    "{path}: a {} is not retried by Twilio and would lose the webhook",
                    answer.status()
                );
                assert!(
                    !no_5xx,
                    "{path}: a stopping listener answered {}",
                    answer.status()
                );
            }
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{path} never accepted");
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_killed_at_random_stores_and_answers_every_webhook_once() {
    run(Stop::Kill).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_stopped_with_sigterm_mid_stream_answers_no_5xx_and_loses_nothing() {
    run(Stop::Term).await;
}

async fn run(stop: Stop) {
    let texts = setting("NUDGE_LISTENER_CHAOS_TEXTS", 120);
    // A SIGTERM waits for the listener's queue long poll to end (up to 20 s): fewer.
    let kills = match stop {
        Stop::Kill => setting("NUDGE_LISTENER_CHAOS_KILLS", 8),
        Stop::Term => setting("NUDGE_LISTENER_SIGTERMS", 3),
    };
    let db = TestDb::new().await;
    let inbound_queue = TestQueue::new("chaos-inbound", 5).await;
    let outbound_queue = TestQueue::new("chaos-replies", 5).await;
    let mut conn = db.connect().await;
    let (tenant, shop) = nudge_testkit::tenant_with_shop(&mut conn, "chaos").await;

    // Messages the sender handed to the provider, waiting for their callbacks.
    let mut sent: Vec<(MessageId, String)> = Vec::new();
    for i in 0..texts {
        let (message, outbox, envelope) = nudge_testkit::queued_message(
            tenant,
            shop,
            &format!("+1415{i:07}"),
            &format!("order #{i}"),
            "outbound-sms",
        );
        nudge_db::messages::insert_accepted(&mut conn, &message, &outbox)
            .await
            .unwrap();
        let id = envelope.payload.message_id;
        let lease = nudge_db::messages::Lease {
            worker: "chaos",
            duration: chrono::Duration::seconds(30),
        };
        let nudge_db::messages::Claim::Claimed(claimed) =
            nudge_db::messages::claim(&mut conn, tenant, id, &lease)
                .await
                .unwrap()
        else {
            panic!("not claimable")
        };
        let sid = format!("SM{:032x}", i + 1);
        nudge_db::messages::record_sent(&mut conn, &claimed, &sid, None, serde_json::json!({}))
            .await
            .unwrap();
        sent.push((id, sid));
    }
    // The merchant's endpoint: slow enough that deliveries are in flight at each stop.
    let merchant = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_delay(Duration::from_millis(300)))
        .mount(&merchant)
        .await;
    let endpoint = nudge_db::models::WebhookEndpoint {
        id: uuid::Uuid::now_v7(),
        tenant_id: tenant.as_uuid(),
        shop_id: None,
        url: merchant.uri(),
        events: serde_json::json!(["message.delivered"]),
        secret: nudge_domain::standard_webhooks::new_secret(),
        description: None,
        created_at: chrono::Utc::now(),
    };
    nudge_db::webhooks::insert_endpoint(&mut conn, &endpoint)
        .await
        .unwrap()
        .expect("room for an endpoint");
    drop(conn);

    let logs = logs_dir("listener-chaos");
    let port = free_port();
    let mut env = vec![
        ("DATABASE_URL", db.url.clone()),
        ("HTTP_HOST", "127.0.0.1".to_owned()),
        ("HTTP_PORT", port.to_string()),
        ("PUBLIC_BASE_URL", PUBLIC_BASE.to_owned()),
        ("TWILIO_AUTH_TOKEN", AUTH_TOKEN.to_owned()),
        ("INBOUND_SMS_QUEUE", inbound_queue.name.clone()),
        ("OUTBOUND_SMS_QUEUE", outbound_queue.name.clone()),
        ("OUTBOX_RELAY_INTERVAL_MS", "200".to_owned()),
        // The merchant's endpoint is on loopback.
        ("WEBHOOK_TARGETS", "any".to_owned()),
        ("WEBHOOK_RETRY_DELAYS_SECONDS", "1,1,1,1,1".to_owned()),
    ];
    env.extend(aws_env());
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();

    // Twilio: four connections posting texts (each a HELP, with its own sid) and
    // callbacks (`delivered` for each sent message), retrying until accepted.
    let next = Arc::new(AtomicUsize::new(0));
    let posters: Vec<_> = (0..4)
        .map(|_| {
            let (http, base, next, sent) = (http.clone(), base.clone(), next.clone(), sent.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= texts {
                        return;
                    }
                    let sid = format!("SM{:032x}", 1_000_000 + i);
                    let from = format!("+1628{i:07}");
                    let text = pairs(&[
                        ("MessageSid", &sid),
                        ("From", &from),
                        ("To", SHOP_NUMBER),
                        ("Body", "HELP"),
                        ("NumMedia", "0"),
                        ("SmsStatus", "received"),
                        ("AccountSid", nudge_e2e::ACCOUNT_SID),
                    ]);
                    deliver(&http, &base, "/twilio/inbound", &text, stop == Stop::Term).await;
                    let (_, message_sid) = &sent[i];
                    let callback = pairs(&[
                        ("MessageSid", message_sid),
                        ("MessageStatus", "delivered"),
                        ("AccountSid", nudge_e2e::ACCOUNT_SID),
                    ]);
                    deliver(
                        &http,
                        &base,
                        "/twilio/status",
                        &callback,
                        stop == Stop::Term,
                    )
                    .await;
                }
            })
        })
        .collect();

    for _ in 0..kills {
        let mut listener = Service::start("webhook-listener", &[], &env, &logs);
        // Long enough to be serving (SIGTERM before its signal handlers exist would kill it).
        let alive = rand::rng().random_range(800..2_000);
        tokio::time::sleep(Duration::from_millis(alive)).await;
        match stop {
            Stop::Kill => listener.kill(),
            Stop::Term => assert!(
                listener.terminate(Duration::from_secs(30)),
                "the listener did not stop cleanly after SIGTERM"
            ),
        }
    }
    let _last = Service::start("webhook-listener", &[], &env, &logs);
    for poster in posters {
        tokio::time::timeout(Duration::from_secs(180), poster)
            .await
            .expect("every webhook accepted")
            .unwrap();
    }

    // Every text stored once and answered once; every callback applied.
    let tenant_uuid = tenant.as_uuid();
    let answered = eventually(
        "every text processed and answered",
        Duration::from_secs(120),
        || async {
            use nudge_db::schema::{inbound_messages as i, messages as m};
            let mut conn = db.connect().await;
            let processed: i64 = i::table
                .filter(i::tenant_id.eq(tenant_uuid))
                .filter(i::processed_at.is_not_null())
                .count()
                .get_result(&mut conn)
                .await
                .unwrap();
            if processed < texts as i64 {
                return None;
            }
            let replies: Vec<Option<uuid::Uuid>> = m::table
                .filter(m::tenant_id.eq(tenant_uuid))
                .filter(m::in_reply_to.is_not_null())
                .select(m::in_reply_to)
                .load(&mut conn)
                .await
                .unwrap();
            (replies.len() >= texts).then_some(replies)
        },
    )
    .await;
    let mut conn = db.connect().await;
    let stored: Vec<String> = {
        use nudge_db::schema::inbound_messages as i;
        i::table
            .filter(i::tenant_id.eq(tenant_uuid))
            .select(i::provider_sid)
            .load(&mut conn)
            .await
            .unwrap()
    };
    let distinct: std::collections::BTreeSet<&String> = stored.iter().collect();
    assert_eq!(stored.len(), texts, "each text stored once");
    assert_eq!(distinct.len(), texts);
    let answers: std::collections::BTreeSet<_> = answered.iter().collect();
    assert_eq!(answered.len(), texts, "each text answered exactly once");
    assert_eq!(answers.len(), texts);
    for (id, sid) in &sent {
        let message = nudge_db::messages::find(&mut conn, tenant, *id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(message.status, "delivered", "{sid}");
    }

    // Every `message.delivered` webhook reached the merchant; after SIGTERMs, once.
    let deliveries = eventually(
        "every webhook delivered",
        Duration::from_secs(120),
        || async {
            let requests = merchant.received_requests().await?;
            let ids: std::collections::BTreeSet<String> = requests
                .iter()
                .filter_map(|r| {
                    r.headers
                        .get("webhook-id")?
                        .to_str()
                        .ok()
                        .map(str::to_owned)
                })
                .collect();
            (ids.len() >= texts).then_some((requests.len(), ids.len()))
        },
    )
    .await;
    assert_eq!(deliveries.1, texts, "one webhook per delivered message");
    if stop == Stop::Term {
        assert_eq!(
            deliveries.0, texts,
            "no webhook delivered twice: {deliveries:?}"
        );
    }
}
