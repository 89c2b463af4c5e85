//! `POST /twilio/status`: a message's status follows the provider's reports forward
//! only, whatever their order and however often they come; each report is in the
//! timeline once.

use serde_json::Value;

use crate::helpers::{callback, spawn_app};

const SID: &str = "SM0123456789abcdef0123456789abcdef";

/// The `provider_status` events of a timeline: (reported status, applied).
fn reports(events: &[nudge_db::models::MessageEvent]) -> Vec<(String, bool)> {
    events
        .iter()
        .filter(|e| e.event_type == "provider_status")
        .map(|e| {
            (
                e.detail["provider_status"].as_str().unwrap().to_owned(),
                e.detail["applied"] == Value::Bool(true),
            )
        })
        .collect()
}

#[tokio::test]
async fn receipts_move_a_message_forward_and_never_back() {
    let app = spawn_app().await;
    let (tenant, id) = app.sent_message(SID).await;

    // Out of order: delivered overtakes sent.
    assert_eq!(app.status(SID, "delivered", "t-1").await.status(), 200);
    assert_eq!(app.message(tenant, id).await.status, "delivered");
    assert_eq!(app.status(SID, "sent", "t-2").await.status(), 200);
    assert_eq!(
        app.message(tenant, id).await.status,
        "delivered",
        "a late sent changes nothing"
    );
    // Twilio retries: the same sid and status, or the same token, is ignored.
    assert_eq!(app.status(SID, "delivered", "t-3").await.status(), 200);
    assert_eq!(app.status(SID, "undelivered", "t-1").await.status(), 200);
    assert_eq!(app.message(tenant, id).await.status, "delivered");

    let events = app.events(tenant, id).await;
    assert_eq!(
        reports(&events),
        vec![("delivered".to_owned(), true), ("sent".to_owned(), false)]
    );
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        vec![
            "queued",
            "sending",
            "sent",
            "provider_status",
            "provider_status"
        ]
    );
    assert_eq!(app.callbacks().await.len(), 2);
}

#[tokio::test]
async fn an_undelivered_message_carries_the_carriers_error_code() {
    let app = spawn_app().await;
    let (tenant, id) = app.sent_message(SID).await;
    let mut params = callback(SID, "undelivered");
    params.push(("ErrorCode".into(), "30003".into()));
    assert_eq!(
        app.post_signed("/twilio/status", &params).await.status(),
        200
    );
    let message = app.message(tenant, id).await;
    assert_eq!(message.status, "undelivered");
    assert_eq!(message.error_code, Some(30003));
    let event = app.events(tenant, id).await.pop().unwrap();
    assert_eq!(event.detail["error_code"], 30003);
    assert_eq!(event.detail["status_before"], "sent");
}

#[tokio::test]
async fn a_callback_that_beats_the_senders_write_is_applied_when_the_sid_is_stored() {
    let app = spawn_app().await;
    // The sid is not known yet: kept, answered 200 so that Twilio does not retry.
    assert_eq!(app.status(SID, "delivered", "t-1").await.status(), 200);
    assert_eq!(
        app.callbacks().await,
        vec![(SID.to_owned(), "delivered".to_owned(), false)]
    );

    let (tenant, id) = app.sent_message(SID).await;
    assert_eq!(app.message(tenant, id).await.status, "delivered");
    assert_eq!(
        app.callbacks().await,
        vec![(SID.to_owned(), "delivered".to_owned(), true)]
    );
    assert_eq!(
        reports(&app.events(tenant, id).await),
        vec![("delivered".to_owned(), true)]
    );
}

#[tokio::test]
async fn signed_callbacks_that_make_no_sense_are_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let (tenant, id) = app.sent_message(SID).await;
    let cases: Vec<(Vec<(String, String)>, &str)> = vec![
        (callback(SID, "exploded"), "MessageStatus"),
        (
            callback("CA0123456789abcdef0123456789abcdef", "delivered"),
            "MessageSid",
        ),
        (
            callback(SID, "delivered")
                .into_iter()
                .chain([("ErrorCode".to_owned(), "x".to_owned())])
                .collect(),
            "ErrorCode",
        ),
        (
            callback(SID, "delivered")
                .into_iter()
                .filter(|(k, _)| !k.ends_with("Status"))
                .collect(),
            "MessageStatus",
        ),
    ];
    for (params, field) in cases {
        let response = app.post_signed("/twilio/status", &params).await;
        assert_eq!(response.status(), 400, "{field}");
        let problem: Value = response.json().await.unwrap();
        assert!(
            problem["detail"].as_str().unwrap().contains(field),
            "{problem}"
        );
    }
    assert!(app.callbacks().await.is_empty());
    assert_eq!(app.message(tenant, id).await.status, "sent");
}
