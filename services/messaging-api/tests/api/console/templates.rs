//! Templates in the console: the API's rules, the preview, owners and marketers edit,
//! one tenant's templates only.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nudge_db::schema::templates;
use serde_json::Value;

use super::browser::{another_tenant, signed_in, Browser, Page};
use crate::helpers::{spawn_app, TestApp};

async fn save(person: &mut Browser, path: &str, name: &str, body: &str, category: &str) -> Page {
    let csrf = person.get("/console/templates").await.csrf();
    person
        .post(
            path,
            &[
                ("csrf", &csrf),
                ("name", name),
                ("body", body),
                ("category", category),
                ("samples", ""),
            ],
        )
        .await
}

async fn stored(app: &TestApp) -> Vec<(String, String, String)> {
    let mut conn = app.db.connect().await;
    templates::table
        .select((templates::name, templates::body, templates::category))
        .order(templates::name)
        .load(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_marketer_creates_edits_previews_and_deletes_a_template() {
    let app = spawn_app().await;
    let mut marketer = signed_in(&app, &app.tenant_id, "marketer").await;
    let list = marketer.get("/console/templates").await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("No templates yet"));
    assert!(marketer.get("/console/templates/new").await.status == 200);

    let created = save(
        &mut marketer,
        "/console/templates",
        "cart_recovery",
        "Hi {{customer.name}}, your cart waits",
        "marketing",
    )
    .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let path = created.location.unwrap();
    let page = marketer.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Template cart_recovery"));
    assert!(
        page.body.contains("customer.name: "),
        "a sample line to fill"
    );
    assert!(page.body.contains("1 segment"), "{}", page.body);
    // The API sees it, with its variables.
    let shown: Value = app.get("/v1/templates").await.json().await.unwrap();
    assert_eq!(shown["data"][0]["name"], "cart_recovery");

    let changed = save(
        &mut marketer,
        &path,
        "cart_recovery",
        "Hi {{customer.name}}, your cart waits ✨",
        "transactional",
    )
    .await;
    assert_eq!(changed.status, 303, "{}", changed.body);
    assert_eq!(
        stored(&app).await,
        vec![(
            "cart_recovery".into(),
            "Hi {{customer.name}}, your cart waits ✨".into(),
            "transactional".into()
        )]
    );

    // The preview: rendered with samples, counted as the provider will.
    let preview = marketer
        .get("/console/templates/preview?body=Hi%20%7B%7Bname%7D%7D%20%E2%9C%A8&samples=name%3A%20Asha")
        .await;
    assert_eq!(preview.status, 200);
    assert!(preview
        .body
        .trim_start()
        .starts_with("<section id=\"preview\""));
    assert!(preview.body.contains("Hi Asha ✨"), "{}", preview.body);
    assert!(preview.body.contains("UCS-2"));
    let long = "a".repeat(161);
    let preview = marketer
        .get(&format!("/console/templates/preview?body={long}"))
        .await;
    assert!(preview.body.contains("2 segments"), "{}", preview.body);

    let csrf = page.csrf();
    let deleted = marketer
        .post(&format!("{path}/delete"), &[("csrf", &csrf)])
        .await;
    assert_eq!(deleted.status, 303);
    assert!(stored(&app).await.is_empty());
}

#[tokio::test]
async fn bad_templates_are_refused_with_the_apis_reasons_and_store_nothing() {
    let app = spawn_app().await;
    let mut owner = signed_in(&app, &app.tenant_id, "owner").await;
    let page = save(
        &mut owner,
        "/console/templates",
        "bad name!",
        "Hi {{name",
        "",
    )
    .await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert!(page.body.contains("role=\"alert\""));
    assert!(page.body.contains("Name: must be"), "{}", page.body);
    assert!(page.body.contains("Text: placeholder"), "{}", page.body);
    assert!(page.body.contains("transactional or marketing"));
    assert!(page.body.contains("Hi {{name"), "what was typed is kept");
    assert!(stored(&app).await.is_empty());

    let first = save(
        &mut owner,
        "/console/templates",
        "hello",
        "Hello",
        "marketing",
    )
    .await;
    assert_eq!(first.status, 303);
    let twice = save(&mut owner, "/console/templates", "hello", "Hi", "marketing").await;
    assert_eq!(twice.status, 422);
    assert!(twice
        .body
        .contains("another template already has this name"));
    assert_eq!(stored(&app).await.len(), 1);
}

#[tokio::test]
async fn a_care_agent_reads_templates_but_changes_none() {
    let app = spawn_app().await;
    let mut owner = signed_in(&app, &app.tenant_id, "owner").await;
    let path = save(
        &mut owner,
        "/console/templates",
        "hello",
        "Hello",
        "marketing",
    )
    .await
    .location
    .unwrap();
    let mut agent = signed_in(&app, &app.tenant_id, "care_agent").await;
    let list = agent.get("/console/templates").await;
    assert!(list.body.contains("hello") && !list.body.contains("/console/templates/new"));
    let page = agent.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("Save template"));
    assert_eq!(agent.get("/console/templates/new").await.status, 403);
    assert_eq!(
        save(&mut agent, "/console/templates", "mine", "Hi", "marketing")
            .await
            .status,
        403
    );
    assert_eq!(
        save(&mut agent, &path, "hello", "Changed", "marketing")
            .await
            .status,
        403
    );
    let csrf = page.csrf();
    assert_eq!(
        agent
            .post(&format!("{path}/delete"), &[("csrf", &csrf)])
            .await
            .status,
        403
    );
    assert_eq!(
        stored(&app).await,
        vec![("hello".into(), "Hello".into(), "marketing".into())]
    );
}

#[tokio::test]
async fn another_tenants_templates_are_not_found() {
    let app = spawn_app().await;
    let mut owner = signed_in(&app, &app.tenant_id, "owner").await;
    let path = save(
        &mut owner,
        "/console/templates",
        "secret_offer",
        "50% off",
        "marketing",
    )
    .await
    .location
    .unwrap();
    let other = another_tenant(&app).await;
    let mut stranger = signed_in(&app, other["tenant_id"].as_str().unwrap(), "owner").await;
    let list = stranger.get("/console/templates").await;
    assert!(!list.body.contains("secret_offer"));
    let page = stranger.get(&path).await;
    assert_eq!(page.status, 404);
    assert!(!page.body.contains("50% off"));
    assert_eq!(
        save(&mut stranger, &path, "mine", "Taken", "marketing")
            .await
            .status,
        404
    );
    let csrf = list.csrf();
    assert_eq!(
        stranger
            .post(&format!("{path}/delete"), &[("csrf", &csrf)])
            .await
            .status,
        404
    );
    assert_eq!(
        stored(&app).await,
        vec![("secret_offer".into(), "50% off".into(), "marketing".into())]
    );
}
