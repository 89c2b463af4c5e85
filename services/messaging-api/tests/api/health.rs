use nudge_testkit::TcpProxy;

use crate::helpers::{problem, spawn_app, spawn_app_with, Overrides};

#[tokio::test]
async fn healthz_and_readyz_answer_when_dependencies_are_up() {
    let app = spawn_app().await;
    let health = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["queue"], "ok");
}

#[tokio::test]
async fn a_lost_database_is_503_with_retry_after_never_500() {
    let proxy = TcpProxy::new("127.0.0.1:5432".parse().unwrap()).await;
    proxy.up().await;
    let port = proxy.port;
    let app = spawn_app_with(|db| Overrides {
        database_url: Some(db.url.replace(":5432/", &format!(":{port}/"))),
        ..Overrides::default()
    })
    .await;
    assert_eq!(app.get("/v1/shops").await.status(), 200);

    proxy.down().await;
    let response = app.get("/v1/shops").await;
    assert_eq!(response.headers()["retry-after"], "5");
    let body = problem(response, 503).await;
    assert_eq!(body["type"], "https://nudge.dev/problems/unavailable");
    // The client learns nothing about our hosts or SQL.
    assert!(!body["detail"].as_str().unwrap().contains("127.0.0.1"));

    let ready = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "unavailable");

    proxy.up().await;
    nudge_testkit::eventually(
        "the API to recover",
        std::time::Duration::from_secs(15),
        || async { (app.get("/v1/shops").await.status() == 200).then_some(()) },
    )
    .await;
}
