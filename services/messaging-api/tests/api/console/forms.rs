//! Every console form carries a token another site cannot know; bad input is answered
//! on the page and stores nothing.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nudge_db::schema::{console_sessions, console_users};

use super::browser::{emails_to, link_in, new_address, Browser};
use crate::helpers::{spawn_app, spawn_app_with, Overrides};

const PASSWORD: &str = "correct horse battery staple";

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let email = new_address("csrf");
    let fields = |csrf: &'static str| {
        vec![
            ("csrf", csrf),
            ("business_name", "Forged"),
            ("password", PASSWORD),
        ]
    };

    // No cookie at all (a cross-site post), then a cookie the field does not match.
    let mut stranger = Browser::new(&app);
    let mut form = fields("x".repeat(43).leak());
    form.push(("email", &email));
    assert_eq!(stranger.post("/console/sign-up", &form).await.status, 403);
    stranger.get("/console/sign-up").await;
    assert!(stranger.cookies.contains_key("nudge_csrf"));
    let page = stranger.post("/console/sign-up", &form).await;
    assert_eq!(page.status, 403);
    assert!(page.body.contains("This form has expired"), "{}", page.body);
    let mut conn = app.db.connect().await;
    let accounts: i64 = console_users::table
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(accounts, 0);

    // Signed in, the session's own token is needed: sign-out without it keeps the session.
    let mut person = Browser::new(&app);
    person.sign_up("Real Shop", &email, PASSWORD).await;
    person
        .confirm(&link_in(&emails_to(&email, 1).await[0]))
        .await;
    assert_eq!(person.sign_in(&email, PASSWORD).await.status, 303);
    let anonymous_token = person.cookies["nudge_csrf"].clone();
    let page = person
        .post("/console/sign-out", &[("csrf", &anonymous_token)])
        .await;
    assert_eq!(page.status, 403);
    let sessions: i64 = console_sessions::table
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(sessions, 1);
    assert_eq!(person.get("/console").await.status, 200);
}

#[tokio::test]
async fn bad_sign_up_input_is_answered_per_field_and_stores_nothing() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    let page = browser.sign_up("   ", "not-an-address", "short").await;
    assert_eq!(page.status, 422, "{}", page.body);
    for message in [
        "Please fix 3 problems",
        "Enter your business name",
        "Enter an email address like name@example.com.",
        "Use at least 10 characters.",
    ] {
        assert!(page.body.contains(message), "{message} in {}", page.body);
    }
    assert!(page.body.contains("aria-invalid=\"true\""), "{}", page.body);
    assert!(
        page.body.contains("value=\"not-an-address\""),
        "what was typed is kept"
    );
    assert!(!page.body.contains("short"), "a password is never echoed");

    // Missing fields (not our form) are a 400 page, not a crash.
    let csrf = browser.get("/console/sign-up").await.csrf();
    assert_eq!(
        browser
            .post("/console/sign-up", &[("csrf", &csrf)])
            .await
            .status,
        400
    );

    let mut conn = app.db.connect().await;
    let accounts: i64 = console_users::table
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(accounts, 0);
}

#[tokio::test]
async fn pages_come_with_headers_that_keep_them_to_this_site() {
    let app = spawn_app().await;
    let response = reqwest::get(format!("{}/console/sign-in", app.address))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert!(headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["cache-control"], "no-store");
    let csrf_cookie = headers["set-cookie"].to_str().unwrap();
    assert!(csrf_cookie.starts_with("nudge_csrf="), "{csrf_cookie}");
    assert!(
        csrf_cookie.contains("SameSite=Strict") && csrf_cookie.contains("HttpOnly"),
        "{csrf_cookie}"
    );
    // Signed out, the home page sends people to sign in.
    let home = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/console", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), 303);
    assert_eq!(home.headers()["location"], "/console/sign-in");
    // Over plain http (development) nothing asks for https.
    assert!(!headers.contains_key("strict-transport-security"));
}

/// Served as https: HSTS on every answer (console and API), and `__Host-` cookies that
/// no sibling subdomain or http page can plant.
#[tokio::test]
async fn over_https_browsers_are_held_to_https_and_cookies_to_this_host() {
    let app = spawn_app_with(|_| Overrides {
        console_public_url: Some("https://console.shop.example"),
        ..Overrides::default()
    })
    .await;
    for path in ["/console/sign-in", "/healthz", "/v1/messages"] {
        let response = reqwest::get(format!("{}{path}", app.address))
            .await
            .unwrap();
        assert_eq!(
            response.headers()["strict-transport-security"],
            "max-age=31536000",
            "{path}"
        );
    }
    let page = reqwest::get(format!("{}/console/sign-in", app.address))
        .await
        .unwrap();
    let csrf_cookie = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        csrf_cookie.starts_with("__Host-nudge_csrf="),
        "{csrf_cookie}"
    );
    assert!(
        csrf_cookie.contains("Secure") && csrf_cookie.contains("Path=/"),
        "{csrf_cookie}"
    );
    // The form works with the prefixed cookie, and a plain-named one is not read.
    let token = csrf_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    let html = page.text().await.unwrap();
    let csrf = super::browser::hidden_field(&html, "csrf");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let sign_in = |cookie: String| {
        client
            .post(format!("{}/console/sign-in", app.address))
            .header("cookie", cookie)
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", "nobody@shop.example"),
                ("password", "x"),
            ])
            .send()
    };
    assert_eq!(
        sign_in(format!("__Host-nudge_csrf={token}"))
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        sign_in(format!("nudge_csrf={token}"))
            .await
            .unwrap()
            .status(),
        403
    );
}

/// The stylesheet is linked by a hash of its content: kept a year by the browser at that
/// address, fresh at any other, so a release that changes it is seen at once.
#[tokio::test]
async fn the_stylesheet_is_cached_only_under_its_current_version() {
    let app = spawn_app().await;
    let page = reqwest::get(format!("{}/console/sign-in", app.address))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let href = page
        .split("<link rel=\"stylesheet\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap();
    let (path, version) = href.split_once("?v=").unwrap();
    assert_eq!(path, "/console/static/console.css");
    assert_eq!(version.len(), 16, "{href}");

    let get = |path: String| async move { reqwest::get(path).await.unwrap() };
    let current = get(format!("{}{href}", app.address)).await;
    assert_eq!(current.status(), 200);
    assert_eq!(
        current.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(current.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    assert!(current.text().await.unwrap().contains(".keys li"));

    for stale in [format!("{path}?v=0000000000000000"), path.to_string()] {
        let response = get(format!("{}{stale}", app.address)).await;
        assert_eq!(response.status(), 200, "{stale}");
        assert_eq!(response.headers()["cache-control"], "no-cache", "{stale}");
    }
    let unknown = get(format!("{}/console/static/secrets.env", app.address)).await;
    assert_eq!(unknown.status(), 404);
}
