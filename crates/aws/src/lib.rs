//! The AWS pieces every service shares, apart from any one service's use of them: the
//! SDK configuration ([`load_config`]) and the S3 bucket of MMS images
//! ([`media_store`]). Queues are `nudge-queue`'s; Kinesis is cdc-streamer's own.

pub mod media_store;

pub use aws_config::SdkConfig;

/// The AWS SDK configuration every service uses: the SDK's own environment and
/// credential chain (`AWS_ENDPOINT_URL`, `AWS_REGION`, ...), plus timeouts, so that an
/// endpoint that accepts connections and never answers cannot hang a worker or hold
/// the outbox relay's row locks. An attempt may last longer than SQS's 20 s long poll.
pub async fn load_config() -> SdkConfig {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(3))
        .operation_attempt_timeout(std::time::Duration::from_secs(30))
        .operation_timeout(std::time::Duration::from_secs(90))
        .build();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts)
        .load()
        .await
}
