//! Leads in the console: the searches with their progress, the leads, the CSV download
//! (defused cells), marketing's only, one tenant's leads only.

use nudge_db::lead_searches::FoundLead;
use serde_json::Value;

use super::browser::{another_tenant, signed_in};
use crate::helpers::spawn_app;

fn lead(slug: &str, name: &str, company: &str) -> FoundLead {
    FoundLead {
        profile_url: format!("https://www.linkedin.com/in/{slug}"),
        name: name.into(),
        headline: Some("Head of Growth".into()),
        company: Some(company.into()),
        location: Some("Lyon".into()),
    }
}

#[tokio::test]
async fn a_marketer_sees_the_searches_and_downloads_the_leads() {
    let app = spawn_app().await;
    let search = app
        .lead_search_with_leads(&[
            lead("ada", "Ada Lovelace", "Analytical"),
            lead("mallory", "=HYPERLINK(\"http://evil\")", "Evil"),
        ])
        .await;
    let id = search["id"].as_str().unwrap();
    let mut marketer = signed_in(&app, &app.tenant_id, "marketer").await;
    let home = marketer.get("/console").await;
    assert!(home.body.contains("href=\"/console/leads\""));

    let page = marketer.get("/console/leads").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Head of Growth"), "the search's terms");
    assert!(page.body.contains("completed"));
    assert!(page.body.contains("2 new leads"), "{}", page.body);
    assert!(!page.body.contains("data-live"), "nothing runs");
    assert!(page.body.contains("Ada Lovelace"));
    assert!(page.body.contains("https://www.linkedin.com/in/ada"));

    let filtered = marketer
        .get(&format!("/console/leads?search={id}&q=ada"))
        .await;
    assert!(filtered.body.contains("Ada Lovelace"));
    assert!(!filtered.body.contains("HYPERLINK"));
    assert!(
        filtered
            .body
            .contains(&format!("/console/leads.csv?search={id}&#38;q=ada"))
            || filtered
                .body
                .contains(&format!("/console/leads.csv?search={id}&amp;q=ada")),
        "the download keeps the filters: {}",
        filtered.body
    );

    let csv = marketer.get("/console/leads.csv").await;
    assert_eq!(csv.status, 200);
    let lines: Vec<&str> = csv.body.lines().collect();
    assert!(lines[0].starts_with("id,name,headline"), "{}", csv.body);
    assert_eq!(lines.len(), 3);
    assert!(
        csv.body.contains("\"'=HYPERLINK(\"\"http://evil\"\")\""),
        "defused: {}",
        csv.body
    );
    let one = marketer
        .get(&format!("/console/leads.csv?search={id}&q=ada"))
        .await;
    assert_eq!(one.body.lines().count(), 2, "{}", one.body);
    assert_eq!(marketer.get("/console/leads?search=nope").await.status, 404);
}

#[tokio::test]
async fn care_agents_and_other_tenants_get_no_leads() {
    let app = spawn_app().await;
    app.lead_search_with_leads(&[lead("ada", "Ada Lovelace", "Analytical")])
        .await;
    let mut agent = signed_in(&app, &app.tenant_id, "care_agent").await;
    let home = agent.get("/console").await;
    assert!(!home.body.contains("/console/leads"), "no link");
    for path in [
        "/console/leads",
        "/console/leads.csv",
        "/console/leads/searches",
    ] {
        let page = agent.get(path).await;
        assert_eq!(page.status, 403, "{path}");
        assert!(!page.body.contains("Ada Lovelace"));
    }

    let other = another_tenant(&app).await;
    let mut stranger = signed_in(&app, other["tenant_id"].as_str().unwrap(), "owner").await;
    let page = stranger.get("/console/leads").await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("Ada Lovelace") && page.body.contains("No searches yet"));
    let csv = stranger.get("/console/leads.csv").await;
    assert_eq!(csv.body.lines().count(), 1, "the header only: {}", csv.body);
}

async fn searches(app: &crate::helpers::TestApp) -> Vec<Value> {
    let list: Value = app.get("/v1/lead-searches").await.json().await.unwrap();
    list["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_marketer_starts_a_search_with_the_apis_rules() {
    let app = spawn_app().await;
    let mut marketer = signed_in(&app, &app.tenant_id, "marketer").await;
    let page = marketer.get("/console/leads").await;
    let csrf = page.csrf();
    for (titles, max, expected) in [
        ("", "", "at least"),
        ("Head of Growth", "lots", "whole number"),
        ("Head of Growth", "5000", "max results"),
    ] {
        let refused = marketer
            .post(
                "/console/leads/searches",
                &[
                    ("csrf", &csrf),
                    ("job_titles", titles),
                    ("max_results", max),
                ],
            )
            .await;
        assert_eq!(refused.status, 422, "{expected}: {}", refused.body);
        assert!(
            refused.body.contains(expected),
            "{expected}: {}",
            refused.body
        );
        assert!(refused.body.contains("role=\"alert\""));
    }
    assert!(searches(&app).await.is_empty(), "nothing started");

    let started = marketer
        .post(
            "/console/leads/searches",
            &[
                ("csrf", &csrf),
                ("job_titles", "Head of Growth, CMO"),
                ("locations", "Lyon"),
                ("max_results", "50"),
            ],
        )
        .await;
    assert_eq!(started.status, 303, "{}", started.body);
    let stored = searches(&app).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0]["query"]["job_titles"],
        serde_json::json!(["Head of Growth", "CMO"])
    );
    assert_eq!(stored[0]["max_results"], 50);
    assert!(started
        .location
        .unwrap()
        .ends_with(stored[0]["id"].as_str().unwrap()));

    let mut agent = signed_in(&app, &app.tenant_id, "care_agent").await;
    let csrf = agent.get("/console").await.csrf();
    let refused = agent
        .post(
            "/console/leads/searches",
            &[("csrf", &csrf), ("job_titles", "CEO")],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(searches(&app).await.len(), 1);
}
