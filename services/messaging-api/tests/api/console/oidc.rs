//! Sign-in with an OpenID Connect provider, against the sandbox's issuer: the code
//! flow with PKCE, state bound to the browser, nonce, and every check of the ID token.

use std::collections::HashMap;

use reqwest::redirect::Policy;
use serde_json::json;

use super::browser::{account, new_address, Browser, Page, PASSWORD};
use crate::helpers::{spawn_app_with, Overrides, TestApp};

/// The app, with the console's provider set to a sandbox issuer of its own.
pub(super) async fn app_with_provider() -> (TestApp, String) {
    let sandbox = provider_sandbox::spawn_local().expect("start the sandbox");
    let issuer = format!("{sandbox}/oidc");
    let app = spawn_app_with(|_| Overrides {
        oidc_issuer: Some(issuer),
        ..Overrides::default()
    })
    .await;
    (app, sandbox)
}

pub(super) fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// What the person does at the provider: type the address and continue (or cancel).
/// Returns the URL the provider sends the browser back to.
pub(super) async fn at_provider(authorize_url: &str, email: &str, decision: &str) -> String {
    let params = query_of(authorize_url);
    let page = reqwest::get(authorize_url).await.unwrap();
    assert_eq!(page.status(), 200, "the provider's page");
    let base = authorize_url.split("/oidc/authorize").next().unwrap();
    let mut form: Vec<(&str, &str)> = [
        "client_id",
        "redirect_uri",
        "state",
        "nonce",
        "code_challenge",
    ]
    .iter()
    .map(|name| (*name, params[*name].as_str()))
    .collect();
    form.push(("email", email));
    form.push(("decision", decision));
    let answer = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
        .post(format!("{base}/oidc/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    answer.headers()["location"].to_str().unwrap().to_owned()
}

/// The path (and query) of a URL of the app.
pub(super) fn path_of(url: &str) -> String {
    let url = url::Url::parse(url).unwrap();
    format!("{}?{}", url.path(), url.query().unwrap_or_default())
}

/// Starts a provider sign-in in `browser`: the provider's authorization URL.
pub(super) async fn start(browser: &mut Browser) -> String {
    let started = browser.get("/console/oidc/start").await;
    assert_eq!(started.status, 303, "{}", started.body);
    let cookie = browser
        .set_cookies
        .iter()
        .rev()
        .find(|c| c.starts_with("nudge_oidc_state="))
        .expect("the state cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/console/oidc"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    started.location.unwrap()
}

/// The whole flow in `browser` as `email`: the callback's page.
async fn sign_in_with_provider(browser: &mut Browser, email: &str) -> Page {
    let authorize = start(browser).await;
    let params = query_of(&authorize);
    assert_eq!(params["response_type"], "code");
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["scope"], "openid email");
    assert_eq!(
        params["redirect_uri"],
        "http://localhost:8080/console/oidc/callback"
    );
    assert_ne!(params["state"], params["nonce"]);
    let back = at_provider(&authorize, email, "allow").await;
    browser.get(&path_of(&back)).await
}

fn signed_in(browser: &Browser) -> bool {
    browser.cookies.contains_key("nudge_session")
}

#[tokio::test]
async fn a_person_signs_in_with_the_provider_and_the_identity_is_linked() {
    let (app, _) = app_with_provider().await;
    let email = account(&app, &app.tenant_id, "care_agent").await;
    let mut browser = Browser::new(&app);
    let page = browser.get("/console/sign-in").await;
    assert!(
        page.body.contains("Sign in with Sandbox ID"),
        "{}",
        page.body
    );

    let done = sign_in_with_provider(&mut browser, &email.to_uppercase()).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/console"));
    assert!(signed_in(&browser));
    assert!(!browser.cookies.contains_key("nudge_oidc_state"), "spent");
    let home = browser.get("/console").await;
    assert!(home.body.contains(&email), "{}", home.body);

    let mut conn = app.db.connect().await;
    let user = nudge_db::console::find_user_by_email(&mut conn, &email)
        .await
        .unwrap()
        .unwrap();
    let linked = nudge_db::console::oidc::identities_of(&mut conn, user.id)
        .await
        .unwrap();
    assert_eq!(linked.len(), 1);
    assert!(linked[0].0.ends_with("/oidc"));

    // Again, in another browser: the same identity, the same account.
    let mut again = Browser::new(&app);
    assert_eq!(sign_in_with_provider(&mut again, &email).await.status, 303);
    let linked = nudge_db::console::oidc::identities_of(&mut conn, user.id)
        .await
        .unwrap();
    assert_eq!(linked.len(), 1);
    // The password still works too.
    assert_eq!(
        Browser::new(&app).sign_in(&email, PASSWORD).await.status,
        303
    );
}

#[tokio::test]
async fn an_address_without_an_account_is_not_signed_in() {
    let (app, _) = app_with_provider().await;
    let mut browser = Browser::new(&app);
    let stranger = new_address("stranger");
    let page = sign_in_with_provider(&mut browser, &stranger).await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("No Nudge account uses this address"));
    assert!(!signed_in(&browser));
    let mut conn = app.db.connect().await;
    assert!(nudge_db::console::find_user_by_email(&mut conn, &stranger)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn the_answer_must_come_back_to_the_browser_that_asked_and_only_once() {
    let (app, _) = app_with_provider().await;
    let email = account(&app, &app.tenant_id, "owner").await;

    // Begun in one browser, finished in another (a login CSRF): refused.
    let mut victim = Browser::new(&app);
    let authorize = start(&mut Browser::new(&app)).await;
    let back = at_provider(&authorize, &email, "allow").await;
    let page = victim.get(&path_of(&back)).await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(!signed_in(&victim));

    // The right browser, a state that is not its own: refused.
    let mut browser = Browser::new(&app);
    let authorize = start(&mut browser).await;
    let back = at_provider(&authorize, &email, "allow").await;
    let forged = back.replace(&query_of(&back)["state"], "forged-state");
    assert_eq!(browser.get(&path_of(&forged)).await.status, 403);

    // Used once, then spent.
    let authorize = start(&mut browser).await;
    let back = at_provider(&authorize, &email, "allow").await;
    let state_cookie = browser.cookies["nudge_oidc_state"].clone();
    assert_eq!(browser.get(&path_of(&back)).await.status, 303);
    browser.cookies.remove("nudge_session");
    browser
        .cookies
        .insert("nudge_oidc_state".into(), state_cookie);
    let replay = browser.get(&path_of(&back)).await;
    assert_eq!(replay.status, 403, "{}", replay.body);
    assert!(!signed_in(&browser));

    // A code already exchanged, under a fresh state: the provider refuses it.
    let authorize = start(&mut browser).await;
    let fresh_state = query_of(&authorize)["state"].clone();
    let old = query_of(&back);
    let replayed_code = format!(
        "/console/oidc/callback?code={}&state={fresh_state}",
        old["code"]
    );
    let page = browser.get(&replayed_code).await;
    assert_eq!(page.status, 401, "{}", page.body);
    assert!(!signed_in(&browser));
}

#[tokio::test]
async fn id_tokens_not_to_trust_are_refused() {
    let (app, sandbox) = app_with_provider().await;
    let email = account(&app, &app.tenant_id, "owner").await;
    let cases = [
        json!({"aud": "another-client"}),
        json!({"iss": "https://evil.example"}),
        json!({"nonce": "another-nonce"}),
        json!({"expired_seconds_ago": 600}),
        json!({"email_verified": false}),
        json!({"corrupt_signature": true}),
        json!({"kid": "a-key-nobody-published"}),
    ];
    let http = reqwest::Client::new();
    for tampering in cases {
        let set = http
            .post(format!("{sandbox}/oidc/sandbox/next-id-token"))
            .json(&tampering)
            .send()
            .await
            .unwrap();
        assert_eq!(set.status(), 204);
        let mut browser = Browser::new(&app);
        let page = sign_in_with_provider(&mut browser, &email).await;
        assert_eq!(page.status, 401, "{tampering}: {}", page.body);
        assert!(page.body.contains("You are not signed in"), "{tampering}");
        assert!(!signed_in(&browser), "{tampering}");
    }
    // And the same flow with an honest token works.
    let mut browser = Browser::new(&app);
    assert_eq!(
        sign_in_with_provider(&mut browser, &email).await.status,
        303
    );
}

#[tokio::test]
async fn a_cancelled_sign_in_changes_nothing() {
    let (app, _) = app_with_provider().await;
    let email = account(&app, &app.tenant_id, "owner").await;
    let mut browser = Browser::new(&app);
    let authorize = start(&mut browser).await;
    let back = at_provider(&authorize, &email, "deny").await;
    assert_eq!(query_of(&back)["error"], "access_denied");
    let page = browser.get(&path_of(&back)).await;
    assert_eq!(page.status, 401, "{}", page.body);
    assert!(page.body.contains("cancelled"));
    assert!(!signed_in(&browser));
}

#[tokio::test]
async fn an_account_never_confirmed_loses_the_password_someone_else_may_have_chosen() {
    let (app, _) = app_with_provider().await;
    // Someone signs up with an address that is not theirs, and never confirms it.
    let email = new_address("squatted");
    let mut squatter = Browser::new(&app);
    assert_eq!(
        squatter
            .sign_up("Squat Shop", &email, PASSWORD)
            .await
            .status,
        200
    );
    // The address's owner signs in with the provider, which vouches for the address.
    let mut owner = Browser::new(&app);
    assert_eq!(sign_in_with_provider(&mut owner, &email).await.status, 303);
    // The squatter's password no longer opens the account.
    let page = squatter.sign_in(&email, PASSWORD).await;
    assert_eq!(page.status, 401, "{}", page.body);
}

#[tokio::test]
async fn without_a_provider_there_is_no_provider_sign_in() {
    let app = crate::helpers::spawn_app().await;
    let mut browser = Browser::new(&app);
    let page = browser.get("/console/sign-in").await;
    assert!(!page.body.contains("/console/oidc/start"));
    assert_eq!(browser.get("/console/oidc/start").await.status, 404);
    assert_eq!(
        browser
            .get("/console/oidc/callback?code=x&state=y")
            .await
            .status,
        404
    );
}
