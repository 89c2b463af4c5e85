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
        .contains(&format!("src=\"/console/media/{id}/thumbnail\"")));
    assert!(list.body.contains("parcel.png") && list.body.contains("48 × 32"));
    let (status, content_type, bytes) = marketer
        .get_bytes(&format!("/console/media/{id}/image"))
        .await;
    assert_eq!((status, content_type.as_str()), (200, "image/png"));
    assert_eq!(bytes, PNG, "the same bytes back from S3");
    // Never kept by the browser: its cache outlives a sign-out.
    for which in ["image", "thumbnail"] {
        let served = marketer.get(&format!("/console/media/{id}/{which}")).await;
        assert_eq!(served.headers["cache-control"], "no-store", "{which}");
    }
    let (status, _, thumbnail) = marketer
        .get_bytes(&format!("/console/media/{id}/thumbnail"))
        .await;
    assert_eq!(status, 200);
    let thumbnail = image::load_from_memory(&thumbnail).unwrap();
    assert_eq!(
        (thumbnail.width(), thumbnail.height()),
        (48, 32),
        "a small image is not enlarged"
    );

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
async fn a_form_with_too_many_or_too_long_fields_is_refused_unread() {
    let app = spawn_app().await;
    let mut owner = signed_in(&app, &app.tenant_id, "owner").await;
    let csrf = owner.get("/console/media").await.csrf();
    let padding = "x".repeat(201);
    let many = owner
        .post_file(
            "/console/media",
            &[
                ("csrf", &csrf),
                ("a", "1"),
                ("b", "2"),
                ("c", "3"),
                ("d", "4"),
            ],
            ("image", "parcel.png", "image/png", PNG),
        )
        .await;
    assert_eq!(many.status, 400, "{}", many.body);
    let long = owner
        .post_file(
            "/console/media",
            &[("csrf", &csrf), ("note", &padding)],
            ("image", "parcel.png", "image/png", PNG),
        )
        .await;
    assert_eq!(long.status, 400, "{}", long.body);
    assert!(stored(&app).await.is_empty(), "nothing stored");
}

/// A photo as a phone takes it: larger than any list shows.
fn photo(width: u32, height: u32, format: image::ImageFormat) -> Vec<u8> {
    let pixels = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 251) as u8, (y % 241) as u8, ((x + y) % 239) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(pixels)
        .write_to(&mut out, format)
        .unwrap();
    out.into_inner()
}

#[tokio::test]
async fn a_large_photo_is_listed_by_a_small_thumbnail_and_sent_whole() {
    let app = spawn_app().await;
    let mut owner = signed_in(&app, &app.tenant_id, "owner").await;
    let photo = photo(1600, 1200, image::ImageFormat::Jpeg);
    let csrf = owner.get("/console/media").await.csrf();
    let page = owner
        .post_file(
            "/console/media",
            &[("csrf", &csrf)],
            ("image", "shelf.jpg", "image/jpeg", &photo),
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let id = stored(&app).await[0];

    let list = owner.get("/console/media").await;
    assert!(
        list.body.contains("width=\"192\" height=\"144\""),
        "{}",
        list.body
    );
    let (status, content_type, thumbnail) = owner
        .get_bytes(&format!("/console/media/{id}/thumbnail"))
        .await;
    assert_eq!((status, content_type.as_str()), (200, "image/jpeg"));
    assert!(
        thumbnail.len() * 10 < photo.len(),
        "{} bytes listed for a {}-byte photo",
        thumbnail.len(),
        photo.len()
    );
    let decoded = image::load_from_memory(&thumbnail).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (192, 144));
    let (_, _, original) = owner.get_bytes(&format!("/console/media/{id}/image")).await;
    assert_eq!(original, photo, "what is sent is the original");
}

#[tokio::test]
async fn an_image_whose_data_is_damaged_is_refused() {
    let app = spawn_app().await;
    let mut owner = signed_in(&app, &app.tenant_id, "owner").await;
    let png = photo(600, 400, image::ImageFormat::Png);
    // The header (and so the dimensions) intact, the pixels cut off.
    let cut = &png[..png.len() / 3];
    let page = upload(&mut owner, "cut.jpg", cut).await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert!(page.body.contains("damaged"), "{}", page.body);
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
    let (status, _, _) = stranger
        .get_bytes(&format!("/console/media/{id}/thumbnail"))
        .await;
    assert_eq!(status, 404);
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

#[tokio::test]
async fn a_template_with_an_image_makes_every_send_from_it_an_mms() {
    let app = spawn_app().await;
    let shop = app.create_shop().await;
    let mut marketer = signed_in(&app, &app.tenant_id, "marketer").await;
    assert_eq!(upload(&mut marketer, "parcel.png", PNG).await.status, 303);
    let id = stored(&app).await[0].to_string();
    // Another tenant cannot attach this image to their template.
    let other = another_tenant(&app).await;
    let mut stranger = signed_in(&app, other["tenant_id"].as_str().unwrap(), "owner").await;
    let refused = save_template(&mut stranger, "/console/templates", &id).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("choose one of your images"));
    assert_eq!(template_media(&app).await, vec![], "nothing stored");

    let created = save_template(&mut marketer, "/console/templates", &id).await;
    assert_eq!(created.status, 303, "{}", created.body);
    let path = created.location.unwrap();
    assert!(marketer
        .get(&path)
        .await
        .body
        .contains(&format!("src=\"/console/media/{id}/thumbnail\"")));
    assert_eq!(template_media(&app).await, vec![Some(id.parse().unwrap())]);

    // A send naming the template (through the API) carries the image.
    let sent = app
        .client
        .post(format!("{}/v1/messages", app.address))
        .bearer_auth(&app.api_key)
        .json(
            &serde_json::json!({"shop_id": shop["id"], "to": "+14155550123",
                                  "template": "shipped"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 202, "{}", sent.text().await.unwrap());
    let mut conn = app.db.connect().await;
    let carried: Option<uuid::Uuid> = messages::table
        .select(messages::media_id)
        .first(&mut conn)
        .await
        .unwrap();
    assert_eq!(carried.map(|m| m.to_string()), Some(id.clone()));

    // "No image" takes it off.
    let cleared = save_template(&mut marketer, &path, "").await;
    assert_eq!(cleared.status, 303, "{}", cleared.body);
    assert_eq!(template_media(&app).await, vec![None]);

    // The API sets and removes it the same way; another tenant's key cannot use it.
    let template_id = path.rsplit('/').next().unwrap();
    let patch = |media: serde_json::Value, key: &str| {
        app.request(
            reqwest::Method::PATCH,
            &format!("/v1/templates/{template_id}"),
            key,
        )
        .json(&serde_json::json!({ "media_id": media }))
        .send()
    };
    let set: serde_json::Value = patch(id.clone().into(), &app.api_key)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(set["media_id"], id.as_str());
    let untouched = patch(serde_json::Value::Null, other["api_key"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(untouched.status(), 404, "not their template");
    assert_eq!(template_media(&app).await, vec![Some(id.parse().unwrap())]);
    let cleared = patch(serde_json::Value::Null, &app.api_key).await.unwrap();
    assert_eq!(cleared.status(), 200);
    assert_eq!(template_media(&app).await, vec![None]);
    let theirs = app
        .request(
            reqwest::Method::POST,
            "/v1/templates",
            other["api_key"].as_str().unwrap(),
        )
        .json(&serde_json::json!({"name": "stolen", "body": "x", "media_id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), 422);
    let problem: serde_json::Value = theirs.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "media_id", "{problem}");
    assert_eq!(template_media(&app).await, vec![None], "nothing stored");
}

async fn save_template(person: &mut Browser, path: &str, media: &str) -> Page {
    let csrf = person.get("/console/templates/new").await.csrf();
    person
        .post(
            path,
            &[
                ("csrf", &csrf),
                ("name", "shipped"),
                ("body", "Your parcel is on its way"),
                ("category", "transactional"),
                ("samples", ""),
                ("media", media),
            ],
        )
        .await
}

async fn template_media(app: &TestApp) -> Vec<Option<uuid::Uuid>> {
    let mut conn = app.db.connect().await;
    nudge_db::schema::templates::table
        .select(nudge_db::schema::templates::media_id)
        .load(&mut conn)
        .await
        .unwrap()
}
