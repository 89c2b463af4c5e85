//! Tenant isolation for EVERY endpoint, generated from the router: the routes are read
//! from what `routes::configure` mounts ([`mounted_routes`]), and the test fails if one
//! has no case below. So a new endpoint cannot be forgotten.
//!
//! For each route, tenant B (the intruder) calls it with tenant A's ids: reads, changes
//! and deletes are 404, lists show none of A's data, and creations cannot reference A's
//! resources. At the end, A's data is checked unchanged.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{problem, spawn_app, SHOP_NUMBER, SPARE_NUMBER};

/// Routes outside `/v1`: no tenant, no data.
pub(crate) const PUBLIC_ROUTES: [&str; 4] = ["/healthz", "/readyz", "/openapi.json", "/docs"];

/// What tenant B must get from a route.
enum Case {
    /// `{id}` is one of A's resources of this kind: 404 whatever the body.
    ById(&'static str, Value),
    /// A list: none of A's ids may appear.
    List,
    /// A creation that references A's resources: refused, nothing of A's used.
    CreateReferencing(Value),
    /// A creation with no reference: it lands in B's own tenant (checked by A's lists).
    CreateOwn(Value),
}

/// Every route the app mounts, read from its router: `routes::configure` registers each
/// handler together with its operation (utoipa-actix-web), and
/// `messaging_api::openapi::document` is built from that same registration. `/v1`
/// routes without their prefix.
pub(crate) fn mounted_routes() -> Vec<(Method, String)> {
    let doc = serde_json::to_value(messaging_api::openapi::document()).unwrap();
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            routes.push((
                Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                path.strip_prefix("/v1").unwrap_or(path).to_owned(),
            ));
        }
    }
    routes
}

#[tokio::test]
async fn no_endpoint_lets_one_tenant_read_or_change_anothers_data() {
    let app = spawn_app().await;
    // Tenant A's world.
    let shop = app.create_shop().await;
    let shop_id = shop["id"].as_str().unwrap().to_owned();
    let customer = app.create_customer(&shop_id, "+14155550100").await;
    let template = app.create_template("cart", "Hi {{customer.name}}").await;
    let scheduled: Value = app
        .post(
            "/v1/messages",
            &json!({"shop_id": shop_id, "customer_id": customer["id"], "template": "cart",
                    "send_at": (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339()}),
        )
        .await
        .json()
        .await
        .unwrap();
    let extra_key: Value = app
        .post("/v1/api-keys", &json!({"name": "A's second key"}))
        .await
        .json()
        .await
        .unwrap();
    let campaign: Value = app
        .post(
            "/v1/campaigns",
            &json!({"shop_id": shop_id, "name": "A's campaign", "template": "cart",
                    "send_at": (chrono::Utc::now() + chrono::Duration::hours(3)).to_rfc3339()}),
        )
        .await
        .json()
        .await
        .unwrap();
    let campaign_id = campaign["id"].as_str().unwrap().to_owned();
    nudge_testkit::eventually(
        "A's campaign to expand",
        std::time::Duration::from_secs(20),
        || async {
            let now: Value = app
                .get(&format!("/v1/campaigns/{campaign_id}"))
                .await
                .json()
                .await
                .unwrap();
            (now["status"] == "expanded").then_some(())
        },
    )
    .await;
    // A customer texted A's shop: a conversation. A's bot rule and webhook endpoint.
    let conversation = {
        let mut conn = app.db.connect().await;
        let (_, conversation) = nudge_testkit::customer_texts(
            &mut conn,
            "SM00000000000000000000000000000a01",
            "+14155550177",
            shop["sender_number"].as_str().unwrap(),
            "where is my order",
        )
        .await;
        conversation.id.to_string()
    };
    let rule: Value = app
        .post(
            "/v1/bot-rules",
            &json!({"shop_id": shop_id, "name": "hours", "keywords": ["HOURS"], "reply": "9 to 5"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let endpoint: Value = app
        .post(
            "/v1/webhook-endpoints",
            &json!({"url": "https://hooks.example.com/a", "events": ["message.received"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let lead_search = app
        .lead_search_with_leads(&[nudge_db::lead_searches::FoundLead {
            profile_url: "https://www.linkedin.com/in/a-tenants-lead".into(),
            name: "A's lead".into(),
            headline: None,
            company: None,
            location: None,
        }])
        .await;
    let lead: Value = app.get("/v1/leads").await.json().await.unwrap();
    let ids: BTreeMap<&str, String> = [
        ("shops", shop_id.clone()),
        ("customers", customer["id"].as_str().unwrap().to_owned()),
        ("templates", template["id"].as_str().unwrap().to_owned()),
        ("messages", scheduled["id"].as_str().unwrap().to_owned()),
        ("api-keys", extra_key["id"].as_str().unwrap().to_owned()),
        ("campaigns", campaign_id.clone()),
        ("conversations", conversation.clone()),
        ("bot-rules", rule["id"].as_str().unwrap().to_owned()),
        (
            "webhook-endpoints",
            endpoint["id"].as_str().unwrap().to_owned(),
        ),
        (
            "lead-searches",
            lead_search["id"].as_str().unwrap().to_owned(),
        ),
        ("leads", lead["data"][0]["id"].as_str().unwrap().to_owned()),
    ]
    .into();
    let intruder = app.other_tenant().await;

    let send = json!({"shop_id": shop_id, "customer_id": customer["id"], "template": "cart", "category": "transactional"});
    let cases: BTreeMap<(Method, &str), Case> = BTreeMap::from([
        ((Method::GET, "/api-keys"), Case::List),
        (
            (Method::POST, "/api-keys"),
            Case::CreateOwn(json!({"name": "B's key"})),
        ),
        (
            (Method::DELETE, "/api-keys/{id}"),
            Case::ById("api-keys", json!(null)),
        ),
        ((Method::GET, "/shops"), Case::List),
        (
            (Method::POST, "/shops"),
            Case::CreateOwn(json!({"name": "B's shop", "sender_number": "+15017122669"})),
        ),
        (
            (Method::GET, "/shops/{id}"),
            Case::ById("shops", json!(null)),
        ),
        (
            (Method::PATCH, "/shops/{id}"),
            Case::ById("shops", json!({"name": "hijacked"})),
        ),
        (
            (Method::DELETE, "/shops/{id}"),
            Case::ById("shops", json!(null)),
        ),
        ((Method::GET, "/sender-numbers"), Case::List),
        ((Method::GET, "/verified-numbers"), Case::List),
        (
            (Method::POST, "/verified-numbers"),
            Case::CreateOwn(json!({"phone": "+14155550100"})),
        ),
        ((Method::GET, "/customers"), Case::List),
        (
            (Method::POST, "/customers"),
            Case::CreateReferencing(json!({"shop_id": shop_id, "phone": "+14155550111"})),
        ),
        (
            (Method::GET, "/customers/{id}"),
            Case::ById("customers", json!(null)),
        ),
        (
            (Method::PATCH, "/customers/{id}"),
            Case::ById("customers", json!({"name": "hijacked"})),
        ),
        (
            (Method::DELETE, "/customers/{id}"),
            Case::ById("customers", json!(null)),
        ),
        (
            (Method::GET, "/customers/{id}/consent"),
            Case::ById("customers", json!(null)),
        ),
        (
            (Method::POST, "/customers/{id}/consent"),
            Case::ById("customers", json!({"state": "opted_out"})),
        ),
        ((Method::GET, "/templates"), Case::List),
        (
            (Method::POST, "/templates"),
            Case::CreateOwn(json!({"name": "cart", "body": "B's own cart template"})),
        ),
        (
            (Method::GET, "/templates/{id}"),
            Case::ById("templates", json!(null)),
        ),
        (
            (Method::PATCH, "/templates/{id}"),
            Case::ById("templates", json!({"name": "hijacked"})),
        ),
        (
            (Method::DELETE, "/templates/{id}"),
            Case::ById("templates", json!(null)),
        ),
        ((Method::GET, "/messages"), Case::List),
        (
            (Method::POST, "/messages"),
            Case::CreateReferencing(send.clone()),
        ),
        (
            (Method::POST, "/messages/batch"),
            Case::CreateReferencing(json!({"messages": [send.clone()]})),
        ),
        (
            (Method::GET, "/messages/{id}"),
            Case::ById("messages", json!(null)),
        ),
        (
            (Method::POST, "/messages/{id}/cancel"),
            Case::ById("messages", json!({})),
        ),
        ((Method::GET, "/campaigns"), Case::List),
        (
            (Method::POST, "/campaigns"),
            Case::CreateReferencing(
                json!({"shop_id": shop_id, "name": "B's", "template": ids["templates"]}),
            ),
        ),
        (
            (Method::GET, "/campaigns/{id}"),
            Case::ById("campaigns", json!(null)),
        ),
        (
            (Method::POST, "/campaigns/{id}/cancel"),
            Case::ById("campaigns", json!({})),
        ),
        ((Method::GET, "/conversations"), Case::List),
        (
            (Method::GET, "/conversations/{id}"),
            Case::ById("conversations", json!(null)),
        ),
        (
            (Method::POST, "/conversations/{id}/messages"),
            Case::ById("conversations", json!({"body": "hijacked"})),
        ),
        (
            (Method::PATCH, "/conversations/{id}"),
            Case::ById("conversations", json!({"needs_human": true})),
        ),
        ((Method::GET, "/bot-rules"), Case::List),
        (
            (Method::POST, "/bot-rules"),
            Case::CreateReferencing(
                json!({"shop_id": shop_id, "name": "B's", "keywords": ["X"], "reply": "x"}),
            ),
        ),
        (
            (Method::GET, "/bot-rules/{id}"),
            Case::ById("bot-rules", json!(null)),
        ),
        (
            (Method::DELETE, "/bot-rules/{id}"),
            Case::ById("bot-rules", json!(null)),
        ),
        ((Method::GET, "/webhook-endpoints"), Case::List),
        (
            (Method::POST, "/webhook-endpoints"),
            Case::CreateReferencing(json!({"url": "https://hooks.example.com/b",
                "events": ["message.received"], "shop_id": shop_id})),
        ),
        (
            (Method::GET, "/webhook-endpoints/{id}"),
            Case::ById("webhook-endpoints", json!(null)),
        ),
        (
            (Method::DELETE, "/webhook-endpoints/{id}"),
            Case::ById("webhook-endpoints", json!(null)),
        ),
        (
            (Method::GET, "/webhook-endpoints/{id}/deliveries"),
            Case::ById("webhook-endpoints", json!(null)),
        ),
        ((Method::GET, "/lead-searches"), Case::List),
        (
            (Method::POST, "/lead-searches"),
            Case::CreateOwn(json!({"query": {"keywords": ["B's own search"]}})),
        ),
        (
            (Method::GET, "/lead-searches/{id}"),
            Case::ById("lead-searches", json!(null)),
        ),
        (
            (Method::POST, "/lead-searches/{id}/cancel"),
            Case::ById("lead-searches", json!({})),
        ),
        ((Method::GET, "/leads"), Case::List),
        ((Method::GET, "/leads.csv"), Case::List),
        (
            (Method::GET, "/leads/{id}"),
            Case::ById("leads", json!(null)),
        ),
        (
            (Method::DELETE, "/leads/{id}"),
            Case::ById("leads", json!(null)),
        ),
    ]);

    // Every tenant-scoped route mounted has a case, and every case a route.
    let routes: Vec<(Method, String)> = mounted_routes()
        .into_iter()
        .filter(|(_, path)| !PUBLIC_ROUTES.contains(&path.as_str()))
        .collect();
    for (method, path) in &routes {
        assert!(
            cases.contains_key(&(method.clone(), path.as_str())),
            "{method} /v1{path} has no tenant-isolation case: add one to tests/api/isolation.rs"
        );
    }
    assert_eq!(
        routes.len(),
        cases.len(),
        "a case for a route that no longer exists"
    );

    let a_ids: Vec<&String> = ids.values().collect();
    for ((method, path), case) in &cases {
        let call = |path: String, body: &Value| {
            let request = app.request(method.clone(), &format!("/v1{path}"), &intruder);
            if body.is_null() {
                request
            } else {
                request.json(body)
            }
            .send()
        };
        match case {
            Case::ById(kind, body) => {
                let concrete = path.replace("{id}", &ids[kind]);
                let response = call(concrete.clone(), body).await.unwrap();
                let status = response.status();
                assert_eq!(status, 404, "{method} {concrete}");
                problem(response, 404).await;
            }
            Case::List => {
                let text = call(path.to_string(), &Value::Null)
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                for id in &a_ids {
                    assert!(
                        !text.contains(id.as_str()),
                        "{method} {path} shows A's {id}"
                    );
                }
            }
            Case::CreateReferencing(body) => {
                let response = call(path.to_string(), body).await.unwrap();
                let status = response.status().as_u16();
                let text = response.text().await.unwrap();
                if *path == "/messages/batch" {
                    let body: Value = serde_json::from_str(&text).unwrap();
                    assert_eq!(body["accepted"], 0, "{text}");
                } else {
                    assert_eq!(status, 422, "{method} {path}: {text}");
                }
            }
            Case::CreateOwn(body) => {
                let status = call(path.to_string(), body).await.unwrap().status();
                assert!(status.is_success(), "{method} {path}: {status}");
            }
        }
    }

    // B's list of numbers names none of A's numbers (A's shop id was checked above).
    let b_numbers = app
        .request(Method::GET, "/v1/sender-numbers", &intruder)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !b_numbers.contains(SHOP_NUMBER) && !b_numbers.contains(SPARE_NUMBER),
        "{b_numbers}"
    );

    // A's world is as it was.
    let app = &app;
    let owned = |path: String| async move { app.get(&path).await.json::<Value>().await.unwrap() };
    assert_eq!(
        owned(format!("/v1/shops/{shop_id}")).await["name"],
        "XYZ Bags"
    );
    assert_eq!(
        owned(format!("/v1/customers/{}", ids["customers"])).await["consent"],
        "opted_in"
    );
    assert_eq!(
        owned(format!("/v1/templates/{}", ids["templates"])).await["name"],
        "cart"
    );
    assert_eq!(
        owned(format!("/v1/messages/{}", ids["messages"])).await["status"],
        "scheduled"
    );
    let keys = owned("/v1/api-keys".into()).await;
    assert!(keys["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|k| k["revoked_at"].is_null()));
    assert_eq!(
        owned("/v1/shops".into()).await["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        owned("/v1/templates".into()).await["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let conversation = owned(format!("/v1/conversations/{conversation}")).await;
    assert_eq!(conversation["needs_human"], false);
    assert_eq!(conversation["messages"].as_array().unwrap().len(), 1);
    assert_eq!(
        owned(format!("/v1/bot-rules/{}", ids["bot-rules"])).await["reply"],
        "9 to 5"
    );
    assert_eq!(
        owned(format!(
            "/v1/webhook-endpoints/{}",
            ids["webhook-endpoints"]
        ))
        .await["url"],
        "https://hooks.example.com/a"
    );
    let campaign = owned(format!("/v1/campaigns/{}", ids["campaigns"])).await;
    assert_eq!(campaign["status"], "expanded");
    assert_eq!(campaign["messages"], json!({"scheduled": 1}));
    assert_eq!(
        app.stored_messages().await.0,
        2,
        "A's message and A's campaign's"
    );
}
