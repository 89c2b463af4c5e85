//! Campaigns in the console: progress (live while messages are on their way), cancel
//! by owners and marketers only, one tenant's campaigns only.

use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};

use super::browser::{another_tenant, signed_in};
use crate::helpers::{spawn_app, TestApp};

/// A campaign of 3 opted-in customers, to go out in 2 hours; its id, once expanded.
async fn scheduled_campaign(app: &TestApp) -> String {
    let shop = app.create_shop().await;
    let shop_id = shop["id"].as_str().unwrap();
    app.create_template("later", "See you soon").await;
    for i in 0..3 {
        app.create_customer(shop_id, &format!("+1415555{:04}", 300 + i))
            .await;
    }
    let send_at = (Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let created: Value = app
        .post(
            "/v1/campaigns",
            &json!({"shop_id": shop_id, "name": "Spring sale", "template": "later", "send_at": send_at}),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    nudge_testkit::eventually(
        "the campaign to expand",
        Duration::from_secs(20),
        || async {
            let campaign: Value = app
                .get(&format!("/v1/campaigns/{id}"))
                .await
                .json()
                .await
                .ok()?;
            (campaign["status"] == "expanded").then_some(())
        },
    )
    .await;
    id
}

async fn status(app: &TestApp, id: &str) -> String {
    let campaign: Value = app
        .get(&format!("/v1/campaigns/{id}"))
        .await
        .json()
        .await
        .unwrap();
    campaign["status"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_marketer_follows_a_campaign_and_cancels_it() {
    let app = spawn_app().await;
    let id = scheduled_campaign(&app).await;
    let mut marketer = signed_in(&app, &app.tenant_id, "marketer").await;
    let list = marketer.get("/console/campaigns").await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("Spring sale") && list.body.contains("3 of 3 recipients"));

    let page = marketer.get(&format!("/console/campaigns/{id}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Cancel campaign"));
    let progress = marketer
        .get(&format!("/console/campaigns/{id}/progress"))
        .await;
    assert!(progress
        .body
        .trim_start()
        .starts_with("<section id=\"progress\""));
    assert!(
        progress
            .body
            .contains(&format!("data-live=\"/console/campaigns/{id}/progress\"")),
        "scheduled messages are still on their way: {}",
        progress.body
    );
    assert!(
        progress.body.contains(">scheduled</span>"),
        "{}",
        progress.body
    );

    let csrf = page.csrf();
    let cancelled = marketer
        .post(
            &format!("/console/campaigns/{id}/cancel"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(cancelled.status, 303);
    assert_eq!(status(&app, &id).await, "cancelled");
    let progress = marketer
        .get(&format!("/console/campaigns/{id}/progress"))
        .await;
    assert!(progress.body.contains(">cancelled</span>"));
    assert!(
        !progress.body.contains("data-live"),
        "settled: {}",
        progress.body
    );
    let page = marketer.get(&format!("/console/campaigns/{id}")).await;
    assert!(
        !page.body.contains("Cancel campaign"),
        "nothing left to cancel"
    );
}

#[tokio::test]
async fn a_care_agent_may_not_cancel_and_another_tenant_sees_nothing() {
    let app = spawn_app().await;
    let id = scheduled_campaign(&app).await;
    let mut agent = signed_in(&app, &app.tenant_id, "care_agent").await;
    let page = agent.get(&format!("/console/campaigns/{id}")).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("Cancel campaign"));
    let csrf = page.csrf();
    let refused = agent
        .post(
            &format!("/console/campaigns/{id}/cancel"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(status(&app, &id).await, "expanded");

    let other = another_tenant(&app).await;
    let mut stranger = signed_in(&app, other["tenant_id"].as_str().unwrap(), "owner").await;
    let list = stranger.get("/console/campaigns").await;
    assert!(!list.body.contains("Spring sale"));
    for path in [
        format!("/console/campaigns/{id}"),
        format!("/console/campaigns/{id}/progress"),
    ] {
        assert_eq!(stranger.get(&path).await.status, 404, "{path}");
    }
    let csrf = list.csrf();
    let cancel = stranger
        .post(
            &format!("/console/campaigns/{id}/cancel"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(cancel.status, 404);
    assert_eq!(status(&app, &id).await, "expanded", "untouched");
}

async fn campaign_count(app: &TestApp) -> usize {
    let list: Value = app.get("/v1/campaigns").await.json().await.unwrap();
    list["data"].as_array().unwrap().len()
}

#[tokio::test]
async fn a_marketer_starts_a_campaign_from_the_form_with_the_apis_rules() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let shop_id = shop["id"].as_str().unwrap();
    let template = app
        .create_template("spring", "Hi {{customer.name}}, {{code}} takes 25% off")
        .await;
    let template_id = template["id"].as_str().unwrap();
    for i in 0..2 {
        app.create_customer(shop_id, &format!("+1415555{:04}", 400 + i))
            .await;
    }
    let mut marketer = signed_in(&app, &app.tenant_id, "marketer").await;
    let list = marketer.get("/console/campaigns").await;
    assert!(list.body.contains("href=\"/console/campaigns/new\""));
    let form = marketer.get("/console/campaigns/new").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("spring") && form.body.contains("XYZ Bags"));
    let csrf = form.csrf();
    let fields = |name: &'static str, data: &'static str, send_at: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("name", name.to_owned()),
            ("shop", shop_id.to_owned()),
            ("template", template_id.to_owned()),
            ("audience", "opted_in".to_owned()),
            ("attributes", "tier: gold".to_owned()),
            ("data", data.to_owned()),
            ("send_at", send_at.to_owned()),
        ]
    };

    // The API's rules: a shared variable without a value, a name missing, a bad time.
    for (name, data, send_at, expected) in [
        ("Spring", "", "", "code"),
        ("", "code: SPRING25", "", "name"),
        ("Spring", "code: SPRING25", "tomorrow", "Send at"),
    ] {
        let body = fields(name, data, send_at);
        let form: Vec<(&str, &str)> = body.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = marketer.post("/console/campaigns", &form).await;
        assert_eq!(page.status, 422, "{expected}: {}", page.body);
        assert!(page.body.contains(expected), "{expected}: {}", page.body);
    }
    assert_eq!(campaign_count(&app).await, 0, "nothing started");

    let body = fields("Spring", "code: SPRING25", "");
    let form: Vec<(&str, &str)> = body.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let started = marketer.post("/console/campaigns", &form).await;
    assert_eq!(started.status, 303, "{}", started.body);
    let path = started.location.unwrap();
    let id = path.strip_prefix("/console/campaigns/").unwrap().to_owned();
    nudge_testkit::eventually(
        "the campaign to expand",
        Duration::from_secs(20),
        || async { (status(&app, &id).await == "expanded").then_some(()) },
    )
    .await;
    let campaign: Value = app
        .get(&format!("/v1/campaigns/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(campaign["segment"]["attributes"]["tier"], "gold");
    assert_eq!(campaign["segment"]["consent"], json!(["opted_in"]));
    assert_eq!(campaign["progress"]["recipients"], 2);
    let page = marketer.get(&path).await;
    assert!(page.body.contains("Campaign Spring"));
}

#[tokio::test]
async fn a_care_agent_may_not_start_campaigns() {
    let app = spawn_app().await;
    let mut agent = signed_in(&app, &app.tenant_id, "care_agent").await;
    let list = agent.get("/console/campaigns").await;
    assert!(!list.body.contains("/console/campaigns/new"));
    assert_eq!(agent.get("/console/campaigns/new").await.status, 403);
    let csrf = list.csrf();
    let refused = agent
        .post(
            "/console/campaigns",
            &[("csrf", &csrf), ("name", "Mine"), ("template", "x")],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(campaign_count(&app).await, 0);
}
