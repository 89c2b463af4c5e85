//! The console against the whole stack, in a real browser: a marketer sends a message
//! from the console's form and watches its timeline reach `delivered` (the sender
//! calls the provider sandbox, whose signed status callbacks reach the webhook
//! listener); a care agent answers a conversation that waits for a person; a person
//! signs in with the OpenID Connect provider (the sandbox's issuer); an image uploaded
//! in the console goes out as an MMS.
//! `tests/browser/*.mjs` drive Debian's Chromium with playwright-core; `./nudge test`
//! installs both.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

use std::time::Duration;

use nudge_e2e::Stack;
use nudge_testkit::{eventually, run_browser_script};
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery staple";

/// A shop of the stack's tenant with the number `sender_number`, quiet hours off.
async fn create_shop(stack: &Stack, sender_number: &str) {
    let shop = reqwest::Client::new()
        .post(format!("{}/v1/shops", stack.api))
        .bearer_auth(&stack.key)
        .json(
            &json!({"name": "Chromium Boots", "sender_number": sender_number, "time_zone": "UTC",
                      "quiet_hours": {"start": "00:00", "end": "00:00"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(shop.status(), 201);
}

#[tokio::test]
async fn a_message_sent_from_the_console_is_seen_delivered_in_chromium() {
    // Delivery takes 3 seconds, as with a real carrier: long enough for the page to
    // be seen waiting, and then updating by itself.
    let stack = Stack::start_with(
        "Chromium Boots",
        &[("SANDBOX_FINAL_STATUS_AFTER_MS", "3000".into())],
    )
    .await;
    create_shop(&stack, "+15017122661").await;
    let http = reqwest::Client::new();
    let email = "marketer@chromium-boots.example";
    stack.create_console_user(email, "marketer", PASSWORD);

    let to = "+14155550142";
    run_browser_script(
        "send_message.mjs",
        vec![stack.api.clone(), email.into(), to.into()],
    )
    .await;

    // What the browser saw is what happened: one message, from the console, delivered
    // by the provider to that number.
    let log: Value = http
        .get(format!("{}/v1/messages", stack.api))
        .bearer_auth(&stack.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let messages = log["data"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{log}");
    assert_eq!(messages[0]["origin"], "console");
    assert_eq!(messages[0]["status"], "delivered");
    let recorded = stack.sandbox_messages().await;
    assert_eq!(recorded[0]["to"], to);
    assert_eq!(recorded[0]["body"], "Your parcel left our warehouse today.");
}

#[tokio::test]
async fn a_care_agent_answers_a_waiting_conversation_in_chromium() {
    let stack = Stack::start_with(
        "Chromium Boots",
        &[("SANDBOX_FINAL_STATUS_AFTER_MS", "1500".into())],
    )
    .await;
    let shop_number = "+15017122661";
    create_shop(&stack, shop_number).await;
    let email = "care@chromium-boots.example";
    stack.create_console_user(email, "care_agent", PASSWORD);
    let http = reqwest::Client::new();

    // The customer asks for a person: the listener hands the conversation to care.
    let customer = "+14155550177";
    let injected: Value = http
        .post(format!("{}/sandbox/inbound", stack.sandbox))
        .json(&json!({"from": customer, "to": shop_number, "body": "can I talk to a human?"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(injected["webhook_status"], 200, "{injected}");
    let waiting = || async {
        let queue: Value = http
            .get(format!("{}/v1/conversations?needs_human=true", stack.api))
            .bearer_auth(&stack.key)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        Some(queue["data"].as_array()?.len())
    };
    eventually(
        "the conversation to wait for a person",
        Duration::from_secs(30),
        || async { (waiting().await? == 1).then_some(()) },
    )
    .await;

    run_browser_script(
        "care_answer.mjs",
        vec![
            stack.api.clone(),
            stack.sandbox.clone(),
            email.into(),
            customer.into(),
            shop_number.into(),
        ],
    )
    .await;

    // The customer got the answer, from the shop's number; nobody waits any more.
    let recorded = stack.sandbox_messages().await;
    let answers: Vec<&Value> = recorded
        .iter()
        .filter(|m| m["body"] == "Sorry about that! A new parcel leaves today.")
        .collect();
    assert_eq!(answers.len(), 1, "{recorded:?}");
    assert_eq!(answers[0]["to"], customer);
    assert_eq!(answers[0]["from"], shop_number);
    assert_eq!(waiting().await, Some(0));
}

#[tokio::test]
async fn a_person_signs_in_with_the_provider_in_chromium() {
    let stack = Stack::start("Chromium Boots").await;
    let email = "owner@chromium-boots.example";
    stack.create_console_user(email, "owner", PASSWORD);
    run_browser_script("oidc_sign_in.mjs", vec![stack.api.clone(), email.into()]).await;
}

#[tokio::test]
async fn an_image_uploaded_in_the_console_goes_out_as_an_mms_in_chromium() {
    let stack = Stack::start("Chromium Boots").await;
    create_shop(&stack, "+15017122661").await;
    let email = "marketer@chromium-boots.example";
    stack.create_console_user(email, "marketer", PASSWORD);
    let to = "+14155550188";
    run_browser_script("mms.mjs", vec![stack.api.clone(), email.into(), to.into()]).await;

    // The provider was given a URL of the very image, which it can read.
    let http = reqwest::Client::new();
    let recorded = stack.sandbox_messages().await;
    let sent = &recorded[0];
    assert_eq!(sent["to"], to);
    let urls = sent["media_urls"].as_array().unwrap();
    assert_eq!(urls.len(), 1, "{sent}");
    let url = urls[0].as_str().unwrap();
    assert!(url.contains("X-Amz-Expires=3600"), "time-limited: {url}");
    let image = http.get(url).send().await.unwrap();
    assert_eq!(image.status(), 200);
    let fixture = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../browser/fixtures/parcel.png"),
    )
    .unwrap();
    assert_eq!(image.bytes().await.unwrap().to_vec(), fixture);
}
