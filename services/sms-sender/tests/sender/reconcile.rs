//! A sender that died mid-send leaves its message `sending` under a lease. When the
//! lease has expired, the next worker asks the provider before sending: it adopts the
//! sid if the provider has the message, sends only if not, and leaves a message under a
//! live lease alone.

use chrono::{Duration, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nudge_domain::MessageId;
use nudge_queue::Disposition;
use serde_json::{json, Value};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{received, twilio_accepts, Harness, ACCOUNT_SID, MESSAGES_PATH};

/// What a worker that claimed the message and died leaves behind.
async fn left_sending(harness: &Harness, id: MessageId, lease_until: chrono::DateTime<Utc>) {
    use nudge_db::schema::messages;
    let mut conn = harness.db.connect().await;
    diesel::update(messages::table.filter(messages::id.eq(id.as_uuid())))
        .set((
            messages::status.eq("sending"),
            messages::attempts.eq(1),
            messages::claimed_by.eq("worker-that-died"),
            messages::lease_until.eq(lease_until),
        ))
        .execute(&mut conn)
        .await
        .unwrap();
}

/// Twilio's list of Messages (`ListMessageResponse`) with these entries.
fn listed(messages: Vec<Value>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "messages": messages, "end": 0, "first_page_uri": format!("{MESSAGES_PATH}?PageSize=50&Page=0"),
        "next_page_uri": null, "page": 0, "page_size": 50, "previous_page_uri": null,
        "start": 0, "uri": format!("{MESSAGES_PATH}?PageSize=50&Page=0"),
    }))
}

fn entry(sid: &str, body: &str, created: chrono::DateTime<Utc>) -> Value {
    json!({
        "sid": sid, "account_sid": ACCOUNT_SID, "to": "+14155550100", "from": "+15017122661",
        "body": body, "status": "sent", "num_segments": "1", "direction": "outbound-api",
        "date_created": created.to_rfc2822(), "date_sent": null,
    })
}

#[tokio::test]
async fn what_a_dead_sender_got_to_the_provider_is_adopted_not_resent() {
    let harness = Harness::new(3, 3).await;
    twilio_accepts("SMnevernevernevernevernevernever0")
        .expect(0)
        .mount(&harness.twilio)
        .await;
    // An earlier message with the same text, already recorded with its own sid.
    let (earlier, _) = harness
        .queued_message("+14155550100", "Your bag is waiting")
        .await;
    {
        use nudge_db::schema::messages;
        let mut conn = harness.db.connect().await;
        diesel::update(messages::table.filter(messages::id.eq(earlier.as_uuid())))
            .set((
                messages::status.eq("sent"),
                messages::provider_sid.eq("SMearlierearlierearlierearlier00"),
            ))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let (id, envelope) = harness
        .queued_message("+14155550100", "Your bag is waiting")
        .await;
    left_sending(&harness, id, Utc::now() - Duration::seconds(5)).await;
    let now = Utc::now();
    Mock::given(method("GET"))
        .and(path(MESSAGES_PATH))
        .and(query_param("To", "+14155550100"))
        .and(query_param("From", "+15017122661"))
        .respond_with(listed(vec![
            entry("SMotherotherotherotherotherother0", "Another text", now),
            entry(
                "SMfoundfoundfoundfoundfoundfound0",
                "Your bag is waiting",
                now,
            ),
            entry(
                "SMearlierearlierearlierearlier00",
                "Your bag is waiting",
                now - Duration::seconds(30),
            ),
            entry(
                "SMoldoldoldoldoldoldoldoldoldold0",
                "Your bag is waiting",
                now - Duration::days(2),
            ),
        ]))
        .expect(1)
        .mount(&harness.twilio)
        .await;

    assert_eq!(
        harness.sender.process(&received(envelope, 2)).await,
        Disposition::Delete
    );
    let message = harness.message(id).await;
    assert_eq!(message.status, "sent");
    assert_eq!(
        message.provider_sid.as_deref(),
        Some("SMfoundfoundfoundfoundfoundfound0"),
        "the earlier message's sid and the two-day-old one are not this message's"
    );
    let events = harness.events(id).await;
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, vec!["queued", "reconciling", "sent"]);
    assert_eq!(events[1].detail["previous_worker"], "worker-that-died");
    assert_eq!(events[2].detail["reconciled"], true);
}

#[tokio::test]
async fn what_a_dead_sender_never_got_to_the_provider_is_sent_once() {
    let harness = Harness::new(3, 3).await;
    twilio_accepts("SMsentsentsentsentsentsentsentse")
        .expect(1)
        .mount(&harness.twilio)
        .await;
    Mock::given(method("GET"))
        .and(path(MESSAGES_PATH))
        .respond_with(listed(vec![]))
        .expect(1)
        .mount(&harness.twilio)
        .await;
    let (id, envelope) = harness
        .queued_message("+14155550100", "Your bag is waiting")
        .await;
    left_sending(&harness, id, Utc::now() - Duration::seconds(5)).await;

    assert_eq!(
        harness.sender.process(&received(envelope, 2)).await,
        Disposition::Delete
    );
    let message = harness.message(id).await;
    assert_eq!(message.status, "sent");
    assert_eq!(
        message.provider_sid.as_deref(),
        Some("SMsentsentsentsentsentsentsentse")
    );
    assert_eq!(message.claimed_by.as_deref(), Some("test-worker"));
    assert!(
        message.lease_until.is_none(),
        "the lease ends with the send"
    );
}

#[tokio::test]
async fn a_message_under_a_live_lease_is_left_to_its_sender() {
    let harness = Harness::new(3, 3).await;
    twilio_accepts("SMnevernevernevernevernevernever0")
        .expect(0)
        .mount(&harness.twilio)
        .await;
    Mock::given(method("GET"))
        .respond_with(listed(vec![]))
        .expect(0)
        .mount(&harness.twilio)
        .await;
    let (id, envelope) = harness.queued_message("+14155550100", "Hi").await;
    left_sending(&harness, id, Utc::now() + Duration::seconds(20)).await;

    match harness.sender.process(&received(envelope, 2)).await {
        Disposition::RetryAfter(seconds) => assert!((19..=22).contains(&seconds), "{seconds}"),
        other => panic!("expected a later look, got {other:?}"),
    }
    assert_eq!(harness.message(id).await.status, "sending");
    assert_eq!(harness.event_types(id).await, vec!["queued"]);
}
