//! MMS images in the console: uploads checked by their content, stored in S3 (the
//! stack's LocalStack), served only to their tenant, attached to a send.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nudge_db::schema::{media, messages};

use super::browser::{another_tenant, signed_in, Browser, Page};
use crate::helpers::{spawn_app, TestApp};

const PNG: &[u8] = include_bytes!("../../../../../tests/browser/fixtures/parcel.png");

async fn upload(person: &mut Browser, name: &str, bytes: &[u8]) -> Page {
    let csrf = person.get("/console/media").await.csrf();
    person
        .post_file(
            "/console/media",
            &[("csrf", &csrf)],
            ("image", name, "image/png", bytes),
        )
        .await
}

async fn stored(app: &TestApp) -> Vec<uuid::Uuid> {
    let mut conn = app.db.connect().await;
    media::table
        .select(media::id)
        .load(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_marketer_uploads_an_image_sees_its_thumbnail_and_sends_it() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let mut marketer = signed_in(&app, &app.tenant_id, "marketer").await;
    let page = upload(&mut marketer, "parcel.png", PNG).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let ids = stored(&app).await;
    assert_eq!(ids.len(), 1);
    let id = ids[0];

    let list = marketer.get("/console/media").await;
    assert!(list
        .body
        .contains(&format!("src=\"/console/media/{id}/image\"")));
    assert!(list.body.contains("parcel.png") && list.body.contains("48 × 32"));
    let (status, content_type, bytes) = marketer
        .get_bytes(&format!("/console/media/{id}/image"))
        .await;
    assert_eq!((status, content_type.as_str()), (200, "image/png"));
    assert_eq!(bytes, PNG, "the same bytes back from S3");

    // Sent with a message: the message carries it.
    let form = marketer.get("/console/messages/new").await;
    assert!(
        form.body.contains(&format!("value=\"{id}\"")),
        "offered in the form"
    );
    let csrf = form.csrf();
    let sent = marketer
        .post(
            "/console/messages",
            &[
                ("csrf", &csrf),
                ("shop", shop["id"].as_str().unwrap()),
                ("to", "+14155550123"),
                ("body", "Your parcel, pictured"),
                ("category", "transactional"),
                ("media", &id.to_string()),
            ],
        )
        .await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    let mut conn = app.db.connect().await;
    let carried: Option<uuid::Uuid> = messages::table
        .select(messages::media_id)
        .first(&mut conn)
        .await
        .unwrap();
    assert_eq!(carried, Some(id));
}

#[tokio::test]
async fn files_that_are_not_images_or_too_large_are_refused_whatever_their_name() {
    let app = spawn_app().await;
    let mut owner = signed_in(&app, &app.tenant_id, "owner").await;
    let script = upload(&mut owner, "innocent.png", b"<script>alert(1)</script>").await;
    assert_eq!(script.status, 422, "{}", script.body);
    assert!(
        script.body.contains("not a JPEG, PNG or GIF"),
        "{}",
        script.body
    );
    let mut huge = PNG.to_vec();
    huge.resize(5 * 1024 * 1024 + 10, 0);
    let big = upload(&mut owner, "big.png", &huge).await;
    assert_eq!(big.status, 422, "{}", big.body);
    assert!(big.body.contains("larger than 5 MB"));
    let forged = owner
        .post_file(
            "/console/media",
            &[("csrf", "forged")],
            ("image", "parcel.png", "image/png", PNG),
        )
        .await;
    assert_eq!(forged.status, 403);
    assert!(stored(&app).await.is_empty(), "nothing stored");
}

#[tokio::test]
async fn images_are_their_tenants_alone() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let mut owner = signed_in(&app, &app.tenant_id, "owner").await;
    assert_eq!(upload(&mut owner, "parcel.png", PNG).await.status, 303);
    let id = stored(&app).await[0];

    let mut agent = signed_in(&app, &app.tenant_id, "care_agent").await;
    let list = agent.get("/console/media").await;
    assert!(list.body.contains("parcel.png") && !list.body.contains("Upload"));
    assert_eq!(upload(&mut agent, "mine.png", PNG).await.status, 403);

    let other = another_tenant(&app).await;
    let mut stranger = signed_in(&app, other["tenant_id"].as_str().unwrap(), "owner").await;
    assert!(!stranger
        .get("/console/media")
        .await
        .body
        .contains("parcel.png"));
    let (status, _, bytes) = stranger
        .get_bytes(&format!("/console/media/{id}/image"))
        .await;
    assert_eq!(status, 404);
    assert_ne!(bytes, PNG);
    // Their API key cannot send this tenant's image either.
    let other_key = other["api_key"].as_str().unwrap();
    let refused = app
        .client
        .post(format!("{}/v1/messages", app.address))
        .bearer_auth(other_key)
        .json(
            &serde_json::json!({"shop_id": shop["id"], "to": "+14155550123", "body": "x",
                                  "category": "transactional", "media_id": id}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    assert_eq!(stored(&app).await.len(), 1);
    assert_eq!(app.stored_messages().await.0, 0);
}
