//! The hot path's shortcuts and the bounds they keep (docs/performance.md): a key's
//! owner remembered per replica (changes pushed by the database), a tenant's requests
//! counted per replica and added to the shared window every flush interval, and the
//! day's count reused between counts.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nudge_db::schema::api_keys;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{problem, spawn_app, spawn_app_with, Overrides, TestApp};
use crate::limits::set_limits;

async fn status_at(app: &TestApp, base: &str, key: &str) -> u16 {
    app.client
        .get(format!("{base}/v1/shops"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Revokes the key in the database, as another replica, the console or the operator
/// would: this replica's API has no part in it.
async fn revoke_behind_the_apis_back(app: &TestApp, key: &str) {
    let mut conn = app.db.connect().await;
    let revoked = diesel::update(
        api_keys::table.filter(api_keys::key_hash.eq(nudge_db::tenants::hash_key(key))),
    )
    .set(api_keys::revoked_at.eq(diesel::dsl::now))
    .execute(&mut conn)
    .await
    .unwrap();
    assert_eq!(revoked, 1);
}

/// How long until the key is refused, polling; panics past `bound`.
async fn refused_within(app: &TestApp, key: &str, bound: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if status_at(app, &app.address, key).await == 401 {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < bound,
            "the revoked key still worked after {bound:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_key_revoked_behind_a_replicas_back_is_refused_as_soon_as_the_change_is_announced() {
    // A cache lifetime of a minute: only the pushed change can end it sooner.
    let app = spawn_app_with(|_| Overrides {
        api_key_cache_ms: Some(60_000),
        ..Overrides::default()
    })
    .await;
    assert_eq!(status_at(&app, &app.address, &app.api_key).await, 200);
    revoke_behind_the_apis_back(&app, &app.api_key).await;
    refused_within(&app, &app.api_key, Duration::from_secs(3)).await;
}

#[tokio::test]
async fn without_the_push_a_revoked_key_works_no_longer_than_the_cache_lifetime() {
    let app = spawn_app_with(|_| Overrides {
        api_key_cache_ms: Some(2_000),
        ..Overrides::default()
    })
    .await;
    assert_eq!(status_at(&app, &app.address, &app.api_key).await, 200);
    // As while the replica's listener is disconnected: no change is announced.
    let mut conn = app.db.connect().await;
    diesel::sql_query("ALTER TABLE api_keys DISABLE TRIGGER api_keys_auth_change")
        .execute(&mut conn)
        .await
        .unwrap();
    revoke_behind_the_apis_back(&app, &app.api_key).await;
    assert_eq!(
        status_at(&app, &app.address, &app.api_key).await,
        200,
        "the owner remembered a moment ago is reused: the database is not asked"
    );
    refused_within(&app, &app.api_key, Duration::from_secs(4)).await;
}

#[tokio::test]
async fn replicas_add_up_a_tenants_requests_within_a_flush_interval() {
    let app = spawn_app().await;
    let replica = app.spawn_replica(None).await;
    set_limits(&app, Some(4), None).await;
    let flushed = || tokio::time::sleep(Duration::from_millis(500));
    // The minute may roll over mid-test: once more from a fresh window if so.
    for attempt in 0..2 {
        let mut statuses = Vec::new();
        for base in [&app.address, &app.address] {
            statuses.push(status_at(&app, base, &app.api_key).await);
        }
        flushed().await;
        for base in [&replica, &replica] {
            statuses.push(status_at(&app, base, &app.api_key).await);
        }
        flushed().await;
        // The replica has learnt the first one's two requests: the fifth is refused.
        statuses.push(status_at(&app, &replica, &app.api_key).await);
        if statuses != [200, 200, 200, 200, 429] && attempt == 0 {
            tokio::time::sleep(Duration::from_secs(61)).await;
            continue;
        }
        assert_eq!(statuses, [200, 200, 200, 200, 429]);
        break;
    }
}

#[tokio::test]
async fn the_days_count_learns_other_replicas_sends_at_its_next_count() {
    let app = spawn_app_with(|_| Overrides {
        daily_count_refresh_ms: Some(3_000),
        ..Overrides::default()
    })
    .await;
    let shop = app.create_shop().await;
    set_limits(&app, None, Some(3)).await;
    let send = || async {
        app.request(Method::POST, "/v1/messages", &app.api_key)
            .json(&json!({"shop_id": shop["id"], "to": "+14155550100",
                          "body": "Your order shipped", "category": "transactional"}))
            .send()
            .await
            .unwrap()
    };
    assert_eq!(send().await.status(), 202);
    // Two more today, accepted by another replica.
    let mut conn = app.db.connect().await;
    for _ in 0..2 {
        let (message, outbox, _) = nudge_testkit::queued_message(
            app.tenant_id.parse().unwrap(),
            shop["id"].as_str().unwrap().parse().unwrap(),
            "+14155550101",
            "From elsewhere",
            "elsewhere",
        );
        nudge_db::messages::insert_accepted(&mut conn, &message, &outbox)
            .await
            .unwrap();
    }
    // Within the refresh interval this replica knows only its own send: the cap (3)
    // is passed by what the others accepted meanwhile. That is the documented bound.
    assert_eq!(send().await.status(), 202);
    // Past it (DAILY_COUNT_REFRESH_MS), it counts again and sees all four.
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    let refused = problem(send().await, 429).await;
    assert_eq!(
        refused["type"],
        "https://nudge.dev/problems/daily-message-cap-reached"
    );
}
