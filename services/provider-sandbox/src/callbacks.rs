//! Status callbacks, as Twilio posts them: for each accepted message that asked for
//! them (`StatusCallback`), `sent` and then `delivered` (or `undelivered` / `failed` with
//! an error code for the sandbox's magic numbers), each a signed form with its own
//! `I-Twilio-Idempotency-Token`. A failed post is retried a few times, as Twilio does.

use std::time::Duration;

use rand::RngCore;

use crate::store::{SentMessage, Store};

/// How long after acceptance each status is reported.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    sent_after: Duration,
    final_after: Duration,
}

impl Timing {
    /// `sent` after 100 ms (or at once, for a shorter `final_after`), then the final
    /// status at `final_after`.
    pub fn final_after(final_after: Duration) -> Self {
        Self {
            sent_after: Duration::from_millis(100).min(final_after),
            final_after,
        }
    }
}

const ATTEMPTS: u32 = 3;

/// Sandbox-only numbers whose messages are accepted and then not delivered:
/// (number, final status, error code).
const NOT_DELIVERED: &[(&str, &str, &str)] = &[
    ("+15005559003", "undelivered", "30003"),
    ("+15005559005", "undelivered", "30005"),
    ("+15005559008", "failed", "30008"),
];

/// The final status and error code the sandbox reports for a message sent to `to`.
pub fn final_status(to: &str) -> (&'static str, Option<&'static str>) {
    NOT_DELIVERED
        .iter()
        .find(|(number, _, _)| *number == to)
        .map_or(("delivered", None), |(_, status, code)| {
            (*status, Some(*code))
        })
}

/// Reports `message`'s life to its status callback URL, in the background.
pub fn spawn(
    http: reqwest::Client,
    store: actix_web::web::Data<Store>,
    auth_token: String,
    timing: Timing,
    message: SentMessage,
) {
    let Some(url) = message.status_callback.clone() else {
        return;
    };
    tokio::spawn(async move {
        tokio::time::sleep(timing.sent_after).await;
        store.set_status(&message.sid, "sent");
        post(&http, &url, &auth_token, &message, "sent", None).await;
        tokio::time::sleep(timing.final_after - timing.sent_after).await;
        let (status, error_code) = final_status(&message.to);
        store.set_status(&message.sid, status);
        post(&http, &url, &auth_token, &message, status, error_code).await;
    });
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    auth_token: &str,
    message: &SentMessage,
    status: &str,
    error_code: Option<&str>,
) {
    let mut params: Vec<(String, String)> = [
        ("AccountSid", message.account_sid.as_str()),
        ("ApiVersion", "2010-04-01"),
        ("From", message.from.as_str()),
        ("MessageSid", message.sid.as_str()),
        ("MessageStatus", status),
        ("SmsSid", message.sid.as_str()),
        ("SmsStatus", status),
        ("To", message.to.as_str()),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    if let Some(code) = error_code {
        params.push(("ErrorCode".into(), code.into()));
    }
    let signature = nudge_domain::twilio_signature::sign(auth_token, url, &params);
    let mut token = [0u8; 16];
    rand::rng().fill_bytes(&mut token);
    let token = hex::encode(token);
    for attempt in 1..=ATTEMPTS {
        let sent = http
            .post(url)
            .header("X-Twilio-Signature", &signature)
            .header("I-Twilio-Idempotency-Token", &token)
            .form(&params)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => return,
            Ok(response) => {
                tracing::warn!(status = %response.status(), url, attempt, "status callback refused");
            }
            Err(error) => tracing::warn!(%error, url, attempt, "status callback failed"),
        }
        tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
    }
}
