//! `admin accounts`: a tenant's own Twilio subaccount, its token sealed at rest, listed
//! without it, resealed when the key rotates.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use messaging_api::admin::accounts;
use nudge_domain::sealed::Keyring;
use nudge_domain::TenantId;
use serde_json::Value;

use crate::helpers::{spawn_app, SHOP_NUMBER};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "the-subaccounts-auth-token";
const NEW_KEY: &str = "k2:HxsdHBsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA=";

async fn stored_sealed(conn: &mut nudge_db::AsyncPgConnection) -> String {
    use nudge_db::schema::provider_accounts;
    provider_accounts::table
        .filter(provider_accounts::account_sid.eq(SID))
        .select(provider_accounts::auth_token_sealed)
        .first(conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_subaccounts_token_is_stored_sealed_listed_never_and_resealed_on_rotation() {
    let app = spawn_app().await;
    let tenant: TenantId = app.tenant_id.parse().unwrap();
    let mut conn = app.db.connect().await;
    let old = Keyring::parse(nudge_testkit::TEST_KEYRING).unwrap();

    let added = accounts::add(&mut conn, &old, tenant, SID, TOKEN)
        .await
        .unwrap();
    assert!(!added.contains(TOKEN), "{added}");
    let sealed = stored_sealed(&mut conn).await;
    assert!(
        !sealed.contains(TOKEN) && sealed.starts_with("v1:test:"),
        "{sealed}"
    );
    assert_eq!(old.open(&sealed, SID).unwrap(), TOKEN);
    // Bad input stores nothing.
    assert!(accounts::add(&mut conn, &old, tenant, "AC123", TOKEN)
        .await
        .is_err());
    assert!(accounts::add(&mut conn, &old, tenant, SID, "short")
        .await
        .is_err());
    let again = accounts::add(&mut conn, &old, tenant, SID, TOKEN)
        .await
        .unwrap_err();
    assert!(again.to_string().contains("already registered"), "{again}");

    let listed = accounts::list(&mut conn, Some(tenant)).await.unwrap();
    assert!(
        !listed.contains(TOKEN) && !listed.contains(&sealed),
        "{listed}"
    );
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed["sealed_with"], "test");

    // Rotation: the new key first, reseal, and the old key is no longer needed.
    let rotated = Keyring::parse(&format!("{NEW_KEY},{}", nudge_testkit::TEST_KEYRING)).unwrap();
    let report: Value =
        serde_json::from_str(&accounts::reseal(&mut conn, &rotated).await.unwrap()).unwrap();
    assert_eq!(report["resealed"], 1);
    let resealed = stored_sealed(&mut conn).await;
    assert_eq!(
        Keyring::parse(NEW_KEY)
            .unwrap()
            .open(&resealed, SID)
            .unwrap(),
        TOKEN
    );
    let report: Value =
        serde_json::from_str(&accounts::reseal(&mut conn, &rotated).await.unwrap()).unwrap();
    assert_eq!(report["resealed"], 0, "nothing left on the old key");
}

#[tokio::test]
async fn a_number_goes_only_into_an_account_of_its_own_tenant() {
    let app = spawn_app().await;
    let tenant: TenantId = app.tenant_id.parse().unwrap();
    let mut conn = app.db.connect().await;
    let keyring = Keyring::parse(nudge_testkit::TEST_KEYRING).unwrap();
    let other: Value = serde_json::from_str(
        &messaging_api::admin::create_tenant(&mut conn, "Other", &[], true)
            .await
            .unwrap(),
    )
    .unwrap();
    let other: TenantId = other["tenant_id"].as_str().unwrap().parse().unwrap();
    accounts::add(&mut conn, &keyring, other, SID, TOKEN)
        .await
        .unwrap();

    let refused = accounts::move_number(&mut conn, SHOP_NUMBER, SID)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("not an account of"),
        "{refused}"
    );
    let mine = "ACfedcba9876543210fedcba9876543210";
    accounts::add(&mut conn, &keyring, tenant, mine, TOKEN)
        .await
        .unwrap();
    accounts::move_number(&mut conn, SHOP_NUMBER, mine)
        .await
        .unwrap();
    let (_, account) = nudge_db::provider_accounts::of_number(&mut conn, SHOP_NUMBER)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.unwrap().account_sid, mine);
    accounts::move_number(&mut conn, SHOP_NUMBER, "platform")
        .await
        .unwrap();
    let (_, account) = nudge_db::provider_accounts::of_number(&mut conn, SHOP_NUMBER)
        .await
        .unwrap()
        .unwrap();
    assert!(account.is_none());
}
