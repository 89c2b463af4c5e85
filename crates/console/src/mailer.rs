//! Delivers the console's queued emails through Amazon SES (LocalStack's in
//! development) or an SMTP server (`CONSOLE_EMAIL_TRANSPORT`). Emails are rows written
//! with the change that needs them, so a failed or slow transport never fails a
//! sign-up and a crash loses nothing: whatever is due is sent on the next pass, by
//! whichever API replica takes it first.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ses::types::{Body, Content, Destination, Message};
use nudge_db::models::ConsoleEmail;
use nudge_db::DbPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Emails taken per pass, and how long one replica holds them while sending.
const BATCH: i64 = 20;
const LEASE_SECONDS: i64 = 60;
/// Looks for due emails this often when nothing wakes it.
const POLL: Duration = Duration::from_secs(5);
/// Attempts before an email is given up (`failed`, with SES's last answer kept).
const MAX_ATTEMPTS: i32 = 8;

/// Where emails leave through.
pub enum Transport {
    Ses(aws_sdk_ses::Client),
    Smtp(lettre::AsyncSmtpTransport<lettre::Tokio1Executor>),
}

impl Transport {
    /// The transport the configuration names.
    pub fn new(
        setting: &crate::config::EmailTransportSetting,
        aws: &aws_config::SdkConfig,
    ) -> anyhow::Result<Self> {
        Ok(match setting {
            crate::config::EmailTransportSetting::Ses => Self::Ses(aws_sdk_ses::Client::new(aws)),
            crate::config::EmailTransportSetting::Smtp(url) => Self::Smtp(
                lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(
                    secrecy::ExposeSecret::expose_secret(url),
                )
                // lettre's error names the problem, not the URL.
                .map_err(|e| anyhow::anyhow!("CONSOLE_SMTP_URL: {e}"))?
                .timeout(Some(Duration::from_secs(20)))
                .build(),
            ),
        })
    }
}

pub struct Mailer {
    pub pool: DbPool,
    pub transport: Transport,
    pub from: String,
}

impl Mailer {
    pub async fn run(self, wakeup: Arc<Notify>, stop: CancellationToken) {
        loop {
            if let Err(error) = self.deliver_due().await {
                tracing::warn!(%error, "could not read the console's email queue; will retry");
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = wakeup.notified() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// Sends what is due; returns how many were sent.
    pub async fn deliver_due(&self) -> Result<usize, nudge_db::DbError> {
        let mut sent = 0;
        loop {
            let due = {
                let mut conn = self.pool.get().await?;
                nudge_db::console::take_due_emails(
                    &mut conn,
                    BATCH,
                    chrono::Duration::seconds(LEASE_SECONDS),
                )
                .await?
            };
            if due.is_empty() {
                return Ok(sent);
            }
            for email in due {
                if self.deliver(&email).await? {
                    sent += 1;
                }
            }
        }
    }

    async fn deliver(&self, email: &ConsoleEmail) -> Result<bool, nudge_db::DbError> {
        let answer = self.send(email).await;
        let mut conn = self.pool.get().await?;
        match answer {
            Ok(message_id) => {
                nudge_db::console::mark_email_sent(&mut conn, email.id, &message_id).await?;
                tracing::info!(email_id = %email.id, "console email sent");
                Ok(true)
            }
            Err(error) => {
                let attempt = email.attempts + 1;
                let retry_at = (attempt < MAX_ATTEMPTS).then(|| {
                    chrono::Utc::now() + chrono::Duration::seconds(30 * (1_i64 << attempt.min(10)))
                });
                // The address and the body (a single-use link) stay out of the log.
                tracing::warn!(email_id = %email.id, attempt, %error, given_up = retry_at.is_none(), "console email not sent");
                nudge_db::console::mark_email_attempt_failed(&mut conn, email.id, &error, retry_at)
                    .await?;
                Ok(false)
            }
        }
    }

    /// The transport's id of the message, or its refusal in words.
    async fn send(&self, email: &ConsoleEmail) -> Result<String, String> {
        match &self.transport {
            Transport::Ses(ses) => self.send_with_ses(ses, email).await,
            Transport::Smtp(smtp) => self.send_with_smtp(smtp, email).await,
        }
    }

    /// Our `Message-ID`, once the server accepted the message.
    async fn send_with_smtp(
        &self,
        smtp: &lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
        email: &ConsoleEmail,
    ) -> Result<String, String> {
        use lettre::message::{header::ContentType, MultiPart, SinglePart};
        use lettre::AsyncTransport;

        let message_id = format!("<{}@nudge.console>", email.id);
        let message = lettre::Message::builder()
            .from(
                self.from
                    .parse()
                    .map_err(|e| format!("CONSOLE_EMAIL_FROM: {e}"))?,
            )
            .to(email
                .to_address
                .parse()
                .map_err(|e| format!("the address: {e}"))?)
            .subject(&email.subject)
            .message_id(Some(message_id.clone()))
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(email.text_body.clone()),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(email.html_body.clone()),
                    ),
            )
            .map_err(|e| e.to_string())?;
        smtp.send(message)
            .await
            .map_err(|e| e.to_string().chars().take(500).collect::<String>())?;
        Ok(message_id)
    }

    /// SES's message id, or its refusal in words.
    async fn send_with_ses(
        &self,
        ses: &aws_sdk_ses::Client,
        email: &ConsoleEmail,
    ) -> Result<String, String> {
        let content = |text: &str| {
            Content::builder()
                .data(text)
                .charset("UTF-8")
                .build()
                .map_err(|e| e.to_string())
        };
        let message = Message::builder()
            .subject(content(&email.subject)?)
            .body(
                Body::builder()
                    .text(content(&email.text_body)?)
                    .html(content(&email.html_body)?)
                    .build(),
            )
            .build();
        let output = ses
            .send_email()
            .source(&self.from)
            .destination(
                Destination::builder()
                    .to_addresses(&email.to_address)
                    .build(),
            )
            .message(message)
            .send()
            .await
            .map_err(|error| match error.as_service_error() {
                // SES's own answer ("MessageRejected: Email address not verified ...").
                Some(refusal) => refusal.to_string(),
                None => aws_sdk_ses::error::DisplayErrorContext(&error)
                    .to_string()
                    .chars()
                    .take(500)
                    .collect(),
            })?;
        Ok(output.message_id().to_owned())
    }
}
