//! Password reset by an emailed 6-digit code: short-lived, few guesses, the same answer
//! for every address, and every session ended when it works.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nudge_db::schema::{console_emails, console_reset_codes};

use super::browser::{emails_to, new_address, Browser, Page};
use crate::helpers::{spawn_app, TestApp};

const OLD: &str = "correct horse battery staple";
const NEW: &str = "a brand new passphrase";

/// An account made by the operator command (confirmed), in the test's tenant.
async fn account(app: &TestApp) -> String {
    let email = new_address("reset");
    let mut conn = app.db.connect().await;
    messaging_api::admin::create_console_user(
        &mut conn,
        app.tenant_id.parse().unwrap(),
        &email,
        "marketer",
        OLD.into(),
    )
    .await
    .unwrap();
    email
}

pub(super) async fn ask_for_code(browser: &mut Browser, email: &str) -> Page {
    let csrf = browser.get("/console/password-reset").await.csrf();
    browser
        .post(
            "/console/password-reset",
            &[("csrf", &csrf), ("email", email)],
        )
        .await
}

pub(super) async fn try_code(
    browser: &mut Browser,
    email: &str,
    code: &str,
    password: &str,
) -> Page {
    let csrf = browser.get("/console/password-reset").await.csrf();
    browser
        .post(
            "/console/password-reset/confirm",
            &[
                ("csrf", &csrf),
                ("email", email),
                ("code", code),
                ("password", password),
            ],
        )
        .await
}

/// The code in the latest of `count` emails to `email`.
pub(super) async fn code_in_email(email: &str, count: usize) -> String {
    let sent = emails_to(email, count).await;
    let subject = sent[count - 1]["Subject"].as_str().unwrap();
    let code = subject.split_whitespace().next().unwrap().to_owned();
    assert!(
        code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
        "{subject}"
    );
    code
}

#[tokio::test]
async fn a_code_from_the_email_sets_a_new_password_once_and_signs_out_everywhere() {
    let app = spawn_app().await;
    let email = account(&app).await;
    let mut laptop = Browser::new(&app);
    assert_eq!(laptop.sign_in(&email, OLD).await.status, 303);

    let mut phone = Browser::new(&app);
    let page = ask_for_code(&mut phone, &email).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("we have emailed it a 6-digit code"),
        "{}",
        page.body
    );
    let code = code_in_email(&email, 1).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };

    let page = try_code(&mut phone, &email, wrong, NEW).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(
        page.body.contains("That code is not right"),
        "{}",
        page.body
    );
    let page = try_code(&mut phone, &email, &code, "short").await;
    assert_eq!(
        page.status, 422,
        "a bad new password spends no guess: {}",
        page.body
    );

    let page = try_code(&mut phone, &email, &code, NEW).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("Your password is changed"),
        "{}",
        page.body
    );

    assert_eq!(
        laptop.get("/console").await.status,
        303,
        "the laptop's session ended"
    );
    assert_eq!(phone.sign_in(&email, OLD).await.status, 401);
    assert_eq!(phone.sign_in(&email, NEW).await.status, 303);
    // Used once: the same code changes nothing again.
    assert_eq!(
        try_code(&mut phone, &email, &code, "yet another passphrase")
            .await
            .status,
        400
    );
    assert_eq!(Browser::new(&app).sign_in(&email, NEW).await.status, 303);
}

#[tokio::test]
async fn an_unknown_address_gets_the_same_page_and_no_email() {
    let app = spawn_app().await;
    let known = account(&app).await;
    let unknown = new_address("nobody");
    let mut browser = Browser::new(&app);
    let for_known = ask_for_code(&mut browser, &known).await;
    let for_unknown = ask_for_code(&mut browser, &unknown).await;
    assert_eq!(for_known.status, for_unknown.status);
    assert_eq!(
        for_known.body.replace(&known, "ADDRESS"),
        for_unknown.body.replace(&unknown, "ADDRESS")
    );
    let page = try_code(&mut browser, &unknown, "123456", NEW).await;
    assert_eq!(page.status, 400);
    assert!(
        page.body.contains("That code is not right"),
        "{}",
        page.body
    );

    let mut conn = app.db.connect().await;
    let to_unknown: i64 = console_emails::table
        .filter(console_emails::to_address.eq(&unknown))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(to_unknown, 0);
}

#[tokio::test]
async fn five_wrong_guesses_or_fifteen_minutes_spend_a_code() {
    let app = spawn_app().await;
    let email = account(&app).await;
    let mut browser = Browser::new(&app);
    ask_for_code(&mut browser, &email).await;
    let code = code_in_email(&email, 1).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        assert_eq!(try_code(&mut browser, &email, wrong, NEW).await.status, 400);
    }
    assert_eq!(
        try_code(&mut browser, &email, &code, NEW).await.status,
        400,
        "spent"
    );
    assert_eq!(browser.sign_in(&email, OLD).await.status, 303, "unchanged");

    // A new code works until it expires.
    ask_for_code(&mut browser, &email).await;
    let code = code_in_email(&email, 2).await;
    let mut conn = app.db.connect().await;
    diesel::update(console_reset_codes::table.filter(console_reset_codes::used_at.is_null()))
        .set(console_reset_codes::expires_at.eq(chrono::Utc::now() - chrono::Duration::seconds(1)))
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        try_code(&mut browser, &email, &code, NEW).await.status,
        400,
        "expired"
    );
    assert_eq!(browser.sign_in(&email, OLD).await.status, 303, "unchanged");
}

#[tokio::test]
async fn new_codes_do_not_buy_new_guesses_past_ten_a_day() {
    let app = spawn_app().await;
    let email = account(&app).await;
    let mut browser = Browser::new(&app);
    for round in 1..=2 {
        ask_for_code(&mut browser, &email).await;
        let code = code_in_email(&email, round).await;
        let wrong = if code == "000000" { "111111" } else { "000000" };
        for _ in 0..5 {
            assert_eq!(try_code(&mut browser, &email, wrong, NEW).await.status, 400);
        }
    }
    // A third code, the right one typed: the day's ten guesses at this account are spent.
    ask_for_code(&mut browser, &email).await;
    let code = code_in_email(&email, 3).await;
    let refused = try_code(&mut browser, &email, &code, NEW).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(browser.sign_in(&email, OLD).await.status, 303, "unchanged");
}
