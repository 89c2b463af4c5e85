//! The OpenAPI description (docs/openapi.yaml) describes exactly what the server does:
//! the committed file is what the code generates, every route is in it and nothing
//! else, and real answers of the running server validate against its schemas (which
//! the test makes strict: no undocumented field passes).

use std::collections::{BTreeSet, HashMap};

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};
use crate::isolation::{mounted_routes, PUBLIC_ROUTES};

fn document() -> Value {
    serde_json::to_value(messaging_api::openapi::document()).unwrap()
}

#[test]
fn the_committed_description_is_what_the_code_generates() {
    let committed = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.yaml"),
    )
    .unwrap();
    let generated = messaging_api::openapi::yaml().unwrap();
    assert!(
        committed == generated,
        "docs/openapi.yaml is stale: run ./nudge openapi and commit it"
    );
}

/// Routes and their description are one registration (`routes::configure`), so each
/// route is described by construction; what is left to check is where keys are needed.
#[test]
fn public_routes_need_no_key_and_every_other_route_is_under_v1_with_one() {
    let doc = document();
    let public_routes = mounted_routes()
        .into_iter()
        .filter(|(_, path)| PUBLIC_ROUTES.contains(&path.as_str()))
        .count();
    assert_eq!(
        public_routes,
        PUBLIC_ROUTES.len(),
        "a public route is not mounted"
    );
    for (path, item) in doc["paths"].as_object().unwrap() {
        for operation in item.as_object().unwrap().values() {
            let public = PUBLIC_ROUTES.contains(&path.as_str());
            assert_eq!(public, operation["security"] == json!([{}]), "{path}");
            assert_eq!(!public, path.starts_with("/v1/"), "{path}");
        }
    }
}

/// Validates answers against the description's schemas, made strict.
struct Contract {
    doc: Value,
    /// (METHOD, templated path, status) seen valid.
    covered: BTreeSet<(String, String, String)>,
    cache: HashMap<String, jsonschema::Validator>,
}

impl Contract {
    fn new() -> Self {
        let mut doc = document();
        forbid_undocumented_fields(&mut doc);
        Self {
            doc,
            covered: BTreeSet::new(),
            cache: HashMap::new(),
        }
    }

    /// The schema of the answer `status` of `method template`, as a `$ref` within the doc.
    fn response_schema(&self, method: &str, template: &str, status: u16) -> Value {
        let operation = &self.doc["paths"][template][method.to_lowercase()];
        assert!(
            operation.is_object(),
            "{method} {template} is not described"
        );
        let mut response = operation["responses"][status.to_string()].clone();
        assert!(
            response.is_object(),
            "{method} {template} answered {status}, which the description does not list"
        );
        if let Some(reference) = response["$ref"].as_str() {
            let name = reference.rsplit('/').next().unwrap();
            response = self.doc["components"]["responses"][name].clone();
        }
        let content = response["content"].as_object().cloned().unwrap_or_default();
        content
            .values()
            .next()
            .map(|c| c["schema"].clone())
            .unwrap_or(Value::Null)
    }

    /// What in `value` breaks `schema` (a schema of the description, `$ref`s allowed).
    fn violations(&mut self, schema: &Value, value: &Value) -> Vec<String> {
        let key = schema.to_string();
        if !self.cache.contains_key(&key) {
            let wrapper = json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "allOf": [schema],
                "components": self.doc["components"],
            });
            let validator = jsonschema::options()
                .should_validate_formats(true)
                .build(&wrapper)
                .unwrap();
            self.cache.insert(key.clone(), validator);
        }
        self.cache[&key]
            .iter_errors(value)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect()
    }

    async fn call(
        &mut self,
        app: &TestApp,
        method: Method,
        template: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = app.request(method.clone(), path, &app.api_key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let schema = self.response_schema(method.as_str(), template, status);
        let value: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if !schema.is_null() && schema != json!({}) && template != "/docs" {
            let errors = self.violations(&schema, &value);
            assert!(
                errors.is_empty(),
                "{method} {path} -> {status} does not match the description: {errors:?}\n{value:#}"
            );
        }
        self.covered.insert((
            method.as_str().to_owned(),
            template.to_owned(),
            status.to_string(),
        ));
        (status, value)
    }
}

/// `additionalProperties: false` on every object schema with properties, except those
/// used inside an `allOf` (a flattened part: the whole gets `unevaluatedProperties`).
fn forbid_undocumented_fields(doc: &mut Value) {
    let schemas = doc["components"]["schemas"].as_object_mut().unwrap();
    let mut parts = BTreeSet::new();
    for schema in schemas.values() {
        for part in schema["allOf"].as_array().into_iter().flatten() {
            if let Some(reference) = part["$ref"].as_str() {
                parts.insert(reference.rsplit('/').next().unwrap().to_owned());
            }
        }
    }
    for (name, schema) in schemas.iter_mut() {
        if schema.get("allOf").is_some() {
            schema["unevaluatedProperties"] = json!(false);
        } else if schema.get("properties").is_some() && !parts.contains(name) {
            schema["additionalProperties"] = json!(false);
        }
    }
}

#[tokio::test]
async fn real_answers_match_the_description() {
    let app = spawn_app().await;
    let mut contract = Contract::new();
    let c = &mut contract;
    use Method as M;

    c.call(&app, M::GET, "/healthz", "/healthz", None).await;
    c.call(&app, M::GET, "/readyz", "/readyz", None).await;
    let (_, spec) = c
        .call(&app, M::GET, "/openapi.json", "/openapi.json", None)
        .await;
    assert_eq!(
        spec,
        document(),
        "/openapi.json serves the generated description"
    );
    let (status, page) = c.call(&app, M::GET, "/docs", "/docs", None).await;
    assert_eq!(status, 200);
    assert!(page.as_str().unwrap().contains("/openapi.json"));

    // Keys.
    let (_, key) = c
        .call(
            &app,
            M::POST,
            "/v1/api-keys",
            "/v1/api-keys",
            Some(json!({"name": "ci"})),
        )
        .await;
    c.call(&app, M::GET, "/v1/api-keys", "/v1/api-keys", None)
        .await;
    let key_id = key["id"].as_str().unwrap();
    c.call(
        &app,
        M::DELETE,
        "/v1/api-keys/{id}",
        &format!("/v1/api-keys/{key_id}"),
        None,
    )
    .await;

    // Shops.
    let shop_body = json!({"name": "XYZ Bags", "sender_number": "+15017122661", "quiet_hours": {"start": "00:00", "end": "00:00"}});
    let (_, shop) = c
        .call(&app, M::POST, "/v1/shops", "/v1/shops", Some(shop_body))
        .await;
    let shop_id = shop["id"].as_str().unwrap().to_owned();
    c.call(&app, M::GET, "/v1/shops", "/v1/shops", None).await;
    c.call(
        &app,
        M::GET,
        "/v1/shops/{id}",
        &format!("/v1/shops/{shop_id}"),
        None,
    )
    .await;
    c.call(
        &app,
        M::PATCH,
        "/v1/shops/{id}",
        &format!("/v1/shops/{shop_id}"),
        Some(json!({"name": "XYZ"})),
    )
    .await;
    let (_, spare) = c
        .call(
            &app,
            M::POST,
            "/v1/shops",
            "/v1/shops",
            Some(json!({"name": "Spare", "sender_number": "+15017122662"})),
        )
        .await;
    c.call(
        &app,
        M::GET,
        "/v1/sender-numbers",
        "/v1/sender-numbers",
        None,
    )
    .await;
    // A number verified by its code texted back, then asked again (200: already).
    let (_, pending) = c
        .call(
            &app,
            M::POST,
            "/v1/verified-numbers",
            "/v1/verified-numbers",
            Some(json!({"phone": "+14155550188"})),
        )
        .await;
    {
        let mut conn = app.db.connect().await;
        nudge_testkit::customer_texts(
            &mut conn,
            "SM00000000000000000000000000000f01",
            "+14155550188",
            "+15017122661",
            pending["code"].as_str().unwrap(),
        )
        .await;
    }
    c.call(
        &app,
        M::POST,
        "/v1/verified-numbers",
        "/v1/verified-numbers",
        Some(json!({"phone": "+14155550188"})),
    )
    .await;
    c.call(
        &app,
        M::GET,
        "/v1/verified-numbers",
        "/v1/verified-numbers",
        None,
    )
    .await;
    c.call(
        &app,
        M::DELETE,
        "/v1/shops/{id}",
        &format!("/v1/shops/{}", spare["id"].as_str().unwrap()),
        None,
    )
    .await;

    // Customers and consent.
    let customer_body = json!({"shop_id": shop_id, "phone": "+14155550100", "name": "Asha", "attributes": {"tier": "gold"}, "consent": {"state": "opted_in"}});
    let (_, customer) = c
        .call(
            &app,
            M::POST,
            "/v1/customers",
            "/v1/customers",
            Some(customer_body.clone()),
        )
        .await;
    let (status, _) = c
        .call(
            &app,
            M::POST,
            "/v1/customers",
            "/v1/customers",
            Some(customer_body),
        )
        .await;
    assert_eq!(status, 409);
    let customer_id = customer["id"].as_str().unwrap().to_owned();
    c.call(
        &app,
        M::GET,
        "/v1/customers",
        &format!("/v1/customers?shop_id={shop_id}"),
        None,
    )
    .await;
    c.call(
        &app,
        M::GET,
        "/v1/customers/{id}",
        &format!("/v1/customers/{customer_id}"),
        None,
    )
    .await;
    c.call(
        &app,
        M::PATCH,
        "/v1/customers/{id}",
        &format!("/v1/customers/{customer_id}"),
        Some(json!({"name": null})),
    )
    .await;
    c.call(
        &app,
        M::PATCH,
        "/v1/customers/{id}",
        &format!("/v1/customers/{customer_id}"),
        Some(json!({"name": "Asha"})),
    )
    .await;
    c.call(
        &app,
        M::POST,
        "/v1/customers/{id}/consent",
        &format!("/v1/customers/{customer_id}/consent"),
        Some(json!({"state": "opted_in", "evidence": {"form": "checkout"}})),
    )
    .await;
    c.call(
        &app,
        M::GET,
        "/v1/customers/{id}/consent",
        &format!("/v1/customers/{customer_id}/consent"),
        None,
    )
    .await;
    let (_, other) = c
        .call(
            &app,
            M::POST,
            "/v1/customers",
            "/v1/customers",
            Some(json!({"shop_id": shop_id, "phone": "+14155550199"})),
        )
        .await;
    c.call(
        &app,
        M::DELETE,
        "/v1/customers/{id}",
        &format!("/v1/customers/{}", other["id"].as_str().unwrap()),
        None,
    )
    .await;

    // Templates.
    let (_, template) = c
        .call(
            &app,
            M::POST,
            "/v1/templates",
            "/v1/templates",
            Some(json!({"name": "cart", "body": "Hi {{customer.name}}"})),
        )
        .await;
    let template_id = template["id"].as_str().unwrap().to_owned();
    c.call(&app, M::GET, "/v1/templates", "/v1/templates", None)
        .await;
    c.call(
        &app,
        M::GET,
        "/v1/templates/{id}",
        &format!("/v1/templates/{template_id}"),
        None,
    )
    .await;
    c.call(
        &app,
        M::PATCH,
        "/v1/templates/{id}",
        &format!("/v1/templates/{template_id}"),
        Some(json!({"category": "marketing"})),
    )
    .await;
    let (_, spare) = c
        .call(
            &app,
            M::POST,
            "/v1/templates",
            "/v1/templates",
            Some(json!({"name": "spare", "body": "x"})),
        )
        .await;
    c.call(
        &app,
        M::DELETE,
        "/v1/templates/{id}",
        &format!("/v1/templates/{}", spare["id"].as_str().unwrap()),
        None,
    )
    .await;

    // Messages: accepted, refused for a field, refused for a rule, scheduled and cancelled.
    let send = json!({"shop_id": shop_id, "customer_id": customer_id, "template": "cart"});
    let (status, message) = c
        .call(
            &app,
            M::POST,
            "/v1/messages",
            "/v1/messages",
            Some(send.clone()),
        )
        .await;
    assert_eq!(status, 202);
    let (status, _) = c
        .call(
            &app,
            M::POST,
            "/v1/messages",
            "/v1/messages",
            Some(json!({"shop_id": shop_id})),
        )
        .await;
    assert_eq!(status, 422);
    let later = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let (_, scheduled) = c.call(&app, M::POST, "/v1/messages", "/v1/messages", Some(json!({"shop_id": shop_id, "to": "+14155550123", "body": "Later", "category": "transactional", "send_at": later}))).await;
    c.call(
        &app,
        M::POST,
        "/v1/messages/{id}/cancel",
        &format!("/v1/messages/{}/cancel", scheduled["id"].as_str().unwrap()),
        None,
    )
    .await;
    let (status, _) = c
        .call(
            &app,
            M::POST,
            "/v1/messages/{id}/cancel",
            &format!("/v1/messages/{}/cancel", scheduled["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 409);
    c.call(
        &app,
        M::POST,
        "/v1/messages/batch",
        "/v1/messages/batch",
        Some(json!({"messages": [send, {"shop_id": shop_id}]})),
    )
    .await;
    c.call(
        &app,
        M::GET,
        "/v1/messages",
        &format!("/v1/messages?shop_id={shop_id}&limit=5"),
        None,
    )
    .await;
    c.call(
        &app,
        M::GET,
        "/v1/messages/{id}",
        &format!("/v1/messages/{}", message["id"].as_str().unwrap()),
        None,
    )
    .await;
    c.call(
        &app,
        M::GET,
        "/v1/messages/{id}",
        "/v1/messages/0192e4a0-0000-7000-8000-000000000000",
        None,
    )
    .await;
    c.call(&app, M::GET, "/v1/messages", "/v1/messages?limit=0", None)
        .await;

    // Campaigns.
    let (_, campaign) = c
        .call(
            &app,
            M::POST,
            "/v1/campaigns",
            "/v1/campaigns",
            Some(
                json!({"shop_id": shop_id, "name": "Promo", "template": "cart", "send_at": later}),
            ),
        )
        .await;
    let campaign_id = campaign["id"].as_str().unwrap().to_owned();
    c.call(&app, M::GET, "/v1/campaigns", "/v1/campaigns", None)
        .await;
    c.call(
        &app,
        M::GET,
        "/v1/campaigns/{id}",
        &format!("/v1/campaigns/{campaign_id}"),
        None,
    )
    .await;
    c.call(
        &app,
        M::POST,
        "/v1/campaigns/{id}/cancel",
        &format!("/v1/campaigns/{campaign_id}/cancel"),
        None,
    )
    .await;

    // Conversations, the bot and webhook endpoints.
    let conversation_id = {
        let mut conn = app.db.connect().await;
        let (_, conversation) = nudge_testkit::customer_texts(
            &mut conn,
            "SM00000000000000000000000000000d01",
            "+14155550188",
            shop["sender_number"].as_str().unwrap(),
            "where is my order",
        )
        .await;
        conversation.id.to_string()
    };
    c.call(
        &app,
        M::GET,
        "/v1/conversations",
        "/v1/conversations?needs_human=false",
        None,
    )
    .await;
    let conversation_path = format!("/v1/conversations/{conversation_id}");
    c.call(
        &app,
        M::GET,
        "/v1/conversations/{id}",
        &conversation_path,
        None,
    )
    .await;
    let (status, _) = c
        .call(
            &app,
            M::POST,
            "/v1/conversations/{id}/messages",
            &format!("{conversation_path}/messages"),
            Some(json!({"body": "It ships tomorrow."})),
        )
        .await;
    assert_eq!(status, 202);
    c.call(
        &app,
        M::PATCH,
        "/v1/conversations/{id}",
        &conversation_path,
        Some(json!({"needs_human": true})),
    )
    .await;
    let (status, rule) = c
        .call(
            &app,
            M::POST,
            "/v1/bot-rules",
            "/v1/bot-rules",
            Some(json!({"shop_id": shop_id, "name": "order_status",
                        "examples": ["where is my order"], "fulfilment_url": "https://merchant.example.com/bot"})),
        )
        .await;
    assert_eq!(status, 201);
    let rule_path = format!("/v1/bot-rules/{}", rule["id"].as_str().unwrap());
    c.call(&app, M::GET, "/v1/bot-rules", "/v1/bot-rules", None)
        .await;
    c.call(&app, M::GET, "/v1/bot-rules/{id}", &rule_path, None)
        .await;
    c.call(&app, M::DELETE, "/v1/bot-rules/{id}", &rule_path, None)
        .await;
    let (status, endpoint) = c
        .call(
            &app,
            M::POST,
            "/v1/webhook-endpoints",
            "/v1/webhook-endpoints",
            Some(
                json!({"url": "https://hooks.example.com/nudge", "events": ["message.received"],
                        "shop_id": shop_id, "description": "care desk"}),
            ),
        )
        .await;
    assert_eq!(status, 201);
    let endpoint_path = format!("/v1/webhook-endpoints/{}", endpoint["id"].as_str().unwrap());
    c.call(
        &app,
        M::GET,
        "/v1/webhook-endpoints",
        "/v1/webhook-endpoints",
        None,
    )
    .await;
    c.call(
        &app,
        M::GET,
        "/v1/webhook-endpoints/{id}",
        &endpoint_path,
        None,
    )
    .await;
    c.call(
        &app,
        M::GET,
        "/v1/webhook-endpoints/{id}/deliveries",
        &format!("{endpoint_path}/deliveries"),
        None,
    )
    .await;
    c.call(
        &app,
        M::DELETE,
        "/v1/webhook-endpoints/{id}",
        &endpoint_path,
        None,
    )
    .await;

    // Lead searches and leads.
    let (status, search) = c
        .call(
            &app,
            M::POST,
            "/v1/lead-searches",
            "/v1/lead-searches",
            Some(json!({"query": {"job_titles": ["Head of Growth"], "locations": ["Berlin"]}})),
        )
        .await;
    assert_eq!(status, 202);
    let search_path = format!("/v1/lead-searches/{}", search["id"].as_str().unwrap());
    c.call(&app, M::GET, "/v1/lead-searches", "/v1/lead-searches", None)
        .await;
    c.call(&app, M::GET, "/v1/lead-searches/{id}", &search_path, None)
        .await;
    c.call(
        &app,
        M::POST,
        "/v1/lead-searches/{id}/cancel",
        &format!("{search_path}/cancel"),
        Some(json!({})),
    )
    .await;
    app.lead_search_with_leads(&[nudge_db::lead_searches::FoundLead {
        profile_url: "https://www.linkedin.com/in/jane".into(),
        name: "Jane Doe".into(),
        headline: Some("Head of Growth".into()),
        company: Some("Acme".into()),
        location: None,
    }])
    .await;
    let (_, leads) = c.call(&app, M::GET, "/v1/leads", "/v1/leads", None).await;
    let (status, csv) = c
        .call(&app, M::GET, "/v1/leads.csv", "/v1/leads.csv", None)
        .await;
    assert_eq!(status, 200);
    assert!(csv.as_str().unwrap().contains("Jane Doe"));
    let lead_path = format!("/v1/leads/{}", leads["data"][0]["id"].as_str().unwrap());
    c.call(&app, M::GET, "/v1/leads/{id}", &lead_path, None)
        .await;
    c.call(&app, M::DELETE, "/v1/leads/{id}", &lead_path, None)
        .await;

    // Errors any request can meet.
    let response = app
        .request(M::GET, "/v1/shops", "nudge_not-a-key")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let response = app
        .request(M::POST, "/v1/shops", &app.api_key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    // The check can fail: an undocumented field, a missing one, a wrong type.
    let shop_schema = c.response_schema("GET", "/v1/shops/{id}", 200);
    assert!(c.violations(&shop_schema, &shop).is_empty());
    let mut extra = shop.clone();
    extra["secret"] = json!("x");
    assert!(
        !c.violations(&shop_schema, &extra).is_empty(),
        "an undocumented field"
    );
    let mut missing = shop.clone();
    missing.as_object_mut().unwrap().remove("sender_number");
    assert!(
        !c.violations(&shop_schema, &missing).is_empty(),
        "a missing field"
    );
    let mut wrong = shop.clone();
    wrong["id"] = json!("not-a-uuid");
    assert!(
        !c.violations(&shop_schema, &wrong).is_empty(),
        "a bad format"
    );

    // Every success answer the description promises was seen.
    let doc = document();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for status in operation["responses"].as_object().unwrap().keys() {
                if status.starts_with('2') {
                    assert!(
                        contract.covered.contains(&(
                            method.to_uppercase(),
                            path.clone(),
                            status.clone()
                        )),
                        "{method} {path} -> {status} was never exercised"
                    );
                }
            }
        }
    }
}
