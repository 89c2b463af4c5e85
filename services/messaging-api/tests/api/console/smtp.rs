//! The console's email over SMTP (`CONSOLE_EMAIL_TRANSPORT=smtp`) instead of SES.

use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nudge_db::schema::console_emails;
use nudge_testkit::SmtpSink;

use super::browser::{new_address, Browser, PASSWORD};
use crate::helpers::{spawn_app_with, Overrides};

#[tokio::test]
async fn sign_up_confirmation_goes_out_over_smtp() {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(|_| Overrides {
        smtp_url: Some(sink.url.clone()),
        ..Overrides::default()
    })
    .await;
    let email = new_address("smtp");
    let mut browser = Browser::new(&app);
    assert_eq!(
        browser.sign_up("Mail Boots", &email, PASSWORD).await.status,
        200
    );
    let message = nudge_testkit::eventually(
        "the email at the SMTP server",
        Duration::from_secs(20),
        || async { sink.messages().into_iter().find(|m| m.contains(&email)) },
    )
    .await;
    assert!(
        message.contains("Subject: Confirm your email for Nudge"),
        "{message}"
    );
    assert!(
        message.contains("multipart/alternative"),
        "text and HTML: {message}"
    );
    // The parts may be quoted-printable (RFC 2045): soft breaks and `=3D` undone.
    let text = message.replace("=\n", "").replace("=3D", "=");
    let link = text
        .split_whitespace()
        .find(|word| word.starts_with("http://localhost:8080/console/verify-email?token="))
        .expect("the link in the text part")
        .to_owned();
    assert_eq!(browser.confirm(&link).await.status, 200);
    assert_eq!(browser.sign_in(&email, PASSWORD).await.status, 303);

    let mut conn = app.db.connect().await;
    let (status, provider_id): (String, Option<String>) = console_emails::table
        .filter(console_emails::to_address.eq(&email))
        .select((console_emails::status, console_emails::provider_message_id))
        .first(&mut conn)
        .await
        .unwrap();
    assert_eq!(status, "sent");
    let provider_id = provider_id.unwrap();
    assert!(provider_id.ends_with("@nudge.console>"), "{provider_id}");
    assert!(
        message.contains(&format!("Message-ID: {provider_id}")),
        "{message}"
    );
}
