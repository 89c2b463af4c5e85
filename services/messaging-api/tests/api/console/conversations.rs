//! Conversations in the console: the care queue, a thread and its live fragment, an
//! agent's answer (through the API's rules), taking and handing back; owners and care
//! agents only; one tenant's conversations only.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nudge_db::schema::{conversations, messages};
use serde_json::Value;
use uuid::Uuid;

use super::browser::{another_tenant, signed_in};
use crate::helpers::{spawn_app, TestApp};

const CUSTOMER: &str = "+14155550123";

/// A customer texts the shop (as the webhook listener stores it), and inbound
/// processing hands the conversation to a person; its id.
async fn waiting_conversation(app: &TestApp, shop: &Value, body: &str) -> Uuid {
    let mut conn = app.db.connect().await;
    let to = shop["sender_number"].as_str().unwrap();
    let sid = format!("SM{}", Uuid::new_v4().simple());
    let (_, conversation) =
        nudge_testkit::customer_texts(&mut conn, &sid, CUSTOMER, to, body).await;
    let tenant: nudge_domain::TenantId = app.tenant_id.parse().unwrap();
    nudge_db::conversations::hand_off(
        &mut conn,
        tenant,
        nudge_domain::ConversationId::from_uuid(conversation.id),
        "asked_for_person",
    )
    .await
    .unwrap();
    conversation.id
}

async fn needs_human(app: &TestApp, id: Uuid) -> bool {
    let mut conn = app.db.connect().await;
    conversations::table
        .find(id)
        .select(conversations::needs_human)
        .first(&mut conn)
        .await
        .unwrap()
}

async fn answers(app: &TestApp) -> Vec<(String, String)> {
    let mut conn = app.db.connect().await;
    messages::table
        .filter(messages::origin.eq("agent"))
        .select((messages::to_number, messages::body))
        .load(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_care_agent_answers_a_waiting_conversation_and_hands_it_back() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let id = waiting_conversation(&app, &shop, "can I talk to a human?").await;
    let mut agent = signed_in(&app, &app.tenant_id, "care_agent").await;

    let queue = agent.get("/console/conversations").await;
    assert_eq!(queue.status, 200, "{}", queue.body);
    assert!(queue.body.contains(&id.to_string()), "{}", queue.body);
    assert!(queue.body.contains("asked for a person"));
    let with_bot = agent.get("/console/conversations?queue=bot").await;
    assert!(!with_bot.body.contains(&id.to_string()));
    assert_eq!(
        agent.get("/console/conversations?queue=lost").await.status,
        404
    );

    let page = agent.get(&format!("/console/conversations/{id}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("can I talk to a human?"));
    assert!(page
        .body
        .contains(&format!("data-live=\"/console/conversations/{id}/thread\"")));
    let csrf = page.csrf();

    // An empty answer is refused and sends nothing.
    let empty = agent
        .post(
            &format!("/console/conversations/{id}/messages"),
            &[("csrf", &csrf), ("body", "   ")],
        )
        .await;
    assert_eq!(empty.status, 422, "{}", empty.body);
    assert!(empty.body.contains("role=\"alert\""));
    assert!(answers(&app).await.is_empty());

    let sent = agent
        .post(
            &format!("/console/conversations/{id}/messages"),
            &[
                ("csrf", &csrf),
                ("body", "Hi, Sam from care here. How can I help?"),
            ],
        )
        .await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    assert_eq!(
        answers(&app).await,
        vec![(
            CUSTOMER.to_owned(),
            "Hi, Sam from care here. How can I help?".to_owned()
        )]
    );
    let thread = agent
        .get(&format!("/console/conversations/{id}/thread"))
        .await;
    assert_eq!(thread.status, 200);
    assert!(thread
        .body
        .trim_start()
        .starts_with("<section id=\"thread\""));
    let customer_at = thread.body.find("can I talk to a human?").unwrap();
    let answer_at = thread.body.find("Sam from care here").unwrap();
    assert!(customer_at < answer_at, "in time order");

    let handed = agent
        .post(
            &format!("/console/conversations/{id}/hand-back"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(handed.status, 303);
    assert!(!needs_human(&app, id).await);
    let queue = agent.get("/console/conversations").await;
    assert!(queue.body.contains("Nobody is waiting"), "{}", queue.body);
    let taken = agent
        .post(
            &format!("/console/conversations/{id}/take"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(taken.status, 303);
    assert!(needs_human(&app, id).await);
}

#[tokio::test]
async fn an_opted_out_customer_gets_no_answer() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let id = waiting_conversation(&app, &shop, "STOP").await;
    let mut conn = app.db.connect().await;
    let customer: Uuid = conversations::table
        .find(id)
        .select(conversations::customer_id)
        .first(&mut conn)
        .await
        .unwrap();
    let opted_out = app
        .post(
            &format!("/v1/customers/{customer}/consent"),
            &serde_json::json!({"state": "opted_out"}),
        )
        .await;
    assert_eq!(opted_out.status(), 201);
    let mut owner = signed_in(&app, &app.tenant_id, "owner").await;
    let csrf = owner.get("/console").await.csrf();
    let refused = owner
        .post(
            &format!("/console/conversations/{id}/messages"),
            &[("csrf", &csrf), ("body", "Are you sure?")],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("opted out"), "{}", refused.body);
    assert!(refused.body.contains("Are you sure?"), "the draft is kept");
    assert!(answers(&app).await.is_empty());
}

#[tokio::test]
async fn a_marketer_reads_but_does_not_answer() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let id = waiting_conversation(&app, &shop, "hello?").await;
    let mut marketer = signed_in(&app, &app.tenant_id, "marketer").await;
    let page = marketer.get(&format!("/console/conversations/{id}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("hello?"));
    assert!(!page.body.contains("Send answer"), "no answer form");
    let csrf = page.csrf();
    for (path, form) in [
        (
            format!("/console/conversations/{id}/messages"),
            vec![("csrf", csrf.as_str()), ("body", "hi")],
        ),
        (
            format!("/console/conversations/{id}/hand-back"),
            vec![("csrf", csrf.as_str())],
        ),
    ] {
        assert_eq!(marketer.post(&path, &form).await.status, 403, "{path}");
    }
    assert!(answers(&app).await.is_empty());
    assert!(needs_human(&app, id).await);
}

#[tokio::test]
async fn another_tenants_conversations_are_not_found() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let id = waiting_conversation(&app, &shop, "private text").await;
    let other = another_tenant(&app).await;
    let mut stranger = signed_in(&app, other["tenant_id"].as_str().unwrap(), "owner").await;
    let queue = stranger.get("/console/conversations?queue=all").await;
    assert!(!queue.body.contains(&id.to_string()));
    for path in [
        format!("/console/conversations/{id}"),
        format!("/console/conversations/{id}/thread"),
    ] {
        let page = stranger.get(&path).await;
        assert_eq!(page.status, 404, "{path}");
        assert!(!page.body.contains("private text"));
    }
    let csrf = queue.csrf();
    for (path, form) in [
        (
            format!("/console/conversations/{id}/messages"),
            vec![("csrf", csrf.as_str()), ("body", "hi")],
        ),
        (
            format!("/console/conversations/{id}/hand-back"),
            vec![("csrf", csrf.as_str())],
        ),
    ] {
        assert_eq!(stranger.post(&path, &form).await.status, 404, "{path}");
    }
    assert!(answers(&app).await.is_empty());
    assert!(needs_human(&app, id).await, "untouched");
}
