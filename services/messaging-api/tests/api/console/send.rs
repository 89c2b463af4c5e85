//! Sending from the console: the API's rules, origin `console`, owners and marketers
//! only, the tenant's own shops only.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nudge_db::schema::messages;

use super::browser::{another_tenant, signed_in, Browser};
use crate::helpers::{spawn_app, TestApp};

async fn send_form(
    person: &mut Browser,
    shop: &str,
    to: &str,
    body: &str,
    category: &str,
) -> super::browser::Page {
    let form = person.get("/console/messages/new").await;
    assert_eq!(form.status, 200, "{}", form.body);
    let csrf = form.csrf();
    person
        .post(
            "/console/messages",
            &[
                ("csrf", &csrf),
                ("shop", shop),
                ("to", to),
                ("body", body),
                ("category", category),
            ],
        )
        .await
}

async fn shop_id(app: &TestApp) -> String {
    app.create_shop().await["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_marketer_sends_a_message_and_lands_on_its_timeline() {
    let app = spawn_app().await;
    let shop = shop_id(&app).await;
    let mut marketer = signed_in(&app, &app.tenant_id, "marketer").await;
    let log = marketer.get("/console/messages").await;
    assert!(log.body.contains("href=\"/console/messages/new\""));

    let sent = send_form(
        &mut marketer,
        &shop,
        "+14155550123",
        "Your parcel is on its way",
        "transactional",
    )
    .await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    let location = sent.location.unwrap();
    let id: uuid::Uuid = location
        .strip_prefix("/console/messages/")
        .unwrap()
        .parse()
        .unwrap();
    let mut conn = app.db.connect().await;
    let (origin, status, to): (String, String, String) = messages::table
        .find(id)
        .select((messages::origin, messages::status, messages::to_number))
        .first(&mut conn)
        .await
        .unwrap();
    assert_eq!(origin, "console");
    assert_eq!(status, "queued");
    assert_eq!(to, "+14155550123");
    let page = marketer.get(&location).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Your parcel is on its way"));
    assert!(page.body.contains("data-live="), "the timeline follows it");

    // The API sees it too, with its origin.
    let shown: serde_json::Value = app
        .get(&format!("/v1/messages/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["origin"], "console");
}

#[tokio::test]
async fn a_refused_send_says_why_keeps_the_form_and_stores_nothing() {
    let app = spawn_app().await;
    let shop = shop_id(&app).await;
    let mut owner = signed_in(&app, &app.tenant_id, "owner").await;
    let before = app.stored_counts().await;

    // No category chosen, no text.
    let page = send_form(&mut owner, &shop, "+14155550123", "  ", "").await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert!(page.body.contains("role=\"alert\""));
    assert!(page.body.contains("transactional or a marketing"));
    assert!(page.body.contains("Write the text"));
    assert!(page.body.contains("value=\"+14155550123\""), "kept");

    // The API's own rules, in the form's words.
    let page = send_form(&mut owner, &shop, "555", "Hi", "transactional").await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert!(page.body.contains("To: "), "{}", page.body);
    assert!(page.body.contains("aria-invalid=\"true\""));

    // Marketing to a number that never opted in.
    let page = send_form(&mut owner, &shop, "+14155550124", "20% off!", "marketing").await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert!(page.body.contains("opt"), "{}", page.body);
    assert!(page.body.contains("20% off!"), "the text kept");

    // Another tenant's shop is no shop.
    let other = another_tenant(&app).await;
    let other_key = other["api_key"].as_str().unwrap();
    let other_shop: serde_json::Value = app
        .client
        .post(format!("{}/v1/shops", app.address))
        .bearer_auth(other_key)
        .json(&serde_json::json!({"name": "Theirs", "sender_number": "+15017122669", "time_zone": "UTC"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let page = send_form(
        &mut owner,
        other_shop["id"].as_str().unwrap(),
        "+14155550123",
        "Hi",
        "transactional",
    )
    .await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert!(page.body.contains("no such shop"), "{}", page.body);
    assert!(!page.body.contains("Theirs"), "their shop is not offered");

    // Without the session's token.
    let forged = owner
        .post(
            "/console/messages",
            &[
                ("csrf", "forged"),
                ("shop", &shop),
                ("to", "+14155550123"),
                ("body", "Hi"),
                ("category", "transactional"),
            ],
        )
        .await;
    assert_eq!(forged.status, 403);
    assert_eq!(app.stored_counts().await, before, "nothing stored");
}

#[tokio::test]
async fn a_care_agent_may_not_send_from_the_form() {
    let app = spawn_app().await;
    let shop = shop_id(&app).await;
    let mut agent = signed_in(&app, &app.tenant_id, "care_agent").await;
    let log = agent.get("/console/messages").await;
    assert_eq!(log.status, 200);
    assert!(!log.body.contains("/console/messages/new"), "no link");
    assert_eq!(agent.get("/console/messages/new").await.status, 403);
    let csrf = log.csrf();
    let refused = agent
        .post(
            "/console/messages",
            &[
                ("csrf", &csrf),
                ("shop", &shop),
                ("to", "+14155550123"),
                ("body", "Hi"),
                ("category", "transactional"),
            ],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(app.stored_counts().await, (0, 0, 0));
}
