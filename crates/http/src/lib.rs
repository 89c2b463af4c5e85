//! Reading what an upstream answers (Twilio's pages, a search provider's results, an
//! identity provider's discovery document and keys) within a bound. An upstream that
//! is broken, hijacked or hostile could otherwise answer gigabytes into our memory:
//! each caller names the most it will read, and more is an error, never a truncation
//! that parses as something else.

/// Why an answer could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Longer than the caller's bound (announced or as read): not read further.
    #[error("the answer is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// The connection broke or timed out while reading.
    #[error("reading the answer failed: {0}")]
    Transport(#[source] reqwest::Error),
}

/// Reads the body of `response`, at most `limit` bytes.
pub async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, ReadError> {
    let announced = response.content_length().unwrap_or(0);
    if announced > u64::try_from(limit).unwrap_or(u64::MAX) {
        return Err(ReadError::TooLarge { limit });
    }
    let mut body = Vec::with_capacity(usize::try_from(announced).unwrap_or(0));
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ReadError::Transport(e.without_url()))?
    {
        if body.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server answering `body`, and its answer (the server must outlive the read).
    async fn answer(body: Vec<u8>) -> (wiremock::MockServer, reqwest::Response) {
        let server = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::any())
            .respond_with(wiremock::ResponseTemplate::new(200).set_body_bytes(body))
            .mount(&server)
            .await;
        let response = reqwest::get(server.uri()).await.unwrap();
        (server, response)
    }

    #[tokio::test]
    async fn an_answer_within_the_bound_is_read_whole() {
        let (_server, response) = answer(vec![b'x'; 1_000]).await;
        let body = read_limited(response, 1_000).await.unwrap();
        assert_eq!(body.len(), 1_000);
    }

    #[tokio::test]
    async fn a_longer_answer_is_refused_not_truncated() {
        let (_server, response) = answer(vec![b'x'; 1_001]).await;
        let error = read_limited(response, 1_000).await.unwrap_err();
        assert!(
            matches!(error, ReadError::TooLarge { limit: 1_000 }),
            "{error}"
        );
    }
}
