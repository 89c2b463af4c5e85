//! The message log in the console: filters, pages, a message's timeline and its live
//! fragment; one tenant's messages only.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nudge_db::models::MessageEvent;
use nudge_db::schema::{message_events, messages};
use serde_json::{json, Value};
use uuid::Uuid;

use super::browser::{another_tenant, signed_in, Browser};
use crate::helpers::{spawn_app, TestApp};

/// Sends a transactional message through the API; its id.
async fn send(app: &TestApp, shop_id: &str, to: &str, body: &str) -> Uuid {
    let response = app
        .post(
            "/v1/messages",
            &json!({"shop_id": shop_id, "to": to, "body": body, "category": "transactional"}),
        )
        .await;
    assert_eq!(response.status(), 202);
    let message: Value = response.json().await.unwrap();
    message["id"].as_str().unwrap().parse().unwrap()
}

/// What a delivery receipt leaves: the status and a `provider_status` event.
async fn mark_delivered(app: &TestApp, id: Uuid) {
    let mut conn = app.db.connect().await;
    let tenant: Uuid = diesel::update(messages::table.find(id))
        .set(messages::status.eq("delivered"))
        .returning(messages::tenant_id)
        .get_result(&mut conn)
        .await
        .unwrap();
    diesel::insert_into(message_events::table)
        .values(&MessageEvent {
            id: Uuid::now_v7(),
            tenant_id: tenant,
            message_id: id,
            event_type: "provider_status".into(),
            at: chrono::Utc::now(),
            detail: json!({"status": "delivered", "error_code": null}),
        })
        .execute(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_log_lists_newest_first_and_filters() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let shop_id = shop["id"].as_str().unwrap();
    let first = send(&app, shop_id, "+14155550101", "Your order shipped").await;
    let second = send(&app, shop_id, "+14155550102", "Your <b>cart</b> misses you").await;
    let third = send(&app, shop_id, "+14155550101", "Delivered today").await;
    mark_delivered(&app, third).await;

    let mut person = signed_in(&app, &app.tenant_id, "care_agent").await;
    let home = person.get("/console").await;
    assert!(home.body.contains("href=\"/console/messages\""));
    let log = person.get("/console/messages").await;
    assert_eq!(log.status, 200, "{}", log.body);
    let at = |id: &Uuid| log.body.find(&id.to_string()).expect("listed");
    assert!(
        at(&third) < at(&second) && at(&second) < at(&first),
        "newest first"
    );
    assert!(
        log.body.contains("Your &#60;b&#62;cart&#60;/b&#62;")
            || log.body.contains("Your &lt;b&gt;cart&lt;/b&gt;"),
        "escaped: {}",
        log.body
    );
    assert!(
        log.body.contains("XYZ Bags"),
        "the shop filter offers the shop"
    );

    let delivered = person.get("/console/messages?status=delivered").await;
    assert!(delivered.body.contains(&third.to_string()));
    assert!(!delivered.body.contains(&first.to_string()));
    let to = person
        .get("/console/messages?to=%2B14155550101&status=")
        .await;
    assert!(to.body.contains(&first.to_string()) && to.body.contains(&third.to_string()));
    assert!(!to.body.contains(&second.to_string()));
    let shop_filter = person
        .get(&format!("/console/messages?shop={shop_id}"))
        .await;
    assert!(shop_filter.body.contains(&first.to_string()));
    let other_shop = person
        .get(&format!("/console/messages?shop={}", Uuid::now_v7()))
        .await;
    assert_eq!(other_shop.status, 200);
    assert!(other_shop.body.contains("No message matches these filters"));
    let future = person.get("/console/messages?since=2999-01-01").await;
    assert!(!future.body.contains(&first.to_string()));
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let whole_day = person
        .get(&format!("/console/messages?since={today}&until={today}"))
        .await;
    assert!(
        whole_day.body.contains(&first.to_string()),
        "the last day is included"
    );

    let bad = person
        .get("/console/messages?status=lost&to=555&since=yesterday")
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(bad.body.contains("role=\"alert\""));
    assert!(bad.body.contains("Choose a status") && bad.body.contains("international form"));
    assert!(!bad.body.contains(&first.to_string()), "nothing listed");
}

#[tokio::test]
async fn the_log_pages_through_older_messages_keeping_the_filters() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let shop_id = shop["id"].as_str().unwrap();
    let mut ids = Vec::new();
    for n in 0..52 {
        ids.push(send(&app, shop_id, "+14155550101", &format!("Message {n}")).await);
    }
    send(&app, shop_id, "+14155550199", "Someone else").await;
    let mut person = signed_in(&app, &app.tenant_id, "marketer").await;
    let first = person.get("/console/messages?to=%2B14155550101").await;
    assert!(first.body.contains(&ids[51].to_string()));
    assert!(first.body.contains(&ids[2].to_string()));
    assert!(!first.body.contains(&ids[1].to_string()), "50 a page");
    let next = first
        .body
        .split("href=\"")
        .find_map(|rest| {
            let href = rest.split('"').next()?;
            href.contains("before=")
                .then(|| href.replace("&#38;", "&").replace("&amp;", "&"))
        })
        .expect("a link to older messages");
    let older = person.get(&next).await;
    assert_eq!(older.status, 200, "{}", older.body);
    assert!(
        older.body.contains(&ids[1].to_string()) && older.body.contains(&ids[0].to_string()),
        "{next}: {}",
        older.body
    );
    assert!(!older.body.contains(&ids[2].to_string()));
    assert!(!older.body.contains("Someone else"), "the filter is kept");
    assert!(!older.body.contains("rel=\"next\""), "the last page");
}

#[tokio::test]
async fn a_message_shows_its_timeline_which_stops_updating_once_settled() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let id = send(
        &app,
        shop["id"].as_str().unwrap(),
        "+14155550101",
        "Hello\nthere",
    )
    .await;
    let mut person = signed_in(&app, &app.tenant_id, "owner").await;

    let page = person.get(&format!("/console/messages/{id}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Message to +14155550101"));
    assert!(page.body.contains("Hello\nthere"));
    assert!(
        page.body.contains("<strong>queued</strong>"),
        "{}",
        page.body
    );
    let live = format!("data-live=\"/console/messages/{id}/timeline\"");
    assert!(page.body.contains(&live), "still changing");
    let script = page
        .body
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap();
    assert!(script.starts_with("/console/static/live.js?v="), "{script}");
    let script = person.get(script).await;
    assert_eq!(script.status, 200);
    assert!(script.body.contains("data-live"));

    mark_delivered(&app, id).await;
    let fragment = person
        .get(&format!("/console/messages/{id}/timeline"))
        .await;
    assert_eq!(fragment.status, 200);
    assert!(fragment
        .body
        .trim_start()
        .starts_with("<section id=\"timeline\""));
    assert!(!fragment.body.contains("<html"), "a fragment, not a page");
    assert!(fragment.body.contains("provider status"));
    assert!(
        fragment.body.contains(">delivered</strong>"),
        "{}",
        fragment.body
    );
    assert!(
        !fragment.body.contains("data-live"),
        "settled: no more updates"
    );
}

#[tokio::test]
async fn another_tenants_messages_are_not_found() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let id = send(
        &app,
        shop["id"].as_str().unwrap(),
        "+14155550101",
        "Private",
    )
    .await;
    let other = another_tenant(&app).await;
    let mut stranger = signed_in(&app, other["tenant_id"].as_str().unwrap(), "owner").await;
    let log = stranger.get("/console/messages").await;
    assert_eq!(log.status, 200);
    assert!(!log.body.contains(&id.to_string()) && !log.body.contains("Private"));
    assert!(log.body.contains("No messages yet"));
    for path in [
        format!("/console/messages/{id}"),
        format!("/console/messages/{id}/timeline"),
        "/console/messages/not-a-uuid".to_owned(),
    ] {
        let page = stranger.get(&path).await;
        assert_eq!(page.status, 404, "{path}");
        assert!(!page.body.contains("Private"));
    }
    // Nobody signed in: the sign-in page.
    let anonymous = Browser::new(&app)
        .get(&format!("/console/messages/{id}"))
        .await;
    assert_eq!(anonymous.status, 303);
    assert_eq!(anonymous.location.as_deref(), Some("/console/sign-in"));
}
