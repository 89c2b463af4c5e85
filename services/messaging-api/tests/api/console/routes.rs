//! Cases generated from the console's route table (`nudge_console::ROUTES`, the table
//! the console is mounted from): every form refuses a post without its token, and
//! every page and form that names a resource is its tenant's alone. A route added
//! without a case here fails these tests, so none can be forgotten.

use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use serde_json::{json, Value};
use uuid::Uuid;

use super::browser::{another_tenant, signed_in, Browser};
use crate::helpers::{spawn_app, TestApp};

const PNG: &[u8] = include_bytes!("../../../../../tests/browser/fixtures/parcel.png");

/// A token no form was ever given.
const FORGED: &str = "forged-token-forged-token-forged-token-0000";

/// A complete, plausible form for each POST route, but for its token: what a page of
/// another site could make a signed-in browser send. `None`: the route is not a form
/// this file knows, and the tests say so.
fn form_for(path: &str) -> Option<Vec<(&'static str, &'static str)>> {
    let form = match path {
        "/sign-up" => vec![
            ("business_name", "Forged Shop"),
            ("email", "forged@shop.example"),
            ("password", "correct horse battery staple"),
        ],
        "/verify-email" => vec![("token", "x")],
        "/sign-in" => vec![
            ("email", "forged@shop.example"),
            ("password", "correct horse battery staple"),
        ],
        "/password-reset" => vec![("email", "forged@shop.example")],
        "/password-reset/confirm" => vec![
            ("email", "forged@shop.example"),
            ("code", "123456"),
            ("password", "correct horse battery staple"),
        ],
        "/join" => vec![("token", "x"), ("password", "correct horse battery staple")],
        "/api-keys" => vec![("name", "forged"), ("scope_send", "on")],
        "/team/invitations" => vec![("email", "forged@shop.example"), ("role", "owner")],
        "/team/members/{id}/role" => vec![("role", "owner")],
        "/conversations/{id}/messages" => vec![("body", "forged answer")],
        "/leads/searches" => vec![
            ("job_titles", "buyer"),
            ("companies", ""),
            ("locations", ""),
            ("keywords", ""),
            ("max_results", "10"),
        ],
        "/campaigns" => vec![
            ("name", "Forged"),
            ("shop", ""),
            ("template", "cart"),
            ("audience", "all"),
            ("attributes", ""),
            ("data", ""),
            ("send_at", ""),
        ],
        "/customers/{id}/consent" => vec![("state", "opted_out"), ("note", "forged")],
        "/templates" | "/templates/{id}" => vec![
            ("name", "forged"),
            ("body", "Forged {{x}}"),
            ("category", "marketing"),
            ("samples", ""),
            ("media", ""),
        ],
        "/messages" => vec![
            ("shop", ""),
            ("to", "+14155550100"),
            ("body", "forged"),
            ("category", "transactional"),
            ("media", ""),
        ],
        // Forms of a token and nothing else, and the upload (multipart, below).
        "/sign-out"
        | "/api-keys/{id}/revoke"
        | "/team/invitations/{id}/revoke"
        | "/team/members/{id}/remove"
        | "/conversations/{id}/{action}"
        | "/campaigns/{id}/cancel"
        | "/templates/{id}/delete"
        | "/media" => vec![],
        _ => return None,
    };
    Some(form)
}

fn posts() -> impl Iterator<Item = &'static str> {
    nudge_console::ROUTES
        .iter()
        .filter(|(method, _)| *method == "Post")
        .map(|(_, path)| *path)
}

/// Sends `form` (with `csrf`) to `path` as the route takes it: multipart for the upload.
async fn submit(browser: &mut Browser, path: &str, csrf: &str, form: &[(&str, &str)]) -> u16 {
    let mut fields = vec![("csrf", csrf)];
    fields.extend_from_slice(form);
    if path == "/console/media" {
        let file = ("image", "parcel.png", "image/png", PNG);
        return browser.post_file(path, &fields, file).await.status;
    }
    browser.post(path, &fields).await.status
}

/// [`fingerprint`] once the background work (the relay, the campaign expander) has
/// settled: two readings apart that agree.
async fn settled_fingerprint(app: &TestApp) -> Vec<(String, String)> {
    let mut last = fingerprint(app).await;
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let now = fingerprint(app).await;
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("the database never settled");
}

/// Every row of every table, hashed: equal before and after means nothing changed.
async fn fingerprint(app: &TestApp) -> Vec<(String, String)> {
    #[derive(diesel::QueryableByName)]
    struct Table {
        #[diesel(sql_type = Text)]
        name: String,
    }
    #[derive(diesel::QueryableByName)]
    struct Digest {
        #[diesel(sql_type = Text)]
        digest: String,
    }
    let mut conn = app.db.connect().await;
    let tables: Vec<Table> = diesel::sql_query(
        "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let mut digests = Vec::new();
    for table in tables {
        let digest: Digest = diesel::sql_query(format!(
            "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS digest FROM \"{}\" t",
            table.name
        ))
        .get_result(&mut conn)
        .await
        .unwrap();
        digests.push((table.name, digest.digest));
    }
    digests
}

fn changed(before: &[(String, String)], after: &[(String, String)]) -> Vec<String> {
    before
        .iter()
        .zip(after)
        .filter(|(b, a)| b != a)
        .map(|(b, _)| b.0.clone())
        .collect()
}

#[tokio::test]
async fn every_console_form_refuses_a_post_without_its_token_and_changes_nothing() {
    let app = spawn_app().await;
    let mut owner = signed_in(&app, &app.tenant_id, "owner").await;
    // The anonymous forms' token is a cookie the browser already holds: forged here too.
    owner.get("/console/sign-in").await;
    let posts: Vec<&str> = posts().collect();
    assert!(
        posts.len() >= 20,
        "the route table lists the forms: {posts:?}"
    );
    let before = settled_fingerprint(&app).await;
    for path in &posts {
        let form = form_for(path).unwrap_or_else(|| {
            panic!("POST /console{path} has no case: add its form to tests/api/console/routes.rs")
        });
        let concrete = format!(
            "/console{}",
            path.replace("{id}", &Uuid::now_v7().to_string())
                .replace("{action}", "take")
        );
        let status = submit(&mut owner, &concrete, FORGED, &form).await;
        assert_eq!(status, 403, "POST {concrete} with a forged token");
        // And with an empty one, as a form whose page never gave it a token.
        let status = submit(&mut owner, &concrete, "", &form).await;
        assert_eq!(status, 403, "POST {concrete} with no token");
    }
    let changed = changed(&before, &fingerprint(&app).await);
    assert!(changed.is_empty(), "forged forms changed {changed:?}");
    // The signed-in session still works: a forged sign-out did not end it.
    assert_eq!(owner.get("/console").await.status, 200);
}

/// Tenant A's resources, one of each kind a console route names.
async fn one_of_each(app: &TestApp, owner: &mut Browser) -> Vec<(&'static str, String)> {
    let shop = app.create_shop().await;
    let shop_id = shop["id"].as_str().unwrap().to_owned();
    let customer = app.create_customer(&shop_id, "+14155550100").await;
    let template = app.create_template("cart", "Hi {{customer.name}}").await;
    let message: Value = app
        .post(
            "/v1/messages",
            &json!({"shop_id": shop_id, "customer_id": customer["id"], "template": "cart"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let campaign: Value = app
        .post(
            "/v1/campaigns",
            &json!({"shop_id": shop_id, "name": "Spring", "template": "cart",
                    "send_at": (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339()}),
        )
        .await
        .json()
        .await
        .unwrap();
    let key: Value = app
        .post("/v1/api-keys", &json!({"name": "A's second key"}))
        .await
        .json()
        .await
        .unwrap();
    let mut conn = app.db.connect().await;
    let sid = format!("SM{}", Uuid::new_v4().simple());
    let to = shop["sender_number"].as_str().unwrap();
    let (_, conversation) =
        nudge_testkit::customer_texts(&mut conn, &sid, "+14155550123", to, "hello?").await;
    let csrf = owner.get("/console/media").await.csrf();
    assert_eq!(submit(owner, "/console/media", &csrf, &[]).await, 303);
    let csrf = owner.get("/console/team").await.csrf();
    let invited = [("email", "invited@shop.example"), ("role", "marketer")];
    assert_eq!(
        submit(owner, "/console/team/invitations", &csrf, &invited).await,
        303
    );
    let member = super::browser::account(app, &app.tenant_id, "marketer").await;
    let media = id_of(app, "SELECT id::text AS id FROM media").await;
    let invitation = id_of(app, "SELECT id::text AS id FROM console_invitations").await;
    let member = id_of(
        app,
        &format!("SELECT id::text AS id FROM console_users WHERE email = '{member}'"),
    )
    .await;
    vec![
        ("customers", customer["id"].as_str().unwrap().to_owned()),
        ("templates", template["id"].as_str().unwrap().to_owned()),
        ("messages", message["id"].as_str().unwrap().to_owned()),
        ("campaigns", campaign["id"].as_str().unwrap().to_owned()),
        ("api-keys", key["id"].as_str().unwrap().to_owned()),
        ("conversations", conversation.id.to_string()),
        ("media", media),
        ("team/invitations", invitation),
        ("team/members", member),
    ]
}

/// The one id `sql` selects (as `id`).
async fn id_of(app: &TestApp, sql: &str) -> String {
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = Text)]
        id: String,
    }
    let mut conn = app.db.connect().await;
    let id: Id = diesel::sql_query(sql).get_result(&mut conn).await.unwrap();
    id.id
}

#[tokio::test]
async fn every_console_page_and_form_that_names_a_resource_is_its_tenants_alone() {
    let app = spawn_app().await;
    let mut owner = signed_in(&app, &app.tenant_id, "owner").await;
    let ids = one_of_each(&app, &mut owner).await;
    let other = another_tenant(&app).await;
    let mut intruder = signed_in(&app, other["tenant_id"].as_str().unwrap(), "owner").await;
    let csrf = intruder.get("/console").await.csrf();
    let before = settled_fingerprint(&app).await;
    let mut checked = 0;
    for (method, path) in nudge_console::ROUTES {
        if !path.contains("{id}") {
            continue;
        }
        let kind = ids
            .iter()
            .find(|(kind, _)| path.starts_with(&format!("/{kind}/")))
            .unwrap_or_else(|| {
                panic!("{method} /console{path}: no resource of its kind; add one to one_of_each")
            });
        let concrete = format!(
            "/console{}",
            path.replace("{id}", &kind.1).replace("{action}", "take")
        );
        let status = if *method == "Post" {
            let form = form_for(path).expect("every form has a case");
            submit(&mut intruder, &concrete, &csrf, &form).await
        } else {
            intruder.get(&concrete).await.status
        };
        assert_eq!(status, 404, "{method} {concrete} by another tenant");
        checked += 1;
    }
    assert!(checked >= 20, "routes with ids checked: {checked}");
    let changed = changed(&before, &fingerprint(&app).await);
    assert!(
        changed.is_empty(),
        "another tenant's attempts changed {changed:?}"
    );
    // A's own pages still answer, so the 404s above were the tenant check's.
    for (method, path) in nudge_console::ROUTES {
        if *method == "Get" && path.contains("{id}") && !path.starts_with("/static/") {
            let kind = ids
                .iter()
                .find(|(kind, _)| path.starts_with(&format!("/{kind}/")))
                .unwrap();
            let concrete = format!("/console{}", path.replace("{id}", &kind.1));
            assert_eq!(owner.get(&concrete).await.status, 200, "GET {concrete}");
        }
    }
}
