//! The console in a real browser: `tests/browser/*.mjs` drive Debian's Chromium with
//! playwright-core against the app this test starts. `./nudge test` installs Chromium
//! and the script's one dependency; without them this test fails and says what to run.

use std::process::Command;

use super::browser::new_address;
use crate::helpers::spawn_app;

fn browser_tests_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser")
}

#[tokio::test]
async fn sign_up_confirm_and_sign_in_in_chromium() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let dir = browser_tests_dir();
    assert!(
        std::path::Path::new(&chromium).exists() && dir.join("node_modules/playwright-core").exists(),
        "Chromium ({chromium}) or playwright-core is missing: run ./nudge test, which installs them"
    );
    let app = spawn_app().await;
    let ses = format!(
        "{}/_aws/ses",
        std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".into())
    );
    let email = new_address("chromium");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .current_dir(&dir)
            .args(["sign_up.mjs", &app.address, &ses, &email])
            .output()
            .expect("run node")
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "the browser test failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
