use std::time::Duration;

use aws_sdk_sqs::types::{
    MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client;
use tokio::sync::OnceCell;

use crate::TRACEPARENT_ATTRIBUTE;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue '{queue}' could not be resolved: {message}")]
    Resolve { queue: String, message: String },
    #[error("SQS {operation} failed on '{queue}': {message}")]
    Call {
        operation: &'static str,
        queue: String,
        message: String,
    },
}

/// One message to send; `entry_id` identifies it in the batch's result.
#[derive(Debug, Clone)]
pub struct OutgoingMessage {
    pub entry_id: String,
    pub body: String,
    pub traceparent: Option<String>,
}

/// An entry of a batch that SQS did not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchFailure {
    pub entry_id: String,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct ReceivedMessage {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    /// How many times SQS has handed this message out, this time included.
    pub receive_count: u32,
    pub traceparent: Option<String>,
}

/// A queue's approximate message counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Waiting to be received.
    pub visible: u64,
    /// Received and not yet deleted (being processed, or waiting for a retry).
    pub in_flight: u64,
    /// Sent with a delay that has not passed.
    pub delayed: u64,
}

/// An SQS queue, named by its queue name or its full URL.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    pub(crate) client: Client,
    name: String,
    url: std::sync::Arc<OnceCell<String>>,
}

impl SqsQueue {
    /// `name_or_url` is a queue name (resolved with GetQueueUrl on first use, so a
    /// service can start before its queue is reachable) or a full queue URL.
    pub fn new(client: Client, name_or_url: &str) -> Self {
        let url = OnceCell::new();
        if name_or_url.starts_with("http://") || name_or_url.starts_with("https://") {
            // Cannot fail: the cell is new.
            let _ = url.set(name_or_url.to_owned());
        }
        Self {
            client,
            name: name_or_url.to_owned(),
            url: std::sync::Arc::new(url),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub async fn url(&self) -> Result<&str, QueueError> {
        self.url
            .get_or_try_init(|| async {
                let output = self
                    .client
                    .get_queue_url()
                    .queue_name(&self.name)
                    .send()
                    .await
                    .map_err(|e| QueueError::Resolve {
                        queue: self.name.clone(),
                        message: error_text(&e),
                    })?;
                output.queue_url.ok_or_else(|| QueueError::Resolve {
                    queue: self.name.clone(),
                    message: "no URL in GetQueueUrl's answer".into(),
                })
            })
            .await
            .map(String::as_str)
    }

    pub(crate) fn call_error(&self, operation: &'static str, message: String) -> QueueError {
        QueueError::Call {
            operation,
            queue: self.name.clone(),
            message,
        }
    }

    /// Sends up to ten messages in one call. `Ok` lists the entries SQS refused (the
    /// others are on the queue); `Err` means the call as a whole failed.
    pub async fn send_batch(
        &self,
        messages: &[OutgoingMessage],
    ) -> Result<Vec<BatchFailure>, QueueError> {
        let url = self.url().await?;
        let mut request = self.client.send_message_batch().queue_url(url);
        for message in messages {
            let mut entry = SendMessageBatchRequestEntry::builder()
                .id(&message.entry_id)
                .message_body(&message.body);
            if let Some(traceparent) = &message.traceparent {
                entry =
                    entry.message_attributes(TRACEPARENT_ATTRIBUTE, string_attribute(traceparent)?);
            }
            request = request.entries(
                entry
                    .build()
                    .map_err(|e| self.call_error("SendMessageBatch", e.to_string()))?,
            );
        }
        let output = request
            .send()
            .await
            .map_err(|e| self.call_error("SendMessageBatch", error_text(&e)))?;
        Ok(output
            .failed
            .into_iter()
            .map(|entry| BatchFailure {
                entry_id: entry.id,
                reason: format!("{}: {}", entry.code, entry.message.unwrap_or_default()),
            })
            .collect())
    }

    /// Long-polls for up to `max` messages, waiting up to `wait` for the first one.
    pub async fn receive(
        &self,
        max: i32,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        let url = self.url().await?;
        let output = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(max)
            .wait_time_seconds(i32::try_from(wait.as_secs()).unwrap_or(20))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_attribute_names(TRACEPARENT_ATTRIBUTE)
            .send()
            .await
            .map_err(|e| self.call_error("ReceiveMessage", error_text(&e)))?;
        Ok(output
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|message| {
                let receive_count = message
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                let traceparent = message
                    .message_attributes
                    .as_ref()
                    .and_then(|a| a.get(TRACEPARENT_ATTRIBUTE))
                    .and_then(|v| v.string_value.clone());
                Some(ReceivedMessage {
                    message_id: message.message_id?,
                    receipt_handle: message.receipt_handle?,
                    body: message.body.unwrap_or_default(),
                    receive_count,
                    traceparent,
                })
            })
            .collect())
    }

    pub async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError> {
        let url = self.url().await?;
        self.client
            .delete_message()
            .queue_url(url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(|e| self.call_error("DeleteMessage", error_text(&e)))?;
        Ok(())
    }

    /// Makes the message visible again after `seconds` (0: at once).
    pub async fn change_visibility(
        &self,
        receipt_handle: &str,
        seconds: u32,
    ) -> Result<(), QueueError> {
        let url = self.url().await?;
        self.client
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(i32::try_from(seconds).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| self.call_error("ChangeMessageVisibility", error_text(&e)))?;
        Ok(())
    }

    /// How many messages the queue holds, by state (SQS's approximate counts).
    pub async fn depth(&self) -> Result<QueueDepth, QueueError> {
        let url = self.url().await?;
        let attributes = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(|e| self.call_error("GetQueueAttributes", error_text(&e)))?
            .attributes
            .unwrap_or_default();
        let count = |name: QueueAttributeName| {
            attributes
                .get(&name)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Ok(QueueDepth {
            visible: count(QueueAttributeName::ApproximateNumberOfMessages),
            in_flight: count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
            delayed: count(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
        })
    }

    /// A cheap call that proves the queue is reachable (for readiness checks).
    pub async fn check(&self) -> Result<(), QueueError> {
        let url = self.url().await?;
        self.client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(|e| self.call_error("GetQueueAttributes", error_text(&e)))?;
        Ok(())
    }
}

pub(crate) fn string_attribute(value: &str) -> Result<MessageAttributeValue, QueueError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| QueueError::Call {
            operation: "SendMessageBatch",
            queue: String::new(),
            message: e.to_string(),
        })
}

/// The SDK's `Display` of an error says only "service error"; the debug chain says what.
pub(crate) fn error_text<E: std::error::Error>(error: &E) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
