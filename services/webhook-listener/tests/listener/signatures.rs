//! Every webhook's signature is checked before anything is read or stored: a missing,
//! wrong or replayed-elsewhere signature is a 403 and changes nothing.

use crate::helpers::{callback, spawn_app, spawn_app_with_limit, AUTH_TOKEN, PUBLIC_BASE};

const SID: &str = "SM0123456789abcdef0123456789abcdef";
const PATH: &str = "/twilio/status";

#[tokio::test]
async fn unsigned_or_wrongly_signed_requests_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let (tenant, id) = app.sent_message(SID).await;
    let params = callback(SID, "delivered");
    let url = format!("{PUBLIC_BASE}{PATH}");

    let unsigned = app
        .http
        .post(format!("{}{PATH}", app.address))
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 403, "no signature");

    let garbage = app
        .http
        .post(format!("{}{PATH}", app.address))
        .header("X-Twilio-Signature", "bm90IGl0")
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 403, "a made-up signature");

    // Signed for other parameters: one changed after signing.
    let signature = nudge_domain::twilio_signature::sign(AUTH_TOKEN, &url, &params);
    let mut tampered = params.clone();
    tampered[4].1 = "undelivered".into();
    let response = app
        .http
        .post(format!("{}{PATH}", app.address))
        .header("X-Twilio-Signature", signature)
        .form(&tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403, "a changed parameter");

    // Signed for another URL (a signature replayed from another endpoint or host).
    for other in [
        format!("{PUBLIC_BASE}/twilio/inbound"),
        format!("https://evil.example.com/nudge{PATH}"),
        format!("http://hooks.example.com/nudge{PATH}"),
    ] {
        let response = app.post_signed_as(PATH, &other, &params, &[]).await;
        assert_eq!(response.status(), 403, "signed for {other}");
    }
    // Signed with another account's token.
    let foreign = nudge_domain::twilio_signature::sign("another-token", &url, &params);
    let response = app
        .http
        .post(format!("{}{PATH}", app.address))
        .header("X-Twilio-Signature", foreign)
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403, "another token");

    assert!(app.callbacks().await.is_empty());
    assert_eq!(app.message(tenant, id).await.status, "sent");
}

#[tokio::test]
async fn the_url_may_be_signed_with_or_without_the_default_port() {
    let app = spawn_app().await;
    let (tenant, id) = app.sent_message(SID).await;
    let with_port = format!("https://hooks.example.com:443/nudge{PATH}");
    let response = app
        .post_signed_as(PATH, &with_port, &callback(SID, "delivered"), &[])
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.message(tenant, id).await.status, "delivered");
}

#[tokio::test]
async fn the_query_string_is_part_of_what_is_signed() {
    let app = spawn_app().await;
    let (tenant, id) = app.sent_message(SID).await;
    let params = callback(SID, "delivered");
    let signed = format!("{PUBLIC_BASE}{PATH}?shop=1");
    let response = app
        .post_signed_as(&format!("{PATH}?shop=2"), &signed, &params, &[])
        .await;
    assert_eq!(response.status(), 403);
    let response = app
        .post_signed_as(&format!("{PATH}?shop=1"), &signed, &params, &[])
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.message(tenant, id).await.status, "delivered");
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let app = spawn_app_with_limit(2_048).await;
    let mut params = callback(SID, "delivered");
    params.push(("Body".into(), "x".repeat(4_000)));
    let response = app.post_signed(PATH, &params).await;
    assert_eq!(response.status(), 413);
    assert!(app.callbacks().await.is_empty());
}
