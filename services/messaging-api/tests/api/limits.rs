//! Limits: requests per minute per tenant, whatever the key (429 with Retry-After and
//! RateLimit headers)
//! and messages per tenant per UTC day, both configurable per tenant.

use nudge_domain::TenantId;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{problem, spawn_app, TestApp};

pub(crate) async fn set_limits(
    app: &TestApp,
    requests_per_minute: Option<i32>,
    daily: Option<i32>,
) {
    let mut conn = app.db.connect().await;
    let tenant: TenantId = app.tenant_id.parse().unwrap();
    assert!(
        nudge_db::tenants::set_limits(&mut conn, tenant, requests_per_minute, daily)
            .await
            .unwrap()
    );
    // Changed behind the app's back, as an operator does: the app hears of it from the
    // database (LISTEN/NOTIFY) a few milliseconds after the commit, not before.
    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
}

#[tokio::test]
async fn a_tenants_keys_share_one_rate_limit_with_ietf_headers() {
    let app = spawn_app().await;
    // A second key of the same tenant, made in the database so that no request counts.
    let other_key = {
        let mut conn = app.db.connect().await;
        match nudge_db::tenants::issue_key(
            &mut conn,
            app.tenant_id.parse().unwrap(),
            "second",
            nudge_db::tenants::KeyGrant::full(),
        )
        .await
        .unwrap()
        {
            nudge_db::tenants::Issued::Issued(plain_text, _) => plain_text,
            other => panic!("{other:?}"),
        }
    };
    set_limits(&app, Some(3), None).await;
    let with = |key: &str| app.request(Method::GET, "/v1/shops", key).send();

    // The minute may roll over mid-test: retry once from a fresh window if so. Two
    // requests with the first key and one with the second use up the tenant's three;
    // the fourth is refused whichever key makes it.
    for attempt in 0..2 {
        let mut statuses = Vec::new();
        let mut last = None;
        for key in [&app.api_key, &app.api_key, &other_key, &other_key] {
            let response = with(key).await.unwrap();
            statuses.push(response.status().as_u16());
            last = Some(response);
        }
        if statuses != [200, 200, 200, 429] && attempt == 0 {
            tokio::time::sleep(std::time::Duration::from_secs(61)).await;
            continue;
        }
        assert_eq!(statuses, [200, 200, 200, 429]);
        let limited = last.unwrap();
        let retry_after: u64 = limited.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry_after));
        assert_eq!(limited.headers()["ratelimit-limit"], "3");
        assert_eq!(limited.headers()["ratelimit-remaining"], "0");
        assert_eq!(limited.headers()["ratelimit-policy"], "3;w=60");
        let body = problem(limited, 429).await;
        assert_eq!(body["type"], "https://nudge.dev/problems/rate-limited");
        // And the first key is refused too: the limit is the tenant's.
        assert_eq!(with(&app.api_key).await.unwrap().status(), 429);
        break;
    }
}

#[tokio::test]
async fn the_daily_message_cap_refuses_sends_beyond_it_and_stores_nothing() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    set_limits(&app, None, Some(2)).await;
    let send = json!({"shop_id": shop["id"], "to": "+14155550100", "body": "x", "category": "transactional"});
    assert_eq!(app.post("/v1/messages", &send).await.status(), 202);
    assert_eq!(app.post("/v1/messages", &send).await.status(), 202);
    let before = app.stored_messages().await;
    let refused = app.post("/v1/messages", &send).await;
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=86_400).contains(&retry_after));
    let body = problem(refused, 429).await;
    assert_eq!(
        body["type"],
        "https://nudge.dev/problems/daily-message-cap-reached"
    );
    assert_eq!(app.stored_messages().await, before);
    // Other calls still work.
    assert_eq!(app.get("/v1/messages").await.status(), 200);
}
