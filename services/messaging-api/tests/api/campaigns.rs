//! Campaigns: a template to a segment, expanded in the background in pages, with
//! consent, the frequency cap and quiet hours applied per recipient, progress by reason,
//! exactly-once expansion across replicas, cancellation, and the daily cap.

use std::time::Duration;

use chrono::Utc;
use chrono_tz::Tz;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{error_fields, problem, spawn_app, spawn_app_with, Overrides, TestApp};
use crate::limits::set_limits;

async fn customer(app: &TestApp, shop_id: &str, phone: &str, extra: Value) -> Value {
    let mut body = json!({"shop_id": shop_id, "phone": phone, "name": "Asha",
                          "attributes": {"tier": "gold"}, "consent": {"state": "opted_in"}});
    for (key, value) in extra.as_object().unwrap() {
        if value.is_null() {
            body.as_object_mut().unwrap().remove(key);
        } else {
            body[key] = value.clone();
        }
    }
    app.create_from(&body).await
}

async fn get_campaign(app: &TestApp, id: &str) -> Value {
    let response = app.get(&format!("/v1/campaigns/{id}")).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Polls the campaign until its expansion is over (or it waits for tomorrow).
async fn settled(app: &TestApp, id: &str) -> Value {
    nudge_testkit::eventually(
        "the campaign to settle",
        Duration::from_secs(20),
        || async {
            let campaign = get_campaign(app, id).await;
            (campaign["status"] != "expanding" || !campaign["waiting"].is_null())
                .then_some(campaign)
        },
    )
    .await
}

async fn campaign_messages(app: &TestApp, id: &str) -> Vec<Value> {
    let page: Value = app
        .get(&format!("/v1/messages?campaign_id={id}&limit=200"))
        .await
        .json()
        .await
        .unwrap();
    page["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_campaign_reaches_its_segment_and_counts_every_skip_by_reason() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let shop_id = shop["id"].as_str().unwrap();
    // One marketing message per recipient per day, so that a recent promo blocks one.
    let response = app
        .request(Method::PATCH, &format!("/v1/shops/{shop_id}"), &app.api_key)
        .json(&json!({"frequency_cap": {"count": 1, "window_hours": 24}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    app.create_template("black-friday", "Hi {{customer.name}}, {{promo}}")
        .await;

    let reached = customer(&app, shop_id, "+14155550100", json!({})).await;
    let capped = customer(&app, shop_id, "+14155550101", json!({})).await;
    let opted_out = customer(
        &app,
        shop_id,
        "+14155550102",
        json!({"consent": {"state": "opted_out"}}),
    )
    .await;
    let unknown = customer(&app, shop_id, "+14155550103", json!({"consent": null})).await;
    let nameless = customer(&app, shop_id, "+14155550104", json!({"name": null})).await;
    let silver = customer(
        &app,
        shop_id,
        "+14155550105",
        json!({"attributes": {"tier": "silver"}}),
    )
    .await;
    let promo = app
        .post(
            "/v1/messages",
            &json!({"shop_id": shop_id, "customer_id": capped["id"], "body": "Earlier promo"}),
        )
        .await;
    assert_eq!(promo.status(), 202);

    let response = app
        .post(
            "/v1/campaigns",
            &json!({"shop_id": shop_id, "name": "Black Friday", "template": "black-friday",
                    "data": {"promo": "20% off today"}, "segment": {"attributes": {"tier": "gold"}}}),
        )
        .await;
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    assert_eq!(accepted["status"], "expanding");
    assert_eq!(accepted["category"], "marketing", "the template's");
    assert_eq!(
        accepted["progress"]["audience_estimate"], 5,
        "silver is not in the segment"
    );
    let id = accepted["id"].as_str().unwrap();

    let campaign = settled(&app, id).await;
    assert_eq!(campaign["status"], "expanded");
    assert!(campaign["expanded_at"].is_string());
    assert_eq!(
        campaign["progress"],
        json!({"audience_estimate": 5, "recipients": 5, "queued": 1, "scheduled": 0,
               "skipped": {"consent_required": 1, "frequency_cap": 1, "opted_out": 1, "render_failed": 1}})
    );
    let messages = campaign_messages(&app, id).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["customer_id"], reached["id"]);
    assert_eq!(messages[0]["body"], "Hi Asha, 20% off today");
    assert_eq!(messages[0]["campaign_id"], id);
    let total: i64 = campaign["messages"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_i64().unwrap())
        .sum();
    assert_eq!(
        total, 1,
        "delivery progress counts the campaign's messages: {campaign}"
    );
    // Nobody skipped got anything from the campaign.
    for skipped in [&capped, &opted_out, &unknown, &nameless, &silver] {
        assert!(messages.iter().all(|m| m["customer_id"] != skipped["id"]));
    }
}

#[tokio::test]
async fn expansion_pages_through_the_segment_once_even_with_two_replicas() {
    let app = spawn_app_with(|_| Overrides {
        campaign_page_size: Some(2),
        ..Overrides::default()
    })
    .await;
    // A second replica on the same database competes for the pages.
    app.spawn_replica(Some(3)).await;
    let shop = app.create_shop().await;
    let shop_id = shop["id"].as_str().unwrap();
    app.create_template("news", "{{customer.name}}: new arrivals")
        .await;
    let mut customers = Vec::new();
    for i in 0..25 {
        customers
            .push(customer(&app, shop_id, &format!("+1415555{:04}", 200 + i), json!({})).await);
    }
    let send_at = (Utc::now() + chrono::Duration::hours(3)).to_rfc3339();
    let response = app
        .post(
            "/v1/campaigns",
            &json!({"shop_id": shop_id, "name": "News", "template": "news", "send_at": send_at}),
        )
        .await;
    assert_eq!(response.status(), 202);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let campaign = settled(&app, &id).await;
    assert_eq!(campaign["status"], "expanded");
    assert_eq!(campaign["progress"]["recipients"], 25);
    assert_eq!(
        campaign["progress"]["scheduled"], 25,
        "held until the campaign's send_at"
    );
    assert_eq!(campaign["messages"], json!({"scheduled": 25}));
    let messages = campaign_messages(&app, &id).await;
    let mut recipients: Vec<&str> = messages
        .iter()
        .map(|m| m["customer_id"].as_str().unwrap())
        .collect();
    recipients.sort_unstable();
    let mut expected: Vec<&str> = customers
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    expected.sort_unstable();
    assert_eq!(recipients, expected, "every customer exactly once");
}

#[tokio::test]
async fn cancelling_takes_back_every_message_that_has_not_gone_to_the_queue() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let shop_id = shop["id"].as_str().unwrap();
    app.create_template("later", "See you soon").await;
    for i in 0..4 {
        customer(&app, shop_id, &format!("+1415555{:04}", 300 + i), json!({})).await;
    }
    let send_at = (Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let created: Value = app
        .post(
            "/v1/campaigns",
            &json!({"shop_id": shop_id, "name": "Later", "template": "later", "send_at": send_at}),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    assert_eq!(settled(&app, id).await["progress"]["scheduled"], 4);

    let response = app
        .post(&format!("/v1/campaigns/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(response.status(), 200);
    let cancelled: Value = response.json().await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert!(cancelled["cancelled_at"].is_string());
    assert_eq!(cancelled["messages"], json!({"cancelled": 4}));
    let (_, _, outbox) = app.stored_counts().await;
    assert_eq!(outbox, 0, "no outbox row left to relay");
    let message = &campaign_messages(&app, id).await[0];
    let detail: Value = app
        .get(&format!("/v1/messages/{}", message["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        detail["events"].as_array().unwrap().last().unwrap()["type"],
        "cancelled"
    );

    // Again: harmless, same result.
    let again: Value = app
        .post(&format!("/v1/campaigns/{id}/cancel"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["status"], "cancelled");
    assert_eq!(again["cancelled_at"], cancelled["cancelled_at"]);
}

#[tokio::test]
async fn quiet_hours_hold_each_recipient_in_their_own_time_zone() {
    let app = spawn_app().await;
    // Kiritimati (UTC+14) and Pago Pago (UTC-11) are 25 hours apart: one hour apart on
    // the clock. A window around Kiritimati's now is outside Pago Pago's now.
    let kiritimati_now = Utc::now().with_timezone(&Tz::Pacific__Kiritimati);
    let start = (kiritimati_now - chrono::Duration::minutes(10))
        .format("%H:%M")
        .to_string();
    let end = (kiritimati_now + chrono::Duration::minutes(30))
        .format("%H:%M")
        .to_string();
    let shop: Value = app
        .post("/v1/shops", &json!({"name": "XYZ Bags", "sender_number": "+15017122661",
                                   "time_zone": "Europe/Paris", "quiet_hours": {"start": start, "end": end}}))
        .await
        .json()
        .await
        .unwrap();
    let shop_id = shop["id"].as_str().unwrap();
    app.create_template("promo", "Sale!").await;
    let held = customer(
        &app,
        shop_id,
        "+14155550400",
        json!({"time_zone": "Pacific/Kiritimati"}),
    )
    .await;
    let sent = customer(
        &app,
        shop_id,
        "+14155550401",
        json!({"time_zone": "Pacific/Pago_Pago"}),
    )
    .await;
    let created: Value = app
        .post(
            "/v1/campaigns",
            &json!({"shop_id": shop_id, "name": "Sale", "template": "promo"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let campaign = settled(&app, id).await;
    assert_eq!(campaign["progress"]["queued"], 1);
    assert_eq!(campaign["progress"]["scheduled"], 1);
    let messages = campaign_messages(&app, id).await;
    let of = |c: &Value| {
        messages
            .iter()
            .find(|m| m["customer_id"] == c["id"])
            .unwrap()
            .clone()
    };
    assert_eq!(of(&held)["status"], "scheduled");
    assert_ne!(of(&sent)["status"], "scheduled");
    let detail: Value = app
        .get(&format!(
            "/v1/messages/{}",
            of(&held)["id"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["events"][0]["detail"]["reason"], "quiet_hours");
    assert_eq!(
        detail["events"][0]["detail"]["time_zone"],
        "Pacific/Kiritimati"
    );
}

#[tokio::test]
async fn the_daily_cap_pauses_a_campaign_until_tomorrow_instead_of_dropping_recipients() {
    let app = spawn_app().await;
    set_limits(&app, None, Some(3)).await;
    let shop = app.create_shop().await;
    let shop_id = shop["id"].as_str().unwrap();
    app.create_template("promo", "Sale!").await;
    for i in 0..5 {
        customer(&app, shop_id, &format!("+1415555{:04}", 500 + i), json!({})).await;
    }
    let created: Value = app
        .post(
            "/v1/campaigns",
            &json!({"shop_id": shop_id, "name": "Sale", "template": "promo"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let campaign = settled(&app, id).await;
    assert_eq!(campaign["status"], "expanding");
    assert_eq!(campaign["progress"]["recipients"], 3);
    assert_eq!(campaign["waiting"]["reason"], "daily_message_cap");
    let until: chrono::DateTime<Utc> = campaign["waiting"]["until"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        until,
        (Utc::now() + chrono::Duration::days(1))
            .date_naive()
            .and_time(chrono::NaiveTime::MIN)
            .and_utc()
    );
}

#[tokio::test]
async fn a_bad_campaign_is_refused_with_every_problem_and_stores_nothing() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let shop_id = shop["id"].as_str().unwrap();
    app.create_template("promo", "{{promo}} for {{customer.name}}")
        .await;

    let empty = problem(app.post("/v1/campaigns", &json!({})).await, 422).await;
    assert_eq!(error_fields(&empty), vec!["shop_id", "name", "template"]);
    let bad = problem(
        app.post(
            "/v1/campaigns",
            &json!({"shop_id": shop_id, "name": "x", "template": "promo", "category": "spam",
                    "segment": {"consent": ["maybe"]}, "send_at": "tomorrow"}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(
        error_fields(&bad),
        vec!["data", "category", "segment", "send_at"]
    );
    assert!(
        bad["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("promo"),
        "{bad}"
    );
    let unknown_field = problem(
        app.post(
            "/v1/campaigns",
            &json!({"shop_id": shop_id, "name": "x", "template": "promo", "audience": "all"}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(error_fields(&unknown_field), vec!["audience"]);
    let list: Value = app.get("/v1/campaigns").await.json().await.unwrap();
    assert_eq!(list["data"], json!([]));
    problem(app.get("/v1/campaigns/not-an-id").await, 404).await;
    problem(
        app.post(
            "/v1/campaigns/0192e4a0-0000-7000-8000-000000000000/cancel",
            &json!({}),
        )
        .await,
        404,
    )
    .await;
}

#[tokio::test]
async fn campaigns_are_listed_newest_first_and_filtered() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let shop_id = shop["id"].as_str().unwrap();
    app.create_template("promo", "Sale!").await;
    let mut ids = Vec::new();
    for name in ["first", "second", "third"] {
        let created: Value = app
            .post(
                "/v1/campaigns",
                &json!({"shop_id": shop_id, "name": name, "template": "promo"}),
            )
            .await
            .json()
            .await
            .unwrap();
        ids.push(created["id"].clone());
    }
    let page: Value = app.get("/v1/campaigns?limit=2").await.json().await.unwrap();
    assert_eq!(
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].clone())
            .collect::<Vec<_>>(),
        vec![ids[2].clone(), ids[1].clone()]
    );
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest: Value = app
        .get(&format!("/v1/campaigns?limit=2&cursor={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest["data"][0]["id"], ids[0]);
    assert!(rest["next_cursor"].is_null());
    app.post(
        &format!("/v1/campaigns/{}/cancel", ids[1].as_str().unwrap()),
        &json!({}),
    )
    .await;
    let cancelled: Value = app
        .get("/v1/campaigns?status=cancelled")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cancelled["data"].as_array().unwrap().len(), 1);
    assert_eq!(cancelled["data"][0]["id"], ids[1]);
    let bad = problem(app.get("/v1/campaigns?status=done&shop_id=x").await, 422).await;
    assert_eq!(error_fields(&bad), vec!["shop_id", "status"]);
}

#[tokio::test]
async fn a_campaign_pauses_while_its_tenant_has_too_many_messages_waiting_for_the_sender() {
    let app = spawn_app_with(|_| Overrides {
        campaign_page_size: Some(2),
        campaign_max_unsent: Some(4),
        ..Overrides::default()
    })
    .await;
    let shop = app.create_shop().await;
    let shop_id = shop["id"].as_str().unwrap();
    app.create_template("news", "{{customer.name}}: new arrivals")
        .await;
    for i in 0..12 {
        customer(&app, shop_id, &format!("+1415555{:04}", 300 + i), json!({})).await;
    }
    let response = app
        .post(
            "/v1/campaigns",
            &json!({"shop_id": shop_id, "name": "Big", "template": "news"}),
        )
        .await;
    assert_eq!(response.status(), 202);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Nobody sends: after two pages (4 messages queued) it waits for the sender.
    let waiting = settled(&app, &id).await;
    assert_eq!(waiting["status"], "expanding");
    assert_eq!(waiting["waiting"]["reason"], "sender_backlog", "{waiting}");
    assert_eq!(waiting["progress"]["recipients"], 4);

    // Another send is not behind the rest of the campaign: at most 4 of its messages
    // are ahead of it.
    let single = app
        .post(
            "/v1/messages",
            &json!({"shop_id": shop_id, "to": "+14155550999", "body": "Your order shipped",
                    "category": "transactional"}),
        )
        .await;
    assert_eq!(single.status(), 202);

    // The sender catches up (as sms-sender would record the sends): expansion resumes.
    {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        use nudge_db::schema::messages;
        let mut conn = app.db.connect().await;
        diesel::update(messages::table.filter(messages::campaign_id.is_not_null()))
            .set(messages::status.eq("sent"))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    nudge_testkit::eventually("expansion to resume", Duration::from_secs(20), || async {
        let campaign = get_campaign(&app, &id).await;
        (campaign["progress"]["recipients"].as_i64().unwrap() >= 8).then_some(())
    })
    .await;
}
