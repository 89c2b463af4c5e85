//! The S3 bucket of MMS images, shared by the API (which stores uploads and serves
//! them to the console) and the sender (which hands the provider a time-limited URL).
//! With a custom endpoint (LocalStack in development) objects are addressed by path,
//! since `bucket.localhost` names do not resolve.

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;

#[derive(Debug, thiserror::Error)]
pub enum MediaStoreError {
    #[error("S3 {operation} of {key}: {message}")]
    S3 {
        operation: &'static str,
        key: String,
        message: String,
    },
}

#[derive(Clone)]
pub struct MediaStore {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl MediaStore {
    pub fn new(aws: &aws_config::SdkConfig, bucket: &str) -> Self {
        let config = aws_sdk_s3::config::Builder::from(aws)
            .force_path_style(aws.endpoint_url().is_some())
            .build();
        Self {
            client: aws_sdk_s3::Client::from_conf(config),
            bucket: bucket.to_owned(),
        }
    }

    fn error(operation: &'static str, key: &str, error: impl std::fmt::Display) -> MediaStoreError {
        MediaStoreError::S3 {
            operation,
            key: key.to_owned(),
            message: error.to_string(),
        }
    }

    pub async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), MediaStoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| {
                Self::error("PutObject", key, aws_sdk_s3::error::DisplayErrorContext(e))
            })?;
        Ok(())
    }

    pub async fn get(&self, key: &str) -> Result<Vec<u8>, MediaStoreError> {
        let object = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| {
                Self::error("GetObject", key, aws_sdk_s3::error::DisplayErrorContext(e))
            })?;
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| Self::error("GetObject", key, e))?;
        Ok(bytes.into_bytes().to_vec())
    }

    /// A URL that reads the object for `valid_for`, and then stops working.
    pub async fn presigned_url(
        &self,
        key: &str,
        valid_for: Duration,
    ) -> Result<String, MediaStoreError> {
        let config =
            PresigningConfig::expires_in(valid_for).map_err(|e| Self::error("presign", key, e))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| Self::error("presign", key, aws_sdk_s3::error::DisplayErrorContext(e)))?;
        Ok(request.uri().to_owned())
    }
}
