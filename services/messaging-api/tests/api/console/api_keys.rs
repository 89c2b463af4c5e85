//! API keys in the console: owners only, one tenant's keys only.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nudge_db::schema::api_keys;

use super::browser::{another_tenant, hidden_field, signed_in};
use crate::helpers::{spawn_app, TestApp};

async fn api_status(app: &TestApp, key: &str) -> u16 {
    app.client
        .get(format!("{}/v1/shops", app.address))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The id of the test tenant's key called `name`.
async fn key_id(app: &TestApp, name: &str) -> uuid::Uuid {
    let tenant: uuid::Uuid = app.tenant_id.parse().unwrap();
    let mut conn = app.db.connect().await;
    api_keys::table
        .filter(api_keys::tenant_id.eq(tenant))
        .filter(api_keys::name.eq(name))
        .select(api_keys::id)
        .first(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_owner_creates_a_key_shown_once_and_revokes_it() {
    let app = spawn_app().await;
    let mut owner = signed_in(&app, &app.tenant_id, "owner").await;
    let page = owner.get("/console/api-keys").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains(&app.api_key[..12]),
        "the first key's prefix"
    );
    assert!(!page.body.contains(&app.api_key), "never the whole key");

    let csrf = page.csrf();
    let created = owner
        .post(
            "/console/api-keys",
            &[
                ("csrf", &csrf),
                ("name", "Warehouse"),
                ("scope_send", "on"),
                ("scope_read", "on"),
            ],
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let plain_text = created
        .body
        .split("id=\"key\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    assert!(plain_text.starts_with("nudge_"), "{plain_text}");
    assert_eq!(
        api_status(&app, &plain_text).await,
        200,
        "the new key works"
    );
    let list = owner.get("/console/api-keys").await;
    assert!(list.body.contains("Warehouse") && !list.body.contains(&plain_text));
    // Its scopes, and its last use (the call above).
    assert!(list.body.contains("may send, read ·"), "{}", list.body);
    assert!(list.body.contains("last used 20"), "{}", list.body);

    let id = key_id(&app, "Warehouse").await;
    let revoked = owner
        .post(
            &format!("/console/api-keys/{id}/revoke"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(revoked.status, 303);
    assert_eq!(api_status(&app, &plain_text).await, 401, "revoked");
    assert_eq!(
        api_status(&app, &app.api_key).await,
        200,
        "the other key is untouched"
    );

    // Without the session's token, nothing is created.
    let forged = owner
        .post(
            "/console/api-keys",
            &[
                ("csrf", &hidden_field(&page.body, "csrf")[1..]),
                ("name", "Forged"),
            ],
        )
        .await;
    assert_eq!(forged.status, 403);
    let mut conn = app.db.connect().await;
    let forged_keys: i64 = api_keys::table
        .filter(api_keys::name.eq("Forged"))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(forged_keys, 0);
}

#[tokio::test]
async fn a_care_agent_and_a_marketer_may_not_manage_api_keys() {
    let app = spawn_app().await;
    for role in ["care_agent", "marketer"] {
        let mut person = signed_in(&app, &app.tenant_id, role).await;
        let home = person.get("/console").await;
        assert_eq!(home.status, 200);
        assert!(
            !home.body.contains("/console/api-keys"),
            "{role}: no link to the page"
        );
        let page = person.get("/console/api-keys").await;
        assert_eq!(page.status, 403, "{role}: {}", page.body);
        assert!(
            !page.body.contains(&app.api_key[..12]),
            "{role}: no key listed"
        );
        let csrf = home.csrf();
        let create = person
            .post("/console/api-keys", &[("csrf", &csrf), ("name", role)])
            .await;
        assert_eq!(create.status, 403, "{role}");
        let id = key_id(&app, "default").await;
        let revoke = person
            .post(
                &format!("/console/api-keys/{id}/revoke"),
                &[("csrf", &csrf)],
            )
            .await;
        assert_eq!(revoke.status, 403, "{role}");
    }
    let mut conn = app.db.connect().await;
    let keys: i64 = api_keys::table.count().get_result(&mut conn).await.unwrap();
    assert_eq!(keys, 1, "nothing created");
    assert_eq!(api_status(&app, &app.api_key).await, 200, "nothing revoked");
}

#[tokio::test]
async fn another_tenants_owner_sees_and_revokes_none_of_these_keys() {
    let app = spawn_app().await;
    let other = another_tenant(&app).await;
    let mut stranger = signed_in(&app, other["tenant_id"].as_str().unwrap(), "owner").await;
    let page = stranger.get("/console/api-keys").await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains(&app.api_key[..12]), "{}", page.body);
    assert!(page
        .body
        .contains(&other["api_key_prefix"].as_str().unwrap()[..12]));

    let id = key_id(&app, "default").await;
    let csrf = page.csrf();
    let revoke = stranger
        .post(
            &format!("/console/api-keys/{id}/revoke"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(revoke.status, 404, "{}", revoke.body);
    assert_eq!(api_status(&app, &app.api_key).await, 200, "still active");
    let junk = stranger
        .post("/console/api-keys/not-a-uuid/revoke", &[("csrf", &csrf)])
        .await;
    assert_eq!(junk.status, 404);
}
