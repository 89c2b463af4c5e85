//! Smart encoding, per shop: look-alike characters become GSM-7 before the message is
//! stored and counted; off by default, the text is kept as written.

use serde_json::{json, Value};

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_shop_with_smart_encoding_sends_gsm7_instead_of_ucs2() {
    let app = spawn_app().await;
    let typed = "It\u{2019}s back \u{2014} your \u{201C}XYZ\u{201D} bag is waiting for you at the store with 20% off, today and tomorrow only, while stocks last\u{2026}";
    let mut sent = Vec::new();
    for smart in [false, true] {
        let shop: Value = app
            .post(
                "/v1/shops",
                &json!({"name": "XYZ Bags", "sender_number": "+15017122661",
                        "quiet_hours": {"start": "00:00", "end": "00:00"}, "smart_encoding": smart}),
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(shop["smart_encoding"], smart);
        let message: Value = app
            .post(
                "/v1/messages",
                &json!({"shop_id": shop["id"], "to": "+14155550100", "body": typed, "category": "transactional"}),
            )
            .await
            .json()
            .await
            .unwrap();
        sent.push(message);
    }
    assert_eq!(sent[0]["body"], typed, "off by default: kept as written");
    assert_eq!(sent[0]["encoding"], "ucs2");
    assert_eq!(sent[0]["segments"], 2);
    assert_eq!(
        sent[1]["body"],
        "It's back - your \"XYZ\" bag is waiting for you at the store with 20% off, today and tomorrow only, while stocks last..."
    );
    assert_eq!(sent[1]["encoding"], "gsm7");
    assert_eq!(sent[1]["segments"], 1);
}

#[tokio::test]
async fn smart_encoding_can_be_switched_on_later() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    assert_eq!(shop["smart_encoding"], false);
    let patched: Value = app
        .request(
            reqwest::Method::PATCH,
            &format!("/v1/shops/{}", shop["id"].as_str().unwrap()),
            &app.api_key,
        )
        .json(&json!({"smart_encoding": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(patched["smart_encoding"], true);
    let bad = app
        .request(
            reqwest::Method::PATCH,
            &format!("/v1/shops/{}", shop["id"].as_str().unwrap()),
            &app.api_key,
        )
        .json(&json!({"smart_encoding": "yes"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
}
