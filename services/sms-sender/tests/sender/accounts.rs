//! A number in a tenant's own Twilio subaccount sends through that account: its SID in
//! the URL, its token in the basic auth; the platform's credentials are never used for
//! it, and a token that cannot be opened sends nothing.

use std::time::Duration;

use base64::Engine;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{created, twilio_accepts, Harness};

const SUB_SID: &str = "ACcccccccccccccccccccccccccccccccc";
const SUB_TOKEN: &str = "tenant-subaccount-token";

async fn put_number_in_subaccount(harness: &Harness, sealed_with: &str) {
    let keyring = nudge_domain::sealed::Keyring::parse(sealed_with).unwrap();
    let sealed = keyring.seal(SUB_TOKEN, SUB_SID).unwrap();
    let mut conn = harness.db.connect().await;
    nudge_db::provider_accounts::add(&mut conn, harness.tenant, SUB_SID, &sealed)
        .await
        .unwrap();
    nudge_db::provider_accounts::move_number(&mut conn, nudge_testkit::SHOP_NUMBER, Some(SUB_SID))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_number_in_a_tenants_subaccount_sends_with_that_accounts_credentials() {
    let harness = Harness::new(3, 3).await;
    put_number_in_subaccount(&harness, nudge_testkit::TEST_KEYRING).await;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{SUB_SID}:{SUB_TOKEN}"));
    Mock::given(method("POST"))
        .and(path(format!(
            "/2010-04-01/Accounts/{SUB_SID}/Messages.json"
        )))
        .and(header("authorization", format!("Basic {basic}").as_str()))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(created("SMdddddddddddddddddddddddddddddddd")),
        )
        .expect(1)
        .mount(&harness.twilio)
        .await;
    // The platform's account must not be asked.
    twilio_accepts("SMeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee")
        .expect(0)
        .mount(&harness.twilio)
        .await;
    let (id, envelope) = harness
        .queued_message("+14155550100", "From our own account")
        .await;
    harness.queue.send_raw(&envelope).await;
    harness.start_worker();
    let message = harness
        .wait_for_status(id, "sent", Duration::from_secs(20))
        .await;
    assert_eq!(
        message.provider_sid.as_deref(),
        Some("SMdddddddddddddddddddddddddddddddd")
    );
}

#[tokio::test]
async fn a_token_sealed_with_a_key_the_sender_lacks_sends_nothing() {
    // Sealed with a key that is not in the sender's keyring.
    let harness = Harness::new(3, 1).await;
    put_number_in_subaccount(
        &harness,
        "other:HxsdHBsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA=",
    )
    .await;
    twilio_accepts("SMeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee")
        .expect(0)
        .mount(&harness.twilio)
        .await;
    let (id, envelope) = harness
        .queued_message("+14155550100", "Never via the platform")
        .await;
    harness.queue.send_raw(&envelope).await;
    harness.start_worker();
    let message = harness
        .wait_for_status(id, "failed", Duration::from_secs(20))
        .await;
    let reason = message.error_message.unwrap_or_default();
    assert!(reason.contains("account"), "{reason}");
    assert!(!reason.contains(SUB_TOKEN));
}
