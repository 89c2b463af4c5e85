//! New tenants start in a sandbox: they text only numbers they verified, at most 50 a
//! day, until an operator approves them; and every tenant texts only its countries.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{problem, spawn_app, TestApp, SHOP_NUMBER};

const NEW_NUMBER: &str = "+15017122670";
const FRIEND: &str = "+14155550100";

/// A tenant as a self-service sign-up or `create-tenant` without `--approved` makes
/// it, with a shop on its one number; its key and id.
async fn sandbox_tenant(app: &TestApp) -> (String, nudge_domain::TenantId, String) {
    let mut conn = app.db.connect().await;
    let created: Value = serde_json::from_str(
        &messaging_api::admin::create_tenant(&mut conn, "Newcomer", &[NEW_NUMBER.into()], false)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(created["approved"], false);
    let key = created["api_key"].as_str().unwrap().to_owned();
    let shop: Value = app
        .request(Method::POST, "/v1/shops", &key)
        .json(&json!({"name": "New", "sender_number": NEW_NUMBER,
                      "quiet_hours": {"start": "00:00", "end": "00:00"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        key,
        created["tenant_id"].as_str().unwrap().parse().unwrap(),
        shop["id"].as_str().unwrap().to_owned(),
    )
}

async fn send(app: &TestApp, key: &str, shop: &str, to: &str) -> reqwest::Response {
    app.request(Method::POST, "/v1/messages", key)
        .json(
            &json!({"shop_id": shop, "to": to, "body": "Your order shipped",
                      "category": "transactional"}),
        )
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_sandbox_tenant_texts_only_numbers_it_verified_until_it_is_approved() {
    let app = spawn_app().await;
    let (key, tenant, shop) = sandbox_tenant(&app).await;
    let before = app.stored_counts().await;

    let refused = problem(send(&app, &key, &shop, FRIEND).await, 422).await;
    assert_eq!(
        refused["type"],
        "https://nudge.dev/problems/recipient-not-verified"
    );
    assert_eq!(app.stored_counts().await, before, "nothing stored");

    // Bad input is refused and starts nothing.
    for bad in [
        json!({"phone": "12"}),
        json!({"phone": FRIEND, "shop_id": "x"}),
        json!({}),
    ] {
        let response = app
            .request(Method::POST, "/v1/verified-numbers", &key)
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_client_error(),
            "{bad}: {}",
            response.status()
        );
    }
    let listed: Value = app
        .request(Method::GET, "/v1/verified-numbers", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"], json!([]));

    // Verification: a code, texted back to the tenant's number from the number itself.
    let started = app
        .request(Method::POST, "/v1/verified-numbers", &key)
        .json(&json!({"phone": FRIEND}))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 201);
    let started: Value = started.json().await.unwrap();
    assert_eq!(started["status"], "pending");
    assert_eq!(started["text_to"], json!([NEW_NUMBER]));
    let code = started["code"].as_str().unwrap().to_owned();
    let mut conn = app.db.connect().await;
    // The code from another phone, or a wrong code from the right one, proves nothing.
    nudge_testkit::customer_texts(
        &mut conn,
        "SM000000000000000000000000000000c1",
        "+14155550111",
        NEW_NUMBER,
        &code,
    )
    .await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    nudge_testkit::customer_texts(
        &mut conn,
        "SM000000000000000000000000000000c2",
        FRIEND,
        NEW_NUMBER,
        wrong,
    )
    .await;
    problem(send(&app, &key, &shop, FRIEND).await, 422).await;
    nudge_testkit::customer_texts(
        &mut conn,
        "SM000000000000000000000000000000c3",
        FRIEND,
        NEW_NUMBER,
        &format!("code {code}"),
    )
    .await;
    let listed: Value = app
        .request(Method::GET, "/v1/verified-numbers", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"][0]["status"], "verified", "{listed}");
    assert!(
        !listed.to_string().contains(&code),
        "the code is never listed"
    );
    assert_eq!(send(&app, &key, &shop, FRIEND).await.status(), 202);

    // Anyone else waits for the operator.
    let stranger = "+14155550122";
    problem(send(&app, &key, &shop, stranger).await, 422).await;
    messaging_api::admin::tenants::approve(&mut conn, tenant)
        .await
        .unwrap();
    assert_eq!(send(&app, &key, &shop, stranger).await.status(), 202);
}

#[tokio::test]
async fn a_sandbox_tenants_daily_cap_is_the_sandboxs_until_approval() {
    let app = spawn_app().await;
    let (key, tenant, _) = sandbox_tenant(&app).await;
    let mut conn = app.db.connect().await;
    let owner = nudge_db::tenants::authenticate(&mut conn, &key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        owner.daily_message_cap,
        nudge_domain::SANDBOX_DAILY_MESSAGES
    );
    assert_eq!(
        nudge_db::limits::daily_message_cap(&conn, tenant)
            .await
            .unwrap(),
        nudge_domain::SANDBOX_DAILY_MESSAGES
    );
    messaging_api::admin::tenants::approve(&mut conn, tenant)
        .await
        .unwrap();
    let owner = nudge_db::tenants::authenticate(&mut conn, &key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        owner.daily_message_cap,
        nudge_db::tenants::DEFAULT_DAILY_MESSAGE_CAP
    );
}

#[tokio::test]
async fn a_tenant_texts_only_its_countries_whatever_its_approval() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let before = app.stored_counts().await;
    let abroad = "+447700900123";
    let refused = problem(
        send(&app, &app.api_key, shop["id"].as_str().unwrap(), abroad).await,
        422,
    )
    .await;
    assert_eq!(
        refused["type"],
        "https://nudge.dev/problems/destination-not-allowed"
    );
    assert!(
        refused["detail"].as_str().unwrap().contains("+44"),
        "{refused}"
    );
    assert_eq!(app.stored_counts().await, before, "nothing stored");

    // The operator enables the country; `default` goes back to the numbers' own.
    let mut conn = app.db.connect().await;
    let tenant: nudge_domain::TenantId = app.tenant_id.parse().unwrap();
    messaging_api::admin::tenants::set_destinations(&mut conn, tenant, "1,44")
        .await
        .unwrap();
    assert_eq!(
        send(&app, &app.api_key, shop["id"].as_str().unwrap(), abroad)
            .await
            .status(),
        202
    );
    messaging_api::admin::tenants::set_destinations(&mut conn, tenant, "default")
        .await
        .unwrap();
    problem(
        send(&app, &app.api_key, shop["id"].as_str().unwrap(), abroad).await,
        422,
    )
    .await;
    assert!(SHOP_NUMBER.starts_with("+1"));
}
