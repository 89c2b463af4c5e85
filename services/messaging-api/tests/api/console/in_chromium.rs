//! The console in a real browser: `tests/browser/*.mjs` drive Debian's Chromium with
//! playwright-core against the app each test starts. `./nudge test` installs Chromium
//! and the scripts' one dependency; without them these tests fail and say what to run.

use nudge_testkit::run_browser_script;

use super::browser::{account, new_address};
use crate::helpers::spawn_app;

fn ses_url() -> String {
    format!(
        "{}/_aws/ses",
        std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".into())
    )
}

#[tokio::test]
async fn sign_up_confirm_and_sign_in_in_chromium() {
    let app = spawn_app().await;
    let email = new_address("chromium");
    run_browser_script("sign_up.mjs", vec![app.address.clone(), ses_url(), email]).await;
}

#[tokio::test]
async fn password_reset_by_code_in_chromium() {
    let app = spawn_app().await;
    let email = account(&app, &app.tenant_id, "marketer").await;
    run_browser_script(
        "password_reset.mjs",
        vec![app.address.clone(), ses_url(), email],
    )
    .await;
}

#[tokio::test]
async fn an_invited_teammate_joins_in_chromium() {
    let app = spawn_app().await;
    let owner = account(&app, &app.tenant_id, "owner").await;
    let invitee = new_address("invitee");
    run_browser_script(
        "invitation.mjs",
        vec![app.address.clone(), ses_url(), owner, invitee],
    )
    .await;
}
