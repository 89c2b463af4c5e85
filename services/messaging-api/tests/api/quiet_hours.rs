//! Quiet hours: marketing that would land inside them, in the recipient's local time,
//! waits for their end; the zone is the customer's, else the phone country's, else the
//! shop's. The window is built around the current London time, so the test holds at
//! any hour of the day.

use chrono::{Duration, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};

use crate::helpers::{error_fields, problem, spawn_app};

#[tokio::test]
async fn marketing_inside_the_recipients_quiet_hours_is_held_until_they_end() {
    let app = spawn_app().await;
    app.allow_destinations("1,44").await;
    let london_now = Utc::now().with_timezone(&Tz::Europe__London);
    let start = (london_now - Duration::minutes(30))
        .format("%H:%M")
        .to_string();
    let end = (london_now + Duration::minutes(30))
        .format("%H:%M")
        .to_string();
    // The shop is in Tokyo, 8 or 9 hours away: there, now is outside the window.
    let shop: Value = app
        .post(
            "/v1/shops",
            &json!({"name": "XYZ Bags", "sender_number": "+15017122661", "time_zone": "Asia/Tokyo",
                    "quiet_hours": {"start": start, "end": end}}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shop["quiet_hours"], json!({"start": start, "end": end}));
    let shop_id = shop["id"].as_str().unwrap();
    let customer = |phone: &str, zone: Option<&str>| {
        let mut body =
            json!({"shop_id": shop_id, "phone": phone, "consent": {"state": "opted_in"}});
        if let Some(zone) = zone {
            body["time_zone"] = json!(zone);
        }
        body
    };
    let send = |customer: &Value, category: &str| json!({"shop_id": shop_id, "customer_id": customer["id"], "body": "20% off today", "category": category});

    // A UK number, no zone of its own: London time, inside the window -> held.
    let uk = app.create_from(&customer("+447700900123", None)).await;
    let held: Value = app
        .post("/v1/messages", &send(&uk, "marketing"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(held["status"], "scheduled");
    let event = &held["events"][0];
    assert_eq!(event["type"], "scheduled");
    assert_eq!(event["detail"]["reason"], "quiet_hours");
    assert_eq!(event["detail"]["time_zone"], "Europe/London");
    let release = chrono::DateTime::parse_from_rfc3339(held["send_at"].as_str().unwrap()).unwrap();
    let minutes_ahead = (release.with_timezone(&Utc) - Utc::now()).num_minutes();
    assert!(
        (28..=31).contains(&minutes_ahead),
        "held until the window's end, {minutes_ahead} min ahead"
    );

    // Transactional messages are never held.
    let receipt: Value = app
        .post("/v1/messages", &send(&uk, "transactional"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(receipt["status"], "queued");

    // A US number (many zones): the shop's zone, Tokyo, outside the window -> now.
    let us = app.create_from(&customer("+14155550100", None)).await;
    let now: Value = app
        .post("/v1/messages", &send(&us, "marketing"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now["status"], "queued");

    // The customer's own zone wins over the phone's country.
    let us_in_london = app
        .create_from(&customer("+14155550101", Some("Europe/London")))
        .await;
    let held: Value = app
        .post("/v1/messages", &send(&us_in_london, "marketing"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(held["status"], "scheduled");
    let uk_in_tokyo = app
        .create_from(&customer("+447700900124", Some("Asia/Tokyo")))
        .await;
    let now: Value = app
        .post("/v1/messages", &send(&uk_in_tokyo, "marketing"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now["status"], "queued");
}

#[tokio::test]
async fn quiet_hours_and_time_zones_are_validated() {
    let app = spawn_app().await;
    let bad = app
        .post(
            "/v1/shops",
            &json!({"name": "x", "sender_number": "+15017122661", "quiet_hours": {"start": "9pm", "end": "25:00"}}),
        )
        .await;
    assert_eq!(
        error_fields(&problem(bad, 422).await),
        vec!["quiet_hours.start", "quiet_hours.end"]
    );
    let default: Value = app
        .post(
            "/v1/shops",
            &json!({"name": "x", "sender_number": "+15017122661"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        default["quiet_hours"],
        json!({"start": "21:00", "end": "08:00"})
    );
    let bad_zone = app
        .post("/v1/customers", &json!({"shop_id": default["id"], "phone": "+14155550100", "time_zone": "Mars/Olympus"}))
        .await;
    assert_eq!(
        error_fields(&problem(bad_zone, 422).await),
        vec!["time_zone"]
    );
}
