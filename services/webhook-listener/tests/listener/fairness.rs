//! One tenant's dead endpoints cannot hold back another tenant's webhooks: the
//! dispatcher gives each tenant at most a few places at once and frees a place as soon
//! as its call ends (docs/tenancy.md, "Fairness bounds").

use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nudge_db::schema::webhook_deliveries;
use nudge_domain::{ShopId, TenantId};
use serde_json::json;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{new_endpoint, spawn_app_with, Options, TestApp};

/// An address that accepts connections and never answers on them.
async fn silent_endpoint() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    format!("http://{address}")
}

async fn endpoint(app: &TestApp, tenant: TenantId, url: String) {
    let mut conn = app.db.connect().await;
    nudge_db::webhooks::insert_endpoint(
        &mut conn,
        &new_endpoint(tenant, &url, json!(["message.received"])),
    )
    .await
    .unwrap()
    .expect("under the cap");
}

async fn emit(app: &TestApp, tenant: TenantId, shop: ShopId, n: usize) {
    let mut conn = app.db.connect().await;
    for i in 0..n {
        nudge_db::webhooks::emit(
            &mut conn,
            tenant,
            shop.as_uuid(),
            "message.received",
            json!({"i": i}),
        )
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn a_tenants_dead_endpoints_do_not_delay_another_tenants_deliveries() {
    // A call to a dead endpoint holds its place for the whole timeout.
    let timeout = Duration::from_secs(8);
    let app = spawn_app_with(Options {
        webhook_timeout: timeout,
        ..Options::default()
    })
    .await;
    let (a, a_shop) = app.shop().await;
    let mut conn = app.db.connect().await;
    let (b, b_shop) = nudge_testkit::tenant_with_shop(&mut conn, "b").await;
    let dead = silent_endpoint().await;
    for i in 0..10 {
        endpoint(&app, a, format!("{dead}/hook/{i}")).await;
    }
    let alive = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&alive)
        .await;
    endpoint(&app, b, alive.uri()).await;

    // A's burst: 10 endpoints x 6 events, all due before B's one.
    emit(&app, a, a_shop, 6).await;
    let started = Instant::now();
    emit(&app, b, b_shop, 1).await;

    let delivered = loop {
        let status: String = webhook_deliveries::table
            .filter(webhook_deliveries::tenant_id.eq(b.as_uuid()))
            .select(webhook_deliveries::status)
            .first(&mut conn)
            .await
            .unwrap();
        if status == "delivered" {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < timeout,
            "B's delivery waited behind A's dead endpoints"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The bound: one dispatch interval (200 ms here) and B's own call, far below the
    // timeout that every one of A's calls takes. Checked against the timeout, not a
    // tight number: a shared machine is noisy, and a dispatcher that let A's calls
    // block B would take at least one whole timeout.
    assert!(delivered < timeout / 2, "{delivered:?}");
    // And A's calls are still hanging: B did not merely wait for them to end.
    let a_pending: i64 = webhook_deliveries::table
        .filter(webhook_deliveries::tenant_id.eq(a.as_uuid()))
        .filter(webhook_deliveries::status.eq("pending"))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(a_pending, 60);
}

#[tokio::test]
async fn a_tenant_has_a_bounded_number_of_endpoints() {
    let app = spawn_app_with(Options::default()).await;
    let (a, _) = app.shop().await;
    let mut conn = app.db.connect().await;
    for i in 0..nudge_db::webhooks::MAX_ENDPOINTS_PER_TENANT {
        endpoint(&app, a, format!("https://hooks.example.com/{i}")).await;
    }
    let refused = nudge_db::webhooks::insert_endpoint(
        &mut conn,
        &new_endpoint(
            a,
            "https://hooks.example.com/one-too-many",
            json!(["message.received"]),
        ),
    )
    .await
    .unwrap();
    assert!(refused.is_none());
}
