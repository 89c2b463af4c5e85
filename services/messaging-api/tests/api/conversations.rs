//! Conversations for care agents, the bot's rules, webhook endpoints and a shop's
//! inbound settings, through the merchant API.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{problem, spawn_app, TestApp};

const CUSTOMER: &str = "+14155550123";

/// A customer texts the shop (as the webhook listener stores it); the conversation id.
async fn customer_texts(app: &TestApp, shop: &Value, sid: &str, body: &str) -> String {
    let mut conn = app.db.connect().await;
    let to = shop["sender_number"].as_str().unwrap();
    let (_, conversation) = nudge_testkit::customer_texts(&mut conn, sid, CUSTOMER, to, body).await;
    conversation.id.to_string()
}

#[tokio::test]
async fn agents_read_the_thread_answer_and_hand_back() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let id = customer_texts(
        &app,
        &shop,
        "SM00000000000000000000000000000c01",
        "is anyone there?",
    )
    .await;
    // Inbound processing hands it to a person (here, as the listener would).
    {
        let mut conn = app.db.connect().await;
        let tenant: nudge_domain::TenantId = app.tenant_id.parse().unwrap();
        nudge_db::conversations::hand_off(
            &mut conn,
            tenant,
            id.parse().unwrap(),
            "no_rule_matched",
        )
        .await
        .unwrap();
    }
    let queue: Value = app
        .get("/v1/conversations?needs_human=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(queue["data"].as_array().unwrap().len(), 1);
    assert_eq!(queue["data"][0]["id"], id);
    assert_eq!(queue["data"][0]["handoff_reason"], "no_rule_matched");
    let with_bot: Value = app
        .get("/v1/conversations?needs_human=false")
        .await
        .json()
        .await
        .unwrap();
    assert!(with_bot["data"].as_array().unwrap().is_empty());
    problem(app.get("/v1/conversations?needs_human=maybe").await, 422).await;

    // The agent answers: a transactional message from the shop's number.
    let reply = app
        .post(
            &format!("/v1/conversations/{id}/messages"),
            &json!({"body": "Hi! Asha here, how can I help?"}),
        )
        .await;
    assert_eq!(reply.status(), 202);
    let reply: Value = reply.json().await.unwrap();
    assert_eq!(reply["origin"], "agent");
    assert_eq!(reply["category"], "transactional");
    assert_eq!(
        (reply["to"].as_str(), reply["from"].as_str()),
        (Some(CUSTOMER), Some("+15017122661"))
    );
    let (sent, _) = app.next_outbound(std::time::Duration::from_secs(10)).await;
    assert_eq!(sent["payload"]["message_id"], reply["id"]);

    // The thread: the customer's text, then the answer, in order.
    customer_texts(
        &app,
        &shop,
        "SM00000000000000000000000000000c02",
        "my order is late",
    )
    .await;
    let thread: Value = app
        .get(&format!("/v1/conversations/{id}"))
        .await
        .json()
        .await
        .unwrap();
    let entries: Vec<(&str, &str)> = thread["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["direction"].as_str().unwrap(),
                m["body"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        vec![
            ("inbound", "is anyone there?"),
            ("outbound", "Hi! Asha here, how can I help?"),
            ("inbound", "my order is late"),
        ]
    );

    // Hand back to the bot.
    let back = app
        .request(
            Method::PATCH,
            &format!("/v1/conversations/{id}"),
            &app.api_key,
        )
        .json(&json!({"needs_human": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), 200);
    let back: Value = back.json().await.unwrap();
    assert_eq!(back["needs_human"], false);
    assert!(back["handoff_reason"].is_null());

    // Bad answers change nothing.
    problem(
        app.post(
            &format!("/v1/conversations/{id}/messages"),
            &json!({"body": "  "}),
        )
        .await,
        422,
    )
    .await;
    problem(
        app.post(
            "/v1/conversations/0190a0a0-0000-7000-8000-000000000000/messages",
            &json!({"body": "x"}),
        )
        .await,
        404,
    )
    .await;
}

#[tokio::test]
async fn an_agent_cannot_text_a_customer_who_opted_out() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let id = customer_texts(&app, &shop, "SM00000000000000000000000000000c03", "STOP").await;
    let conversation: Value = app
        .get(&format!("/v1/conversations/{id}"))
        .await
        .json()
        .await
        .unwrap();
    let customer = conversation["customer_id"].as_str().unwrap();
    let opted_out = app
        .post(
            &format!("/v1/customers/{customer}/consent"),
            &json!({"state": "opted_out"}),
        )
        .await;
    assert_eq!(
        opted_out.status(),
        201,
        "{}",
        opted_out.text().await.unwrap()
    );
    let refused = problem(
        app.post(
            &format!("/v1/conversations/{id}/messages"),
            &json!({"body": "please come back"}),
        )
        .await,
        422,
    )
    .await;
    assert!(
        refused["type"]
            .as_str()
            .unwrap()
            .ends_with("recipient-opted-out"),
        "{refused}"
    );
    assert_eq!(app.stored_messages().await.0, 0);
}

#[tokio::test]
async fn webhook_urls_are_checked_against_ssrf_and_secrets_shown_once() {
    let app = spawn_app().await;
    for url in [
        "http://hooks.example.com/nudge",
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "https://user:pass@hooks.example.com/",
        "not a url",
    ] {
        let body = problem(
            app.post(
                "/v1/webhook-endpoints",
                &json!({"url": url, "events": ["message.sent"]}),
            )
            .await,
            422,
        )
        .await;
        assert_eq!(body["errors"][0]["field"], "url", "{url}: {body}");
    }
    let unknown_event = problem(
        app.post(
            "/v1/webhook-endpoints",
            &json!({"url": "https://hooks.example.com/a", "events": ["message.exploded"]}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(unknown_event["errors"][0]["field"], "events");

    let created = app
        .post(
            "/v1/webhook-endpoints",
            &json!({"url": "https://hooks.example.com/a", "events": ["message.delivered", "conversation.needs_human"]}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    let shown: Value = app
        .get(&format!(
            "/v1/webhook-endpoints/{}",
            created["id"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    assert!(shown.get("secret").is_none(), "{shown}");
    let listed = app.get("/v1/webhook-endpoints").await.text().await.unwrap();
    assert!(!listed.contains(secret));
    let log: Value = app
        .get(&format!(
            "/v1/webhook-endpoints/{}/deliveries",
            created["id"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(log["data"], json!([]));
}

#[tokio::test]
async fn bot_rules_are_checked_and_fulfilment_secrets_shown_once() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let shop_id = shop["id"].as_str().unwrap();
    for (body, field) in [
        (
            json!({"shop_id": shop_id, "name": "stop", "keywords": ["STOP"], "reply": "x"}),
            "keywords",
        ),
        (
            json!({"shop_id": shop_id, "name": "empty", "reply": "x"}),
            "keywords",
        ),
        (
            json!({"shop_id": shop_id, "name": "filler", "examples": ["is it the"], "reply": "x"}),
            "examples",
        ),
        (
            json!({"shop_id": shop_id, "name": "both", "keywords": ["A"], "reply": "x",
                "fulfilment_url": "https://merchant.example.com/bot"}),
            "reply",
        ),
        (
            json!({"shop_id": shop_id, "name": "ssrf", "keywords": ["A"],
                "fulfilment_url": "https://192.168.0.10/bot"}),
            "fulfilment_url",
        ),
        (
            json!({"shop_id": "nope", "name": "x", "keywords": ["A"], "reply": "x"}),
            "shop_id",
        ),
    ] {
        let refused = problem(app.post("/v1/bot-rules", &body).await, 422).await;
        assert_eq!(refused["errors"][0]["field"], field, "{body}: {refused}");
    }
    let created = app
        .post(
            "/v1/bot-rules",
            &json!({"shop_id": shop_id, "name": "order_status", "examples": ["where is my order"],
                    "fulfilment_url": "https://merchant.example.com/bot"}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert!(created["fulfilment_secret"]
        .as_str()
        .unwrap()
        .starts_with("whsec_"));
    let shown: Value = app
        .get(&format!(
            "/v1/bot-rules/{}",
            created["id"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    assert!(shown.get("fulfilment_secret").is_none());
    let duplicate = app
        .post(
            "/v1/bot-rules",
            &json!({"shop_id": shop_id, "name": "order_status", "keywords": ["ORDER"], "reply": "x"}),
        )
        .await;
    problem(duplicate, 409).await;
}

#[tokio::test]
async fn a_shop_sets_its_help_text_and_keywords() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    assert_eq!(
        shop["inbound"],
        json!({"help_text": null, "opt_out_keywords": [], "opt_in_keywords": [], "help_keywords": []})
    );
    let path = format!("/v1/shops/{}", shop["id"].as_str().unwrap());
    let patch = |body: Value| {
        app.request(Method::PATCH, &path, &app.api_key)
            .json(&body)
            .send()
    };
    let changed: Value = patch(
        json!({"inbound": {"help_text": "XYZ Bags: xyz.example/help",
                                                  "opt_out_keywords": ["arret"]}}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        changed["inbound"]["help_text"],
        "XYZ Bags: xyz.example/help"
    );
    assert_eq!(changed["inbound"]["opt_out_keywords"], json!(["ARRET"]));
    // A word that would mean two things, across the lists kept and given.
    let refused = problem(
        patch(json!({"inbound": {"opt_in_keywords": ["arret"]}}))
            .await
            .unwrap(),
        422,
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "inbound");
    let refused = problem(
        patch(json!({"inbound": {"help_keywords": ["help me"]}}))
            .await
            .unwrap(),
        422,
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "inbound");
    // "" restores Twilio's default.
    let restored: Value = patch(json!({"inbound": {"help_text": ""}}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(restored["inbound"]["help_text"].is_null());
    assert_eq!(restored["inbound"]["opt_out_keywords"], json!(["ARRET"]));
}
