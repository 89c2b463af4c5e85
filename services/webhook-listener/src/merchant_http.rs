//! Calls to merchants' endpoints (event webhooks, care hand-offs, bot fulfilment):
//! signed with Standard Webhooks, bounded in time, never redirected, and only to
//! targets the [`TargetPolicy`] allows. The policy is applied to the URL and to every
//! address its name resolves to, at each call, so that a name re-pointed at an
//! internal address after it was saved (DNS rebinding) is still refused.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nudge_domain::{standard_webhooks, TargetPolicy};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// A client for merchants' endpoints.
#[derive(Clone)]
pub struct MerchantClient {
    client: reqwest::Client,
    policy: TargetPolicy,
}

/// What came back from one call.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    pub elapsed: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("target refused: {0}")]
    Refused(String),
    #[error("signing failed: {0}")]
    Signing(String),
    #[error("{0}")]
    Transport(String),
}

/// The most of an answer we read (a fulfilment's reply is one SMS).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

impl MerchantClient {
    pub fn new(policy: TargetPolicy, timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Nudge-Webhooks/1")
            .dns_resolver(Arc::new(PolicyResolver { policy }))
            .build()?;
        Ok(Self { client, policy })
    }

    /// Posts `body` (JSON) to `url`, signed with `secret` for the message `id`.
    pub async fn post_signed(
        &self,
        url: &str,
        secret: &str,
        id: &str,
        body: Vec<u8>,
    ) -> Result<Answer, CallError> {
        // Address literals never reach the resolver: check them (and the scheme) here.
        self.policy
            .check_url(url)
            .map_err(|refusal| CallError::Refused(refusal.to_string()))?;
        let timestamp = chrono::Utc::now().timestamp();
        let signature = standard_webhooks::sign(secret, id, timestamp, &body)
            .map_err(|e| CallError::Signing(e.to_string()))?;
        let started = Instant::now();
        let response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        let mut response = response;
        while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(&e))? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_ANSWER_BYTES {
                body.truncate(MAX_ANSWER_BYTES);
                break;
            }
        }
        Ok(Answer {
            status,
            body,
            elapsed: started.elapsed(),
        })
    }
}

/// A transport error in words a merchant can act on, without our internals.
fn transport_error(error: &reqwest::Error) -> CallError {
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    // The resolver's refusal is the useful part of a connect error.
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        let message = inner.to_string();
        if message.contains("refused:") {
            return CallError::Refused(message.replace("refused: ", ""));
        }
        source = inner.source();
    }
    if let Some(url) = error.url() {
        text.push_str(&format!(" ({})", url.host_str().unwrap_or("?")));
    }
    CallError::Transport(text)
}

/// Resolves names as the system does, keeping only addresses the policy allows.
struct PolicyResolver {
    policy: TargetPolicy,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = resolved
                .iter()
                .copied()
                .filter(|addr| policy.check_ip(addr.ip()).is_ok())
                .collect();
            if allowed.is_empty() {
                let shown = resolved
                    .first()
                    .map_or_else(|| "nothing".to_owned(), |a| a.ip().to_string());
                return Err(format!(
                    "refused: {host} resolves to {shown}, a private, loopback or link-local address"
                )
                .into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}
