//! The sender's request, checked against Twilio's official OpenAPI description
//! (`reference/twilio/twilio_api_v2010.json`).

use std::time::Duration;

use base64::Engine;
use serde_json::Value;

use crate::helpers::{twilio_accepts, Harness, ACCOUNT_SID, AUTH_TOKEN};

fn spec() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../reference/twilio/twilio_api_v2010.json"
    );
    serde_json::from_str(
        &std::fs::read_to_string(path).expect("the Twilio spec beside the repository"),
    )
    .unwrap()
}

#[tokio::test]
async fn the_create_message_request_is_valid_against_twilios_spec() {
    let harness = Harness::new(3, 3).await;
    twilio_accepts("SMdddddddddddddddddddddddddddddddd")
        .mount(&harness.twilio)
        .await;
    let (id, envelope) = harness.queued_message("+14155550100", "Spec check ✓").await;
    harness.queue.send_raw(&envelope).await;
    harness.start_worker();
    harness
        .wait_for_status(id, "sent", Duration::from_secs(20))
        .await;
    let request = harness.twilio.received_requests().await.unwrap().remove(0);

    let spec = spec();
    // The path is the spec's, with our account SID.
    let template = "/2010-04-01/Accounts/{AccountSid}/Messages.json";
    let operation = &spec["paths"][template]["post"];
    assert!(operation.is_object());
    assert_eq!(
        request.url.path(),
        template.replace("{AccountSid}", ACCOUNT_SID)
    );
    let account_sid = &operation["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "AccountSid")
        .unwrap()["schema"];
    // The spec's pattern is ^AC[0-9a-fA-F]{32}$.
    assert_eq!(account_sid["pattern"], "^AC[0-9a-fA-F]{32}$");
    assert!(ACCOUNT_SID.len() == 34 && ACCOUNT_SID[2..].chars().all(|c| c.is_ascii_hexdigit()));

    // Form-encoded, with only parameters the spec defines, of the types it gives.
    let content =
        &operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"];
    assert_eq!(
        request
            .headers
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap(),
        "application/x-www-form-urlencoded"
    );
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&request.body).unwrap();
    for (name, value) in &form {
        let property = &content["properties"][name];
        assert!(
            property.is_object(),
            "{name} is not a parameter of CreateMessage"
        );
        assert_eq!(property["type"], "string", "{name}");
        match property["format"].as_str() {
            Some("phone-number") => assert!(value.starts_with('+'), "{name}={value}"),
            Some("uri") => assert!(value.starts_with("https://"), "{name}={value}"),
            _ => {}
        }
    }
    for required in content["required"].as_array().unwrap() {
        assert!(
            form.iter()
                .any(|(name, _)| name == required.as_str().unwrap()),
            "missing {required}"
        );
    }
    // The spec's rule in prose: a sender (From or MessagingServiceSid) and content (Body,
    // MediaUrl or ContentSid).
    assert!(form
        .iter()
        .any(|(n, _)| n == "From" || n == "MessagingServiceSid"));
    assert!(form
        .iter()
        .any(|(n, _)| n == "Body" || n == "MediaUrl" || n == "ContentSid"));

    // Basic auth, as the spec's security scheme says: account SID and auth token.
    assert_eq!(
        spec["components"]["securitySchemes"]["accountSid_authToken"]["scheme"],
        "basic"
    );
    let expected =
        base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}"));
    assert_eq!(
        request
            .headers
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap(),
        format!("Basic {expected}")
    );
}
