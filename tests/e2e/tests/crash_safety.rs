//! `sms-sender` can be killed with SIGKILL at any moment: a run of messages with a sender
//! killed again and again at random moments ends with every message sent exactly once
//! at the provider (the sandbox, a real process), none lost, none twice.
//!
//! Size: `NUDGE_CHAOS_MESSAGES` (default 2,000) and `NUDGE_CHAOS_KILLS` (default 20);
//! docs/operations.md has the bigger run. Also: SIGTERM, and three senders at once
//! (`NUDGE_SCALE_OUT_MESSAGES`, default 3,000).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

use std::collections::BTreeMap;
use std::time::Duration;

use nudge_domain::TenantId;
use nudge_e2e::{free_port, queue_accepted, sender_env, setting, start_sandbox, Service};
use nudge_testkit::{eventually, TestDb, TestQueue};
use rand::Rng;
use serde_json::Value;

/// Accepted messages on a queue, the sandbox as the provider, and a sender's settings.
struct Run {
    db: TestDb,
    _queue: TestQueue,
    tenant: TenantId,
    logs: std::path::PathBuf,
    sandbox_port: u16,
    _sandbox: Service,
    sender_env: Vec<(&'static str, String)>,
}

impl Run {
    /// `count` accepted messages, each with its own number and body (`{purpose} #{i}`),
    /// on a fresh queue that never dead-letters them, with this visibility timeout.
    async fn prepare(purpose: &str, count: usize, visibility_seconds: u32) -> Self {
        let db = TestDb::new().await;
        let queue = TestQueue::with_visibility(purpose, 1_000, visibility_seconds).await;
        let logs = std::env::temp_dir().join(format!("nudge-{purpose}-{}", std::process::id()));
        std::fs::create_dir_all(&logs).unwrap();
        let mut conn = db.connect().await;
        let (tenant, shop) = nudge_testkit::tenant_with_shop(&mut conn, purpose).await;
        queue_accepted(&mut conn, &queue.url, tenant, shop, purpose, count).await;
        let sandbox_port = free_port();
        let sandbox = start_sandbox(sandbox_port, &logs);
        let sender_env = sender_env(&db.url, &queue.url, sandbox_port);
        Self {
            db,
            _queue: queue,
            tenant,
            logs,
            sandbox_port,
            _sandbox: sandbox,
            sender_env,
        }
    }

    fn start_sender(&self) -> Service {
        Service::start("sms-sender", &[], &self.sender_env, &self.logs)
    }

    /// Plans faults in the sandbox's answers to creates (`/sandbox/twilio/faults`).
    async fn provider_faults(&self, plan: Value) {
        let answer = reqwest::Client::new()
            .post(format!(
                "http://127.0.0.1:{}/sandbox/twilio/faults",
                self.sandbox_port
            ))
            .json(&plan)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 204, "{plan}");
    }

    /// How many messages were found at the provider and adopted, not sent again.
    async fn adopted(&self) -> i64 {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        use nudge_db::schema::message_events;
        let mut conn = self.db.connect().await;
        message_events::table
            .filter(message_events::tenant_id.eq(self.tenant.as_uuid()))
            .filter(message_events::event_type.eq("sent"))
            .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
                "detail->>'reconciled' = 'true'",
            ))
            .count()
            .get_result(&mut conn)
            .await
            .unwrap()
    }

    async fn statuses(&self) -> BTreeMap<String, i64> {
        let mut conn = self.db.connect().await;
        nudge_db::messages::count_by_status(&mut conn, self.tenant)
            .await
            .unwrap()
    }

    async fn wait_until_sent(&self, count: usize, what: &str, timeout: Duration) {
        eventually(what, timeout, || async {
            (self.statuses().await.get("sent").copied() == Some(count as i64)).then_some(())
        })
        .await;
    }

    /// The provider got each message exactly once, and each message holds its sid.
    async fn assert_each_sent_exactly_once(&self, count: usize) {
        let recorded: Value = reqwest::get(format!(
            "http://127.0.0.1:{}/sandbox/messages",
            self.sandbox_port
        ))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let mut sids_by_body: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for sent in recorded["messages"].as_array().unwrap() {
            sids_by_body
                .entry(sent["body"].as_str().unwrap().to_owned())
                .or_default()
                .push(sent["sid"].as_str().unwrap().to_owned());
        }
        let twice: Vec<_> = sids_by_body
            .iter()
            .filter(|(_, sids)| sids.len() > 1)
            .collect();
        assert!(twice.is_empty(), "sent more than once: {twice:?}");
        assert_eq!(
            sids_by_body.len(),
            count,
            "every message reached the provider"
        );
        let mut conn = self.db.connect().await;
        let mut cursor = None;
        let mut checked = 0;
        loop {
            let page = nudge_db::messages::list(
                &mut conn,
                self.tenant,
                &nudge_db::messages::MessageFilter::default(),
                nudge_db::PageRequest {
                    limit: 200,
                    before: cursor,
                },
            )
            .await
            .unwrap();
            for message in &page.items {
                assert_eq!(
                    message.provider_sid.as_ref(),
                    sids_by_body[&message.body].first(),
                    "{}",
                    message.body
                );
                checked += 1;
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(checked, count);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_killed_at_random_moments_sends_every_message_exactly_once() {
    let count = setting("NUDGE_CHAOS_MESSAGES", 2_000);
    let kills = setting("NUDGE_CHAOS_KILLS", 20);
    let mut run = Run::prepare("chaos", count, 30).await;
    run.sender_env.extend([
        ("SENDER_CONCURRENCY", "10".to_owned()),
        // Short leases so that what a killed sender held is reconciled soon.
        ("PROVIDER_TIMEOUT_MS", "1000".to_owned()),
        ("SENDER_LEASE_SECONDS", "6".to_owned()),
    ]);
    // First a kill that surely lands between the provider's create and the record:
    // the sandbox holds the next answers for 10 s, and this sender waits for them (its
    // lease outlasts its provider timeout, as the configuration requires).
    run.provider_faults(serde_json::json!({"mode": "stall", "count": 5, "stall_ms": 10_000}))
        .await;
    let mut patient = run.sender_env.clone();
    patient.push(("PROVIDER_TIMEOUT_MS", "15000".to_owned()));
    patient.push(("SENDER_LEASE_SECONDS", "20".to_owned()));
    let sender = Service::start("sms-sender", &[], &patient, &run.logs);
    eventually(
        "a create at the provider, its answer held",
        Duration::from_secs(30),
        || async {
            let recorded: Value = reqwest::get(format!(
                "http://127.0.0.1:{}/sandbox/messages",
                run.sandbox_port
            ))
            .await
            .ok()?
            .json()
            .await
            .ok()?;
            (!recorded["messages"].as_array()?.is_empty()).then_some(())
        },
    )
    .await;
    sender.kill();
    for kill in 0..kills {
        let sender = run.start_sender();
        let alive = rand::rng().random_range(300..1_500);
        tokio::time::sleep(Duration::from_millis(alive)).await;
        sender.kill();
        eprintln!("kill {}: {:?}", kill + 1, run.statuses().await);
    }
    let _last = run.start_sender();
    let timeout = Duration::from_secs(120 + (count as u64) / 20);
    run.wait_until_sent(count, "every message sent", timeout)
        .await;

    run.assert_each_sent_exactly_once(count).await;
    assert!(
        run.adopted().await >= 1,
        "the kill mid-create was reconciled: the message found at the provider was adopted"
    );
}

/// Twilio's create has no idempotency key, so an answer lost after the message was
/// created must never make the sender create it again: an answer later than the
/// client's timeout, one cut off mid-body, and a 500 for a message that exists. Each
/// message reaches the provider exactly once, and is `sent` with the sid that
/// reconciliation found there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_lost_after_the_provider_created_the_message_never_cause_a_second_send() {
    let count = 10;
    for (mode, stall_ms) in [("stall", 3_000), ("reset", 0), ("server_error", 0)] {
        let mut run = Run::prepare(&format!("lost-{mode}"), count, 30).await;
        run.sender_env.extend([
            ("SENDER_CONCURRENCY", "4".to_owned()),
            ("PROVIDER_TIMEOUT_MS", "1000".to_owned()),
        ]);
        run.provider_faults(
            serde_json::json!({"mode": mode, "count": count, "stall_ms": stall_ms}),
        )
        .await;
        let _sender = run.start_sender();
        run.wait_until_sent(count, mode, Duration::from_secs(90))
            .await;
        run.assert_each_sent_exactly_once(count).await;
        assert_eq!(
            run.adopted().await,
            count as i64,
            "{mode}: each message was found at the provider, not created again"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_sender_promptly_and_hands_back_what_it_holds() {
    let count = 300;
    // A long visibility timeout: a message the stopping sender kept would stay hidden
    // for two minutes, so a quick finish below proves it handed everything back.
    let run = Run::prepare("sigterm", count, 120).await;
    let mut sender = run.start_sender();
    eventually("some messages sent", Duration::from_secs(30), || async {
        (run.statuses().await.get("sent").copied().unwrap_or(0) > 20).then_some(())
    })
    .await;
    // Stopping within the worker's drain bound (30 s) plus a margin for start-up noise.
    assert!(
        sender.terminate(Duration::from_secs(45)),
        "the sender did not exit cleanly in time after SIGTERM"
    );
    let after_stop = run.statuses().await;
    assert_eq!(
        after_stop.get("sending"),
        None,
        "what was in flight was finished, not abandoned: {after_stop:?}"
    );
    let _next = run.start_sender();
    run.wait_until_sent(
        count,
        "the rest sent by the next sender, well before the 120 s visibility timeout",
        Duration::from_secs(60),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_senders_on_one_queue_send_every_message_exactly_once() {
    let count = setting("NUDGE_SCALE_OUT_MESSAGES", 3_000);
    let run = Run::prepare("scale", count, 30).await;
    let _senders: Vec<Service> = (0..3).map(|_| run.start_sender()).collect();
    run.wait_until_sent(
        count,
        "every message sent",
        Duration::from_secs(120 + (count as u64) / 20),
    )
    .await;
    run.assert_each_sent_exactly_once(count).await;
    // All three took part: each claim records its worker.
    let mut conn = run.db.connect().await;
    let workers = nudge_db::messages::claimed_by_worker(&mut conn, run.tenant)
        .await
        .unwrap();
    assert_eq!(workers.len(), 3, "{workers:?}");
}
