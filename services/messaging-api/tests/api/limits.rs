//! Limits: requests per minute per API key (429 with Retry-After and RateLimit headers)
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
}

#[tokio::test]
async fn each_key_has_a_rate_limit_with_ietf_headers() {
    let app = spawn_app().await;
    // A second key of the same tenant, made in the database so that no request counts.
    let (other_key, _) = {
        let mut conn = app.db.connect().await;
        nudge_db::tenants::issue_key(&mut conn, app.tenant_id.parse().unwrap(), "second")
            .await
            .unwrap()
    };
    set_limits(&app, Some(3), None).await;

    // The minute may roll over mid-test: retry once from a fresh window if so.
    for attempt in 0..2 {
        let mut statuses = Vec::new();
        let mut last = None;
        for _ in 0..4 {
            let response = app.get("/v1/shops").await;
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
        break;
    }
    // Another key has its own window.
    let with_other = app
        .request(Method::GET, "/v1/shops", &other_key)
        .send()
        .await
        .unwrap();
    assert_eq!(with_other.status(), 200);
    assert_eq!(with_other.headers()["ratelimit-remaining"], "2");
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
