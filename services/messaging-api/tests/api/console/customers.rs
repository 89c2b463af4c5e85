//! Customers in the console: the list, the consent ledger, changes recorded by the
//! team (an opt-in only with evidence); one tenant's customers only.

use serde_json::Value;

use super::browser::{another_tenant, signed_in};
use crate::helpers::{spawn_app, TestApp};

async fn consent(app: &TestApp, customer: &str) -> Value {
    app.get(&format!("/v1/customers/{customer}/consent"))
        .await
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_care_agent_records_an_opt_out_the_customer_asked_for_by_phone() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let customer = app
        .create_customer(shop["id"].as_str().unwrap(), "+14155550123")
        .await;
    let id = customer["id"].as_str().unwrap();
    let mut agent = signed_in(&app, &app.tenant_id, "care_agent").await;

    let list = agent.get("/console/customers").await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("+14155550123") && list.body.contains("opted in"));
    let filtered = agent
        .get(&format!(
            "/console/customers?shop={}",
            shop["id"].as_str().unwrap()
        ))
        .await;
    assert!(filtered.body.contains("+14155550123"));
    assert_eq!(agent.get("/console/customers?shop=nope").await.status, 404);

    let page = agent.get(&format!("/console/customers/{id}")).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("form: checkout"),
        "the API's evidence: {}",
        page.body
    );
    let csrf = page.csrf();
    let recorded = agent
        .post(
            &format!("/console/customers/{id}/consent"),
            &[
                ("csrf", &csrf),
                ("state", "opted_out"),
                ("note", "asked on the phone"),
            ],
        )
        .await;
    assert_eq!(recorded.status, 303, "{}", recorded.body);
    let ledger = consent(&app, id).await;
    assert_eq!(ledger["state"], "opted_out");
    assert_eq!(ledger["data"][0]["state"], "opted_out");
    assert_eq!(ledger["data"][0]["evidence"]["via"], "console");
    assert_eq!(ledger["data"][0]["evidence"]["note"], "asked on the phone");
    let page = agent.get(&format!("/console/customers/{id}")).await;
    let newest = page.body.find("asked on the phone").unwrap();
    let oldest = page.body.find("form: checkout").unwrap();
    assert!(newest < oldest, "newest first");
}

#[tokio::test]
async fn an_opt_in_needs_evidence_and_bad_changes_record_nothing() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let customer = app
        .create_customer(shop["id"].as_str().unwrap(), "+14155550123")
        .await;
    let id = customer["id"].as_str().unwrap();
    let before = consent(&app, id).await;
    let mut marketer = signed_in(&app, &app.tenant_id, "marketer").await;
    let csrf = marketer.get("/console").await.csrf();
    for (state, note) in [("opted_in", "  "), ("unknown", "x"), ("maybe", "x")] {
        let page = marketer
            .post(
                &format!("/console/customers/{id}/consent"),
                &[("csrf", &csrf), ("state", state), ("note", note)],
            )
            .await;
        assert_eq!(page.status, 422, "{state}: {}", page.body);
        assert!(page.body.contains("role=\"alert\""));
    }
    let forged = marketer
        .post(
            &format!("/console/customers/{id}/consent"),
            &[("csrf", "forged"), ("state", "opted_out")],
        )
        .await;
    assert_eq!(forged.status, 403);
    assert_eq!(consent(&app, id).await, before, "nothing recorded");
}

#[tokio::test]
async fn another_tenants_customers_are_not_found() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let customer = app
        .create_customer(shop["id"].as_str().unwrap(), "+14155550123")
        .await;
    let id = customer["id"].as_str().unwrap();
    let before = consent(&app, id).await;
    let other = another_tenant(&app).await;
    let mut stranger = signed_in(&app, other["tenant_id"].as_str().unwrap(), "owner").await;
    let list = stranger.get("/console/customers").await;
    assert!(!list.body.contains("+14155550123"));
    let page = stranger.get(&format!("/console/customers/{id}")).await;
    assert_eq!(page.status, 404);
    assert!(!page.body.contains("+14155550123"));
    let csrf = list.csrf();
    let change = stranger
        .post(
            &format!("/console/customers/{id}/consent"),
            &[("csrf", &csrf), ("state", "opted_out"), ("note", "x")],
        )
        .await;
    assert_eq!(change.status, 404);
    assert_eq!(consent(&app, id).await, before, "unchanged");
}
