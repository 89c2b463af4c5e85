//! The console's browser scripts (`tests/browser/*.mjs`): Debian's Chromium driven by
//! playwright-core, which `./nudge test` installs.

use std::path::{Path, PathBuf};
use std::process::Command;

fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser")
}

/// Runs `node tests/browser/{script} {args...}` off the test's runtime; fails the test
/// with the script's output (which says where its screenshot is) when it fails, and
/// says what to run when Chromium or playwright-core is missing.
pub async fn run_browser_script(script: &'static str, args: Vec<String>) {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let dir = scripts_dir();
    assert!(
        Path::new(&chromium).exists() && dir.join("node_modules/playwright-core").exists(),
        "Chromium ({chromium}) or playwright-core is missing: run ./nudge test, which installs them"
    );
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .current_dir(&dir)
            .arg(script)
            .args(args)
            .output()
            .expect("run node")
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
