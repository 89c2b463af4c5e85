//! The console against the whole stack, in a real browser: a marketer sends a message
//! from the console's form and watches its timeline reach `delivered` (the sender
//! calls the provider sandbox, whose signed status callbacks reach the webhook
//! listener). `tests/browser/send_message.mjs` drives Debian's Chromium with
//! playwright-core; `./nudge test` installs both.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

use std::process::Command;

use nudge_e2e::Stack;
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery staple";

#[tokio::test]
async fn a_message_sent_from_the_console_is_seen_delivered_in_chromium() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let scripts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../browser");
    assert!(
        std::path::Path::new(&chromium).exists() && scripts.join("node_modules/playwright-core").exists(),
        "Chromium ({chromium}) or playwright-core is missing: run ./nudge test, which installs them"
    );
    // Delivery takes 3 seconds, as with a real carrier: long enough for the page to
    // be seen waiting, and then updating by itself.
    let stack = Stack::start_with(
        "Chromium Boots",
        &[("SANDBOX_FINAL_STATUS_AFTER_MS", "3000".into())],
    )
    .await;
    let http = reqwest::Client::new();
    let shop = http
        .post(format!("{}/v1/shops", stack.api))
        .bearer_auth(&stack.key)
        .json(
            &json!({"name": "Chromium Boots", "sender_number": "+15017122661", "time_zone": "UTC",
                      "quiet_hours": {"start": "00:00", "end": "00:00"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(shop.status(), 201);
    let email = "marketer@chromium-boots.example";
    stack.create_console_user(email, "marketer", PASSWORD);

    let to = "+14155550142";
    let base = stack.api.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .current_dir(&scripts)
            .args(["send_message.mjs", &base, email, to])
            .output()
            .expect("run node")
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "send_message.mjs failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

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
    let recorded: Value = http
        .get(format!("{}/sandbox/messages", stack.sandbox))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(recorded["messages"][0]["to"], to);
    assert_eq!(
        recorded["messages"][0]["body"],
        "Your parcel left our warehouse today."
    );
}
