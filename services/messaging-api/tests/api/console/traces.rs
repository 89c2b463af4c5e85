//! No secret of any flow is logged or traced: sign-up and its emailed link, an
//! invitation, a password reset, a provider sign-in, and API calls that create and use
//! keys and signing secrets, all walked while everything the app records is captured
//! (`crate::capture`: every event and span field, at `debug`, and `trace` for Nudge's own
//! crates).

use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use super::browser::{account, emails_to, link_in, new_address, Browser, PASSWORD};
use super::{oidc, reset, team};
use crate::capture;
use crate::helpers::{TestApp, OIDC_CLIENT_SECRET};

/// A query parameter of a URL.
fn param(url: &str, name: &str) -> String {
    oidc::query_of(url)
        .remove(name)
        .unwrap_or_else(|| panic!("no {name} in {url}"))
}

/// Where `secret` shows in `text`, if it does. Reset codes are six digits, which a
/// timestamp's microseconds can be too: those count only as a whole value (quoted,
/// after `=` or `:` or a space), never inside a longer number.
fn found(text: &str, secret: &str) -> Option<String> {
    let at = if secret.len() > 8 {
        text.find(secret)
    } else {
        text.match_indices(secret)
            .find(|(at, _)| {
                let before = text[..*at].chars().next_back();
                let after = text[at + secret.len()..].chars().next();
                matches!(before, Some('"' | '=' | ':' | ' '))
                    && matches!(after, None | Some('"' | '&' | ' ' | ',' | '\n'))
            })
            .map(|(at, _)| at)
    }?;
    let start = text[..at]
        .char_indices()
        .rev()
        .nth(150)
        .map_or(0, |(i, _)| i);
    let end = (at + secret.len() + 150).min(text.len());
    let end = (end..=text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(text.len());
    Some(text[start..end].to_owned())
}

/// Sign-up with a password of its own, then the emailed link: the browser, its
/// address, and the secrets it saw.
async fn sign_up(app: &TestApp, secrets: &mut Vec<(&'static str, String)>) -> Browser {
    let mut owner = Browser::new(app);
    let email = new_address("owner");
    let password = format!("owner passphrase {}", Uuid::new_v4().simple());
    let page = owner.sign_up("Traced Boots", &email, &password).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let link = link_in(&emails_to(&email, 1).await[0]);
    assert_eq!(owner.confirm(&link).await.status, 200);
    assert_eq!(owner.sign_in(&email, &password).await.status, 303);
    secrets.push(("sign-up password", password));
    secrets.push(("email link token", param(&link, "token")));
    owner
}

/// The owner invites a teammate, who joins with a password of their own.
async fn invitation(
    app: &TestApp,
    owner: &mut Browser,
    secrets: &mut Vec<(&'static str, String)>,
) -> Browser {
    let teammate = new_address("agent");
    let link = team::invite(owner, &teammate, "care_agent", 1).await;
    let mut invitee = Browser::new(app);
    let password = format!("teammate passphrase {}", Uuid::new_v4().simple());
    let joined = team::join(&mut invitee, &link, &password).await;
    assert_eq!(joined.status, 303, "{}", joined.body);
    secrets.push(("invitation token", param(&link, "token")));
    secrets.push(("invitee's password", password));
    invitee
}

/// A reset code asked for, then used with a new password.
async fn password_reset(app: &TestApp, secrets: &mut Vec<(&'static str, String)>) -> Browser {
    let email = account(app, &app.tenant_id, "marketer").await;
    let mut browser = Browser::new(app);
    assert_eq!(reset::ask_for_code(&mut browser, &email).await.status, 200);
    let code = reset::code_in_email(&email, 1).await;
    let password = format!("reset passphrase {}", Uuid::new_v4().simple());
    let done = reset::try_code(&mut browser, &email, &code, &password).await;
    assert_eq!(done.status, 200, "{}", done.body);
    secrets.push(("reset code", code));
    secrets.push(("password set by reset", password));
    secrets.push(("operator-set password", PASSWORD.to_owned()));
    browser
}

/// A sign-in at the identity provider, whose code comes back in the callback's query.
async fn provider_sign_in(app: &TestApp, secrets: &mut Vec<(&'static str, String)>) -> Browser {
    let email = account(app, &app.tenant_id, "care_agent").await;
    let mut browser = Browser::new(app);
    let authorize = oidc::start(&mut browser).await;
    let back = oidc::at_provider(&authorize, &email, "allow").await;
    let page = browser.get(&oidc::path_of(&back)).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(browser.cookies.contains_key("nudge_session"), "signed in");
    secrets.push(("OIDC state", param(&authorize, "state")));
    secrets.push(("OIDC nonce", param(&authorize, "nonce")));
    secrets.push(("OIDC code", param(&back, "code")));
    secrets.push(("OIDC client secret", OIDC_CLIENT_SECRET.to_owned()));
    browser
}

/// API calls that create (with an `Idempotency-Key`, and replayed) and use secrets.
async fn api_calls(app: &TestApp, secrets: &mut Vec<(&'static str, String)>) {
    let mut created = Vec::new();
    for _attempt in 0..2 {
        let response = app
            .request(Method::POST, "/v1/api-keys", &app.api_key)
            .header("Idempotency-Key", "traced-key-1")
            .json(&json!({"name": "warehouse"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        created.push(response.json::<Value>().await.unwrap());
    }
    let new_key = created[0]["key"].as_str().unwrap().to_owned();
    let used = app
        .request(Method::GET, "/v1/shops", &new_key)
        .send()
        .await
        .unwrap();
    assert_eq!(used.status(), 200);
    let endpoint: Value = app
        .post(
            "/v1/webhook-endpoints",
            &json!({"url": "https://hooks.example.com/traced", "events": ["message.delivered"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    secrets.push(("API key", app.api_key.clone()));
    secrets.push(("new API key", new_key));
    secrets.push((
        "webhook signing secret",
        endpoint["secret"].as_str().unwrap().to_owned(),
    ));
}

#[tokio::test]
async fn no_secret_of_any_flow_is_logged_or_traced() {
    let (app, _sandbox) = oidc::app_with_provider().await;
    let capture = capture::start();
    let mut secrets = Vec::new();

    let mut owner = sign_up(&app, &mut secrets).await;
    let browsers = [
        invitation(&app, &mut owner, &mut secrets).await,
        password_reset(&app, &mut secrets).await,
        provider_sign_in(&app, &mut secrets).await,
    ];
    api_calls(&app, &mut secrets).await;
    for browser in browsers.iter().chain([&owner]) {
        // Sessions, and the state of a sign-in under way.
        for value in browser.cookies.values().filter(|value| value.len() >= 16) {
            secrets.push(("a cookie's value", value.clone()));
        }
    }

    let text = capture.text();
    // The capture saw the walk: each flow's requests, by route.
    for route in [
        "/console/verify-email",
        "/console/join",
        "/console/password-reset/confirm",
        "/console/oidc/callback",
        "/v1/api-keys",
    ] {
        assert!(
            text.contains(&format!("\"http.route\":\"{route}\"")),
            "no request to {route} was captured"
        );
    }
    for (what, secret) in &secrets {
        assert!(secret.len() >= 6, "{what}: {secret}");
        if let Some(context) = found(&text, secret) {
            panic!("the {what} was recorded: ...{context}...");
        }
    }
}
