//! Tenants' own provider accounts: a request is checked with the token of the account
//! it names, and counts only for what lives in that account. A tenant holds its own
//! subaccount's token, so without the second rule it could sign callbacks about
//! another tenant's messages and texts to another tenant's numbers.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nudge_db::schema::{inbound_messages, provider_callbacks};
use nudge_domain::TenantId;

use crate::helpers::{callback, spawn_app, TestApp, AUTH_TOKEN, PUBLIC_BASE, SHOP_NUMBER};

const A_SID: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const A_TOKEN: &str = "tenant-a-subaccount-token";
const B_SID: &str = "ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const B_TOKEN: &str = "tenant-b-subaccount-token";
/// The platform account the shared fixtures name.
const PLATFORM_SID: &str = "AC11111111111111111111111111111111";

/// Registers `sid` as `tenant`'s own account, its token sealed as the CLI seals it.
async fn register(app: &TestApp, tenant: TenantId, sid: &str, token: &str) {
    let keyring = nudge_domain::sealed::Keyring::parse(nudge_testkit::TEST_KEYRING).unwrap();
    let sealed = keyring.seal(token, sid).unwrap();
    let mut conn = app.db.connect().await;
    let added = nudge_db::provider_accounts::add(&mut conn, tenant, sid, &sealed)
        .await
        .unwrap();
    assert!(
        matches!(added, nudge_db::provider_accounts::Added::Added(_)),
        "{added:?}"
    );
}

/// `params` with `AccountSid` set to `account`, posted to `path` signed with `token`.
async fn post_as(
    app: &TestApp,
    path: &str,
    account: &str,
    token: &str,
    mut params: Vec<(String, String)>,
) -> reqwest::Response {
    for (key, value) in &mut params {
        if key == "AccountSid" {
            *value = account.to_owned();
        }
    }
    let signature =
        nudge_domain::twilio_signature::sign(token, &format!("{PUBLIC_BASE}{path}"), &params);
    app.http
        .post(format!("{}{path}", app.address))
        .header("X-Twilio-Signature", signature)
        .form(&params)
        .send()
        .await
        .unwrap()
}

async fn callbacks_stored(app: &TestApp) -> i64 {
    let mut conn = app.db.connect().await;
    provider_callbacks::table
        .count()
        .get_result(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_callback_counts_only_when_signed_by_the_account_the_message_went_through() {
    let app = spawn_app().await;
    let sid = "SM0123456789abcdef0123456789abcdef";
    let (a, message) = app.sent_message(sid).await;
    register(&app, a, A_SID, A_TOKEN).await;
    let mut conn = app.db.connect().await;
    let moved = nudge_db::provider_accounts::move_number(&mut conn, SHOP_NUMBER, Some(A_SID))
        .await
        .unwrap();
    assert_eq!(moved, nudge_db::provider_accounts::Moved::Moved);
    let (b, _) = nudge_testkit::tenant_with_shop(&mut conn, "b").await;
    register(&app, b, B_SID, B_TOKEN).await;
    // B's account cannot hold A's number.
    assert_eq!(
        nudge_db::provider_accounts::move_number(&mut conn, SHOP_NUMBER, Some(B_SID))
            .await
            .unwrap(),
        nudge_db::provider_accounts::Moved::NotTheTenantsAccount
    );

    let delivered = callback(sid, "delivered");
    // B, correctly signed with its own token, about A's message: refused.
    let forged = post_as(&app, "/twilio/status", B_SID, B_TOKEN, delivered.clone()).await;
    assert_eq!(forged.status(), 403);
    // The platform's token no longer speaks for A's number either.
    let platform = post_as(
        &app,
        "/twilio/status",
        PLATFORM_SID,
        AUTH_TOKEN,
        delivered.clone(),
    )
    .await;
    assert_eq!(platform.status(), 403);
    // A's account, with B's token: a bad signature.
    let mixed = post_as(&app, "/twilio/status", A_SID, B_TOKEN, delivered.clone()).await;
    assert_eq!(mixed.status(), 403);
    assert_eq!(callbacks_stored(&app).await, 0, "nothing stored");
    assert_eq!(
        app.message(a, message).await.status,
        "sent",
        "nothing changed"
    );

    // A's own account and token: applied.
    let genuine = post_as(&app, "/twilio/status", A_SID, A_TOKEN, delivered).await;
    assert_eq!(genuine.status(), 200);
    assert_eq!(app.message(a, message).await.status, "delivered");
}

#[tokio::test]
async fn a_text_to_a_number_in_a_tenants_account_is_taken_only_from_that_account() {
    let app = spawn_app().await;
    let (a, _) = app.shop().await;
    register(&app, a, A_SID, A_TOKEN).await;
    let mut conn = app.db.connect().await;
    nudge_db::provider_accounts::move_number(&mut conn, SHOP_NUMBER, Some(A_SID))
        .await
        .unwrap();
    let (b, _) = nudge_testkit::tenant_with_shop(&mut conn, "b").await;
    register(&app, b, B_SID, B_TOKEN).await;

    let text = |sid: &str| -> Vec<(String, String)> {
        [
            ("AccountSid", PLATFORM_SID),
            ("Body", "where is my order?"),
            ("From", "+14155550123"),
            ("MessageSid", sid),
            ("NumMedia", "0"),
            ("To", SHOP_NUMBER),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    };
    let forged = post_as(
        &app,
        "/twilio/inbound",
        B_SID,
        B_TOKEN,
        text("SM00000000000000000000000000000b01"),
    )
    .await;
    assert_eq!(forged.status(), 403);
    let stored: i64 = inbound_messages::table
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(stored, 0);

    let genuine = post_as(
        &app,
        "/twilio/inbound",
        A_SID,
        A_TOKEN,
        text("SM00000000000000000000000000000a01"),
    )
    .await;
    assert_eq!(genuine.status(), 200);
    let tenant: uuid::Uuid = inbound_messages::table
        .select(inbound_messages::tenant_id)
        .first(&mut conn)
        .await
        .unwrap();
    assert_eq!(tenant, a.as_uuid());
}
