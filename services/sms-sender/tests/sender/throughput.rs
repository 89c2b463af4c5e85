//! Throughput limits are shared by every sender replica (the buckets are in the
//! database) and over-limit work waits, it is not failed.

use std::time::{Duration, Instant};

use nudge_queue::Disposition;
use sms_sender::throughput::Limits;

use crate::helpers::{received, unlimited, Harness};

#[tokio::test]
async fn two_replicas_share_one_numbers_rate_and_nothing_fails() {
    let harness = Harness::new(3, 3).await;
    // Twilio gives each message its own sid (derived here from its `To`).
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(|request: &wiremock::Request| {
            let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&request.body).unwrap();
            let to = &form.iter().find(|(k, _)| k == "To").unwrap().1;
            wiremock::ResponseTemplate::new(201).set_body_json(serde_json::json!({
                "sid": format!("SM{:0>32}", to.trim_start_matches('+')),
                "status": "queued", "num_segments": "1",
            }))
        })
        .expect(6)
        .mount(&harness.twilio)
        .await;
    // 2 segments per second for the shop's long code, burst 2.
    let limits = Limits {
        long_code: 2.0,
        ..unlimited()
    };
    let replicas = [
        harness.replica(|c| c.limits = limits.clone()).await,
        harness.replica(|c| c.limits = limits).await,
    ];
    let mut ids = Vec::new();
    let mut tasks = Vec::new();
    let started = Instant::now();
    for i in 0..6 {
        let (id, envelope) = harness
            .queued_message(&format!("+1415555{:04}", i), "Your order shipped")
            .await;
        ids.push(id);
        let replica = replicas[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            let received = received(envelope, 1);
            replica.process(&received).await
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), Disposition::Delete);
    }
    // Six segments at 2/s with a burst of 2 need at least 2 s whichever replica sends
    // them (two buckets, one per replica, would have let them through in 0.5 s).
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(1_900), "{elapsed:?}");
    for id in ids {
        let message = harness.message(id).await;
        assert_eq!(message.status, "sent");
        assert_eq!(
            harness.event_types(id).await,
            vec!["queued", "sending", "sent"]
        );
    }
}
