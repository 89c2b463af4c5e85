//! `/v1/lead-searches` and `/v1/leads`: accepting a search, its progress and cancel,
//! listing, filtering, exporting and deleting leads. The worker's side is tested in
//! services/lead-search; here the leads are stored as it stores them.

use nudge_db::lead_searches::FoundLead;
use serde_json::{json, Value};

use crate::helpers::{problem, spawn_app};

fn lead(slug: &str, name: &str, company: Option<&str>, location: Option<&str>) -> FoundLead {
    FoundLead {
        profile_url: format!("https://www.linkedin.com/in/{slug}"),
        name: name.into(),
        headline: Some("Head of Growth".into()),
        company: company.map(Into::into),
        location: location.map(Into::into),
    }
}

#[tokio::test]
async fn a_search_is_accepted_queued_and_shown_with_its_progress() {
    let app = spawn_app().await;
    let response = app
        .post(
            "/v1/lead-searches",
            &json!({"query": {"job_titles": [" Head of Growth ", "VP Marketing"],
                              "locations": ["Berlin"]}, "max_results": 40}),
        )
        .await;
    assert_eq!(response.status(), 202);
    let search: Value = response.json().await.unwrap();
    assert_eq!(search["status"], "queued");
    assert_eq!(search["max_results"], 40);
    assert_eq!(
        search["query"]["job_titles"],
        json!(["Head of Growth", "VP Marketing"])
    );
    assert_eq!(search["progress"]["pages_fetched"], 0);
    let id = search["id"].as_str().unwrap();

    let shown: Value = app
        .get(&format!("/v1/lead-searches/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["id"], search["id"]);
    let listed: Value = app
        .get("/v1/lead-searches?status=queued")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"][0]["id"], search["id"]);
    let none: Value = app
        .get("/v1/lead-searches?status=running")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["data"], json!([]));

    // The search reaches the lead-search queue as a lead_search.v1 naming it.
    let messages = app
        .lead_queue
        .peek(&app.lead_queue.url, std::time::Duration::from_secs(10))
        .await;
    let body: Value = serde_json::from_str(messages[0].body().unwrap()).unwrap();
    assert_eq!(body["type"], "lead_search.v1");
    assert_eq!(body["payload"]["lead_search_id"], search["id"]);
    assert_eq!(body["tenant_id"].as_str().unwrap(), app.tenant_id);
}

#[tokio::test]
async fn bad_searches_are_refused_with_every_problem_and_nothing_is_stored() {
    let app = spawn_app().await;
    for (body, fields) in [
        (json!({}), vec!["query"]),
        (json!({"query": {"locations": ["Berlin"]}}), vec!["query"]),
        (
            json!({"query": {"job_titles": ["CEO\" OR \"x", ""]}, "max_results": 0}),
            vec!["query.job_titles[0]", "query.job_titles[1]", "max_results"],
        ),
        (json!({"query": {"titles": ["CEO"]}}), vec!["query"]),
    ] {
        let response = app.post("/v1/lead-searches", &body).await;
        let problem = problem(response, 422).await;
        let got: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(got, fields, "{body}");
    }
    // Unknown fields are refused, as everywhere in the API.
    let response = app
        .post(
            "/v1/lead-searches",
            &json!({"query": {"job_titles": ["CEO"]}, "extra": 1}),
        )
        .await;
    problem(response, 422).await;
    let listed: Value = app.get("/v1/lead-searches").await.json().await.unwrap();
    assert_eq!(listed["data"], json!([]));
}

#[tokio::test]
async fn cancelling_stops_a_search_and_an_ended_one_cannot_be() {
    let app = spawn_app().await;
    let search: Value = app
        .post(
            "/v1/lead-searches",
            &json!({"query": {"companies": ["Acme"]}}),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = search["id"].as_str().unwrap();
    for _ in 0..2 {
        let response = app
            .post(&format!("/v1/lead-searches/{id}/cancel"), &json!({}))
            .await;
        assert_eq!(response.status(), 200);
        let cancelled: Value = response.json().await.unwrap();
        assert_eq!(cancelled["status"], "cancelled");
        assert!(cancelled["finished_at"].is_string());
    }
    let done = app
        .lead_search_with_leads(&[lead("jane", "Jane", None, None)])
        .await;
    assert_eq!(done["status"], "completed");
    let response = app
        .post(
            &format!("/v1/lead-searches/{}/cancel", done["id"].as_str().unwrap()),
            &json!({}),
        )
        .await;
    problem(response, 409).await;
    let response = app
        .post(
            &format!("/v1/lead-searches/{}/cancel", uuid_like()),
            &json!({}),
        )
        .await;
    problem(response, 404).await;
}

fn uuid_like() -> String {
    nudge_domain::LeadSearchId::new().to_string()
}

#[tokio::test]
async fn leads_are_listed_filtered_paged_shown_and_deleted() {
    let app = spawn_app().await;
    let first = app
        .lead_search_with_leads(&[
            lead(
                "jane",
                "Jane Doe",
                Some("Acme Corp"),
                Some("Berlin, Germany"),
            ),
            lead("omar", "Omar Haddad", Some("Globex"), Some("London")),
            lead("li", "李明", None, Some("Shanghai")),
        ])
        .await;
    assert_eq!(first["progress"]["leads_new"], 3);
    let second = app
        .lead_search_with_leads(&[
            lead(
                "jane",
                "Jane Doe",
                Some("Acme Corp"),
                Some("Berlin, Germany"),
            ),
            lead("sofia", "Sofia Rossi", Some("acme labs"), None),
        ])
        .await;
    assert_eq!(second["progress"]["leads_new"], 1);
    assert_eq!(second["progress"]["duplicates"], 1);

    let all: Value = app.get("/v1/leads").await.json().await.unwrap();
    assert_eq!(all["data"].as_array().unwrap().len(), 4);
    let names = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let acme: Value = app
        .get("/v1/leads?company=ACME")
        .await
        .json()
        .await
        .unwrap();
    let mut acme = names(&acme);
    acme.sort();
    assert_eq!(acme, ["Jane Doe", "Sofia Rossi"]);
    let berlin: Value = app
        .get("/v1/leads?location=berlin&q=jane")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(names(&berlin), ["Jane Doe"]);
    let percent: Value = app.get("/v1/leads?q=%25").await.json().await.unwrap();
    assert_eq!(
        names(&percent),
        Vec::<String>::new(),
        "% is a character, not a wildcard"
    );
    let of_second: Value = app
        .get(&format!(
            "/v1/leads?search_id={}",
            second["id"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    let mut of_second = names(&of_second);
    of_second.sort();
    assert_eq!(of_second, ["Jane Doe", "Sofia Rossi"]);
    problem(app.get("/v1/leads?search_id=nope").await, 422).await;

    // Cursor pages: two, then two, then none.
    let page: Value = app.get("/v1/leads?limit=2").await.json().await.unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest: Value = app
        .get(&format!("/v1/leads?limit=2&cursor={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest["data"].as_array().unwrap().len(), 2);
    assert!(rest["next_cursor"].is_null());

    // Jane was found by both searches.
    let jane = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "Jane Doe")
        .unwrap()
        .clone();
    let jane_id = jane["id"].as_str().unwrap();
    let shown: Value = app
        .get(&format!("/v1/leads/{jane_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["search_ids"], json!([first["id"], second["id"]]));
    assert_eq!(shown["profile_url"], "https://www.linkedin.com/in/jane");

    let response = app
        .request(
            reqwest::Method::DELETE,
            &format!("/v1/leads/{jane_id}"),
            &app.api_key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    problem(app.get(&format!("/v1/leads/{jane_id}")).await, 404).await;
    let response = app
        .request(
            reqwest::Method::DELETE,
            &format!("/v1/leads/{jane_id}"),
            &app.api_key,
        )
        .send()
        .await
        .unwrap();
    problem(response, 404).await;
    let left: Value = app.get("/v1/leads").await.json().await.unwrap();
    assert_eq!(left["data"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn the_csv_export_quotes_and_defuses_what_a_spreadsheet_would_run() {
    let app = spawn_app().await;
    let mut risky = lead(
        "eve",
        "=HYPERLINK(\"http://evil.example\",\"click\")",
        Some("Acme, Inc."),
        Some("-Berlin"),
    );
    risky.headline = Some("She said \"hi\"\nthen left".into());
    app.lead_search_with_leads(&[
        risky,
        lead("plus", "+1 555 0100", Some("@corp"), Some("\tTabbed")),
        lead("zoe", "Zoë Ångström", None, None),
    ])
    .await;

    let response = app.get("/v1/leads.csv").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/csv; charset=utf-8"
    );
    assert!(response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("leads.csv"));
    let text = response.text().await.unwrap();
    assert!(text.starts_with(
        "id,name,headline,company,location,profile_url,first_seen_at,last_seen_at\r\n"
    ));
    // Quotes doubled, commas and line breaks inside quotes, formulas prefixed with '.
    assert!(
        text.contains(r#""'=HYPERLINK(""http://evil.example"",""click"")""#),
        "{text}"
    );
    assert!(text.contains(r#""Acme, Inc.""#), "{text}");
    assert!(
        text.contains("\"She said \"\"hi\"\"\nthen left\""),
        "{text}"
    );
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    let by_slug = |slug: &str| {
        rows.iter()
            .find(|r| r[5].ends_with(&format!("/in/{slug}")))
            .unwrap()
            .clone()
    };
    let eve = by_slug("eve");
    assert_eq!(&eve[1], "'=HYPERLINK(\"http://evil.example\",\"click\")");
    assert_eq!(&eve[3], "Acme, Inc.");
    assert_eq!(&eve[4], "'-Berlin");
    let plus = by_slug("plus");
    assert_eq!(
        (&plus[1], &plus[3], &plus[4]),
        ("'+1 555 0100", "'@corp", "'\tTabbed")
    );
    let zoe = by_slug("zoe");
    assert_eq!((&zoe[1], &zoe[3]), ("Zoë Ångström", ""));
    for row in &rows {
        for cell in row.iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "a cell a spreadsheet would run: {cell:?}"
            );
        }
    }

    // Filters apply to the export too.
    let only: String = app.get("/v1/leads.csv?q=zo").await.text().await.unwrap();
    assert_eq!(only.lines().count(), 2, "{only}");
}

#[tokio::test]
async fn the_export_pages_through_every_lead() {
    let app = spawn_app().await;
    // More than one export page (500).
    let many: Vec<FoundLead> = (0..1_203)
        .map(|i| lead(&format!("person-{i}"), &format!("Person {i}"), None, None))
        .collect();
    app.lead_search_with_leads(&many).await;
    let text = app.get("/v1/leads.csv").await.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let slugs: std::collections::HashSet<String> =
        reader.records().map(|r| r.unwrap()[5].to_owned()).collect();
    assert_eq!(slugs.len(), 1_203);
}

/// A NUL byte in a filter (found by the fuzzer on `/v1/leads.csv`) is a 422 that names
/// the field, not a 500 from Postgres; so is one in a JSON body's text, whatever
/// field it hides in.
#[tokio::test]
async fn a_nul_character_is_refused_as_invalid_input_not_a_server_error() {
    let app = spawn_app().await;
    for path in [
        "/v1/leads.csv?company=%2C%00&q=",
        "/v1/leads?location=a%00b",
    ] {
        let refused = problem(app.get(path).await, 422).await;
        assert_eq!(
            refused["type"], "https://nudge.dev/problems/validation",
            "{path}"
        );
    }
    let shop = app.create_shop().await;
    let refused = app
        .post(
            "/v1/customers",
            &json!({"shop_id": shop["id"], "phone": "+14155550100", "name": "Ada\u{0}Lovelace"}),
        )
        .await;
    assert_eq!(refused.status(), 422, "{:?}", refused.text().await);
}
