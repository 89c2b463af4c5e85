//! Dead-letter queues: find a queue's DLQ from its redrive policy, look at what is in it
//! without consuming it, and move messages back to the source queue after a fix.
//!
//! SQS has no "peek": a message is read by receiving it, which hides it for a visibility
//! timeout. Listing therefore receives with a short hold (so that the next receive
//! returns other messages), then makes everything it saw visible again at once.
//! Redriving sends a copy to the source queue *before* deleting the original from the
//! DLQ, so a failure in between duplicates a message instead of losing it; Nudge's
//! consumers already treat a redelivery as harmless.

use std::time::Duration;

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use chrono::{DateTime, Utc};

use crate::sqs::{error_text, string_attribute};
use crate::{QueueError, SqsQueue, TRACEPARENT_ATTRIBUTE};

/// How long a listed or redriven message stays hidden while the command runs: long
/// enough to page through a DLQ without seeing a message twice.
const HOLD: Duration = Duration::from_secs(60);
/// Long poll per receive: a short poll samples only some SQS servers and can answer
/// "empty" while messages remain.
const RECEIVE_WAIT: Duration = Duration::from_secs(1);

/// A message sitting in a dead-letter queue.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub message_id: String,
    pub body: String,
    /// Receives so far: those on the source queue plus this look.
    pub receive_count: u32,
    /// When it was first sent to the source queue.
    pub sent_at: Option<DateTime<Utc>>,
    pub traceparent: Option<String>,
    receipt_handle: String,
}

/// What a redrive did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RedriveReport {
    /// Back on the source queue and gone from the DLQ.
    pub moved: Vec<String>,
    /// Left in the DLQ because the selection did not take them.
    pub kept: usize,
    /// Sent back, but could not be deleted from the DLQ: they are in both queues now
    /// (harmless for Nudge's consumers; delete them from the DLQ by hand if you like).
    pub duplicated: Vec<String>,
    /// Why the redrive stopped early (the source queue refused a message); what was
    /// not moved yet is left in the DLQ, visible again.
    pub stopped_by: Option<String>,
}

impl SqsQueue {
    /// This queue's dead-letter queue, from its `RedrivePolicy`; `None` if it has none.
    pub async fn dead_letter_queue(&self) -> Result<Option<SqsQueue>, QueueError> {
        let url = self.url().await?;
        let attributes = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::RedrivePolicy)
            .send()
            .await
            .map_err(|e| self.call_error("GetQueueAttributes", error_text(&e)))?
            .attributes
            .unwrap_or_default();
        let Some(policy) = attributes.get(&QueueAttributeName::RedrivePolicy) else {
            return Ok(None);
        };
        let name = dead_letter_target_name(policy).ok_or_else(|| {
            self.call_error(
                "GetQueueAttributes",
                format!("unreadable RedrivePolicy: {policy}"),
            )
        })?;
        Ok(Some(SqsQueue::new(self.client.clone(), &name)))
    }

    /// Up to `max` messages of this queue, left on it (visible again when this returns).
    pub async fn peek(&self, max: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let seen = self.receive_held(max).await?;
        self.release_all(&seen).await;
        Ok(seen)
    }

    /// Moves the messages of this dead-letter queue that `select` takes (at most `max`
    /// looked at) back to `source`.
    pub async fn redrive_to(
        &self,
        source: &SqsQueue,
        max: usize,
        select: impl Fn(&DeadLetter) -> bool,
    ) -> Result<RedriveReport, QueueError> {
        let seen = self.receive_held(max).await?;
        let mut report = RedriveReport::default();
        let mut kept = Vec::new();
        let mut pending = seen.into_iter();
        while let Some(letter) = pending.next() {
            if !select(&letter) {
                kept.push(letter);
                continue;
            }
            if let Err(error) = source
                .send_one(&letter.body, letter.traceparent.as_deref())
                .await
            {
                // This one and the rest stay in the DLQ, visible again at once.
                report.stopped_by = Some(error.to_string());
                kept.push(letter);
                kept.extend(pending);
                break;
            }
            match self.delete(&letter.receipt_handle).await {
                Ok(()) => report.moved.push(letter.message_id),
                Err(_) => report.duplicated.push(letter.message_id),
            }
        }
        report.kept = kept.len();
        self.release_all(&kept).await;
        Ok(report)
    }

    /// Receives up to `max` messages, each hidden for [`HOLD`], until the queue answers
    /// empty.
    async fn receive_held(&self, max: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let url = self.url().await?;
        let mut seen: Vec<DeadLetter> = Vec::new();
        while seen.len() < max {
            let want = (max - seen.len()).min(crate::MAX_BATCH);
            let received = self
                .client
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(i32::try_from(want).unwrap_or(10))
                .wait_time_seconds(i32::try_from(RECEIVE_WAIT.as_secs()).unwrap_or(1))
                .visibility_timeout(i32::try_from(HOLD.as_secs()).unwrap_or(60))
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names(TRACEPARENT_ATTRIBUTE)
                .send()
                .await;
            let messages = match received {
                Ok(output) => output.messages.unwrap_or_default(),
                Err(e) => {
                    self.release_all(&seen).await;
                    return Err(self.call_error("ReceiveMessage", error_text(&e)));
                }
            };
            if messages.is_empty() {
                break;
            }
            for message in messages {
                let system = message.attributes.unwrap_or_default();
                let (Some(message_id), Some(receipt_handle)) =
                    (message.message_id, message.receipt_handle)
                else {
                    continue;
                };
                // The same message twice means SQS redelivered it during our hold
                // (a very slow listing): keep the newest handle, count it once.
                seen.retain(|s| s.message_id != message_id);
                seen.push(DeadLetter {
                    message_id,
                    receipt_handle,
                    body: message.body.unwrap_or_default(),
                    receive_count: system
                        .get(&MessageSystemAttributeName::ApproximateReceiveCount)
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0),
                    sent_at: system
                        .get(&MessageSystemAttributeName::SentTimestamp)
                        .and_then(|ms| ms.parse::<i64>().ok())
                        .and_then(DateTime::from_timestamp_millis),
                    traceparent: message
                        .message_attributes
                        .as_ref()
                        .and_then(|a| a.get(TRACEPARENT_ATTRIBUTE))
                        .and_then(|v| v.string_value.clone()),
                });
            }
        }
        Ok(seen)
    }

    /// Makes held messages visible again; a failure only delays them by [`HOLD`].
    async fn release_all(&self, letters: &[DeadLetter]) {
        for letter in letters {
            let _ = self.change_visibility(&letter.receipt_handle, 0).await;
        }
    }

    async fn send_one(&self, body: &str, traceparent: Option<&str>) -> Result<(), QueueError> {
        let url = self.url().await?;
        let mut request = self.client.send_message().queue_url(url).message_body(body);
        if let Some(traceparent) = traceparent {
            request =
                request.message_attributes(TRACEPARENT_ATTRIBUTE, string_attribute(traceparent)?);
        }
        request
            .send()
            .await
            .map_err(|e| self.call_error("SendMessage", error_text(&e)))?;
        Ok(())
    }
}

/// The queue name at the end of a redrive policy's `deadLetterTargetArn`
/// (`arn:aws:sqs:region:account:name`).
fn dead_letter_target_name(policy: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct RedrivePolicy {
        #[serde(rename = "deadLetterTargetArn")]
        dead_letter_target_arn: String,
    }
    let arn = serde_json::from_str::<RedrivePolicy>(policy)
        .ok()?
        .dead_letter_target_arn;
    let name = arn.rsplit(':').next()?;
    (arn.starts_with("arn:") && !name.is_empty()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::dead_letter_target_name;

    #[test]
    fn the_dead_letter_queue_is_named_by_the_policy_arn() {
        let policy = r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:outbound-sms-dlq","maxReceiveCount":"5"}"#;
        assert_eq!(
            dead_letter_target_name(policy).as_deref(),
            Some("outbound-sms-dlq")
        );
        let spaced =
            r#"{ "maxReceiveCount": 5, "deadLetterTargetArn": "arn:aws:sqs:eu-west-1:1:q-dlq" }"#;
        assert_eq!(dead_letter_target_name(spaced).as_deref(), Some("q-dlq"));
        assert_eq!(dead_letter_target_name(r#"{"maxReceiveCount":"5"}"#), None);
        assert_eq!(
            dead_letter_target_name(r#"{"deadLetterTargetArn":"q"}"#),
            None
        );
    }
}
