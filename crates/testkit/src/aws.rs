use std::collections::HashMap;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::types::QueueAttributeName;

/// SDK config for the shared LocalStack (any credentials work there).
pub fn localstack_config() -> SdkConfig {
    localstack_config_at(
        &std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".into()),
    )
}

/// SDK config for an endpoint of the test's choosing (a [`crate::TcpProxy`], say).
pub fn localstack_config_at(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_sqs::config::SharedCredentialsProvider::new(
            aws_sdk_sqs::config::Credentials::new("test", "test", None, None, "nudge-tests"),
        ))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(30))
                .build(),
        )
        .build()
}

/// Makes the MMS image bucket on the shared LocalStack, if it is not there yet (the
/// test command starts LocalStack without the stack's bootstrap).
pub async fn ensure_media_bucket(name: &str) {
    let config = aws_sdk_s3::config::Builder::from(&localstack_config())
        .force_path_style(true)
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(config);
    if let Err(error) = s3.create_bucket().bucket(name).send().await {
        let code = error
            .as_service_error()
            .and_then(|e| aws_sdk_s3::error::ProvideErrorMetadata::code(e))
            .unwrap_or_default()
            .to_owned();
        assert!(
            code == "BucketAlreadyOwnedByYou" || code == "BucketAlreadyExists",
            "create bucket {name}: {}",
            aws_sdk_s3::error::DisplayErrorContext(&error)
        );
    }
}

pub fn sqs_client() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&localstack_config())
}

/// A queue with a random name and a dead-letter queue behind it.
pub struct TestQueue {
    pub client: aws_sdk_sqs::Client,
    pub name: String,
    pub url: String,
    pub dlq_name: String,
    pub dlq_url: String,
}

impl TestQueue {
    /// `max_receive_count`: receives before SQS moves a message to the DLQ.
    pub async fn new(purpose: &str, max_receive_count: u32) -> Self {
        Self::with_visibility(purpose, max_receive_count, 30).await
    }

    /// As [`TestQueue::new`], with the queue's visibility timeout in seconds.
    pub async fn with_visibility(
        purpose: &str,
        max_receive_count: u32,
        visibility_seconds: u32,
    ) -> Self {
        let client = sqs_client();
        let name = format!("test-{purpose}-{}", uuid::Uuid::new_v4().simple());
        let dlq_name = format!("{name}-dlq");
        let dlq_url = client
            .create_queue()
            .queue_name(&dlq_name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create DLQ on LocalStack (is it running?): {e:?}"))
            .queue_url
            .expect("dlq url");
        let dlq_arn = client
            .get_queue_attributes()
            .queue_url(&dlq_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("dlq arn")
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .expect("dlq arn attribute");
        let redrive = format!(
            r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{max_receive_count}"}}"#
        );
        let url = client
            .create_queue()
            .queue_name(&name)
            .set_attributes(Some(HashMap::from([
                (QueueAttributeName::RedrivePolicy, redrive),
                (
                    QueueAttributeName::VisibilityTimeout,
                    visibility_seconds.to_string(),
                ),
            ])))
            .send()
            .await
            .expect("create queue")
            .queue_url
            .expect("queue url");
        Self {
            client,
            name,
            url,
            dlq_name,
            dlq_url,
        }
    }

    /// Receives what is visible on `url` now (short poll, a few tries), deleting nothing.
    pub async fn peek(&self, url: &str, wait: Duration) -> Vec<aws_sdk_sqs::types::Message> {
        self.client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(i32::try_from(wait.as_secs()).unwrap_or(1))
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive")
            .messages
            .unwrap_or_default()
    }

    /// Everything on `url`, each message received once: read until three polls in a row
    /// find nothing, deleting nothing but hiding each message for ten minutes as it is
    /// received. (With the queue's own visibility timeout a long read would see its
    /// first messages again, and count them twice.)
    pub async fn read_all(&self, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
        let mut all = Vec::new();
        let mut empty_polls = 0;
        while empty_polls < 3 {
            let batch = self
                .client
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .visibility_timeout(600)
                .message_attribute_names("All")
                .send()
                .await
                .expect("receive")
                .messages
                .unwrap_or_default();
            if batch.is_empty() {
                empty_polls += 1;
            } else {
                empty_polls = 0;
                all.extend(batch);
            }
        }
        all
    }

    /// Messages on `url`, visible or in flight (from the queue's attributes: receiving
    /// would hide them).
    pub async fn depth(&self, url: &str) -> u64 {
        let attributes = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .unwrap_or_default();
        attributes
            .values()
            .filter_map(|v| v.parse::<u64>().ok())
            .sum()
    }

    pub async fn send_raw(&self, body: &str) {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .expect("send");
    }
}

impl Drop for TestQueue {
    fn drop(&mut self) {
        let urls = [self.url.clone(), self.dlq_url.clone()];
        crate::clean_up_in_drop(move || async move {
            let client = sqs_client();
            for url in urls {
                let _ = client.delete_queue().queue_url(url).send().await;
            }
        });
    }
}
