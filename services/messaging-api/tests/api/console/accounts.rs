//! Sign-up, the emailed link, sign-in and sign-out, and what each refuses.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nudge_db::schema::{console_email_tokens, console_emails, console_users, tenants};

use super::browser::{emails_to, link_in, new_address, Browser};
use crate::helpers::{spawn_app, CONSOLE_EMAIL_FROM};

const PASSWORD: &str = "correct horse battery staple";

#[tokio::test]
async fn sign_up_then_the_emailed_link_then_sign_in_and_out() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    let email = new_address("owner");

    let page = browser
        .sign_up("Acme Boots", &email.to_uppercase(), PASSWORD)
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Check your inbox"), "{}", page.body);

    // One email, from the configured sender, with a single-use link.
    let sent = emails_to(&email, 1).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["Source"], CONSOLE_EMAIL_FROM);
    assert_eq!(sent[0]["Subject"], "Confirm your email for Nudge");
    let link = link_in(&sent[0]);

    // Not confirmed yet: the right password gets a new link instead of a session.
    let page = browser.sign_in(&email, PASSWORD).await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(!browser.cookies.contains_key("nudge_session"));
    let again = emails_to(&email, 2).await;
    assert_ne!(link_in(&again[1]), link, "a new link");

    // Opening the link alone spends nothing; its button confirms, once.
    let page = browser.confirm(&link).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("Your email is confirmed"),
        "{}",
        page.body
    );
    let page = browser.confirm(&link).await;
    assert_eq!(page.status, 410, "{}", page.body);
    assert!(page.body.contains("already used"), "{}", page.body);

    let page = browser.sign_in(&email, PASSWORD).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location.as_deref(), Some("/console"));
    let session = browser
        .set_cookies
        .iter()
        .find(|c| c.starts_with("nudge_session="))
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/console"] {
        assert!(session.contains(attribute), "{attribute} in {session}");
    }
    // Served over http on localhost (development): not Secure.
    assert!(!session.contains("Secure"), "{session}");

    let home = browser.get("/console").await;
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(home.body.contains("Acme Boots"), "{}", home.body);
    assert!(home.body.contains(&email), "{}", home.body);
    assert!(home.body.contains("Owner"), "{}", home.body);

    // What was stored: a tenant, its owner with an argon2id hash, and no email body
    // (which held a link) left behind once sent.
    let mut conn = app.db.connect().await;
    let (role, hash, tenant): (String, Option<String>, uuid::Uuid) = console_users::table
        .filter(console_users::email.eq(&email))
        .select((
            console_users::role,
            console_users::password_hash,
            console_users::tenant_id,
        ))
        .first(&mut conn)
        .await
        .unwrap();
    assert_eq!(role, "owner");
    assert!(hash.unwrap().starts_with("$argon2id$"));
    let name: String = tenants::table
        .find(tenant)
        .select(tenants::name)
        .first(&mut conn)
        .await
        .unwrap();
    assert_eq!(name, "Acme Boots");
    let bodies: Vec<(String, String)> = console_emails::table
        .select((console_emails::status, console_emails::text_body))
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(bodies.len(), 2);
    assert!(
        bodies
            .iter()
            .all(|(status, body)| status == "sent" && body.is_empty()),
        "{bodies:?}"
    );

    // Sign-out ends the session, on the server too.
    let csrf = home.csrf();
    let stolen = browser.cookies["nudge_session"].clone();
    let page = browser.post("/console/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(page.status, 303);
    // What the browser cached of the console (pages, images) goes with the session.
    assert_eq!(page.headers["clear-site-data"], "\"cache\"");
    assert!(!browser.cookies.contains_key("nudge_session"));
    assert_eq!(
        browser.get("/console").await.location.as_deref(),
        Some("/console/sign-in")
    );
    browser.cookies.insert("nudge_session".into(), stolen);
    assert_eq!(
        browser.get("/console").await.status,
        303,
        "a signed-out token is dead"
    );
}

#[tokio::test]
async fn an_expired_or_unknown_link_confirms_nothing() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    let email = new_address("late");
    browser.sign_up("Late Shop", &email, PASSWORD).await;
    let link = link_in(&emails_to(&email, 1).await[0]);
    let mut conn = app.db.connect().await;
    diesel::update(console_email_tokens::table)
        .set(console_email_tokens::expires_at.eq(chrono::Utc::now() - chrono::Duration::minutes(1)))
        .execute(&mut conn)
        .await
        .unwrap();

    let page = browser.confirm(&link).await;
    assert_eq!(page.status, 410, "{}", page.body);
    assert!(page.body.contains("expired"), "{}", page.body);
    // Change the token's last character (to one it is not already: the
    // token is random, so a fixed replacement would match it 1 time in 64).
    let (kept, last) = link.split_at(link.len() - 1);
    let forged = format!("{kept}{}", if last == "x" { "y" } else { "x" });
    assert_eq!(browser.confirm(&forged).await.status, 404);
    let verified: Option<chrono::DateTime<chrono::Utc>> = console_users::table
        .filter(console_users::email.eq(&email))
        .select(console_users::email_verified_at)
        .first(&mut conn)
        .await
        .unwrap();
    assert_eq!(verified, None);
    assert_eq!(
        browser.sign_in(&email, PASSWORD).await.status,
        403,
        "still unconfirmed"
    );
}

#[tokio::test]
async fn a_taken_address_gets_the_same_page_and_its_owner_an_email() {
    let app = spawn_app().await;
    let email = new_address("taken");
    let first = Browser::new(&app)
        .sign_up("First Shop", &email, PASSWORD)
        .await;
    let second = Browser::new(&app)
        .sign_up("Second Shop", &email, "another long password")
        .await;
    assert_eq!(first.status, second.status);
    assert_eq!(first.body, second.body, "nothing tells the two apart");

    let sent = emails_to(&email, 2).await;
    let subjects: Vec<&str> = sent
        .iter()
        .map(|m| m["Subject"].as_str().unwrap())
        .collect();
    assert!(
        subjects.contains(&"You already have a Nudge account"),
        "{subjects:?}"
    );
    let mut conn = app.db.connect().await;
    let accounts: i64 = console_users::table
        .filter(console_users::email.eq(&email))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(accounts, 1);
    let shops: i64 = tenants::table
        .filter(tenants::name.eq("Second Shop"))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(shops, 0, "no tenant for the refused sign-up");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_address_get_the_same_answer_then_a_limit() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    let email = new_address("guarded");
    browser.sign_up("Guarded Shop", &email, PASSWORD).await;
    browser
        .confirm(&link_in(&emails_to(&email, 1).await[0]))
        .await;

    let wrong = browser.sign_in(&email, "not the password").await;
    let unknown = browser
        .sign_in(&new_address("nobody"), "not the password")
        .await;
    assert_eq!((wrong.status, unknown.status), (401, 401));
    assert!(
        wrong.body.contains("do not match an account"),
        "{}",
        wrong.body
    );
    assert!(
        unknown.body.contains("do not match an account"),
        "{}",
        unknown.body
    );

    // Five tries per address per 15 minutes: the sixth is refused, the right password
    // included, with how long to wait.
    for _ in 0..4 {
        assert_eq!(browser.sign_in(&email, "still not it").await.status, 401);
    }
    let csrf = browser.get("/console/sign-in").await.csrf();
    let response = reqwest::Client::new()
        .post(format!("{}/console/sign-in", app.address))
        .header(
            "cookie",
            format!("nudge_csrf={}", browser.cookies["nudge_csrf"]),
        )
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", &email),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=180).contains(&retry_after), "{retry_after}");
    assert!(!browser.cookies.contains_key("nudge_session"));
}

#[tokio::test]
async fn an_operator_creates_a_confirmed_account_in_a_tenant() {
    let app = spawn_app().await;
    let tenant: nudge_domain::TenantId = app.tenant_id.parse().unwrap();
    let email = new_address("agent");
    let mut conn = app.db.connect().await;
    let create = |email: String, role: &'static str, tenant| {
        let url = app.db.url.clone();
        async move {
            let mut conn =
                <nudge_db::AsyncPgConnection as diesel_async::AsyncConnection>::establish(&url)
                    .await
                    .unwrap();
            messaging_api::admin::create_console_user(
                &mut conn,
                tenant,
                &email,
                role,
                PASSWORD.into(),
            )
            .await
        }
    };
    let created = create(email.clone(), "care_agent", tenant).await.unwrap();
    assert!(created.contains("\"role\":\"care_agent\""), "{created}");

    let mut browser = Browser::new(&app);
    assert_eq!(
        browser.sign_in(&email, PASSWORD).await.status,
        303,
        "no email to confirm"
    );
    let home = browser.get("/console").await;
    assert!(
        home.body.contains("Test Shop Inc") && home.body.contains("Care agent"),
        "{}",
        home.body
    );

    let taken = create(email.clone(), "owner", tenant).await.unwrap_err();
    assert!(
        taken.to_string().contains("already has a console account"),
        "{taken}"
    );
    let role = create(new_address("x"), "admin", tenant).await.unwrap_err();
    assert!(role.to_string().contains("--role"), "{role}");
    let nowhere = create(new_address("y"), "owner", nudge_domain::TenantId::new())
        .await
        .unwrap_err();
    assert!(nowhere.to_string().contains("no tenant"), "{nowhere}");
    let accounts: i64 = console_users::table
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(accounts, 1);
}
