//! Calls to merchants' endpoints (event webhooks, care hand-offs, bot fulfilment):
//! signed with Standard Webhooks, bounded in time, never redirected, and only to
//! targets the [`TargetPolicy`] allows. The policy is applied to the URL and to every
//! address its name resolves to, at each call, so that a name re-pointed at an
//! internal address after it was saved (DNS rebinding) is still refused.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
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

/// How names become addresses: the system's resolver, or a test's.
pub type Lookup =
    Arc<dyn Fn(String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> + Send + Sync>;

/// The system's resolver (getaddrinfo, through tokio).
pub fn system_lookup() -> Lookup {
    Arc::new(|host: String| {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|addr| addr.ip())
                .collect())
        })
    })
}

impl MerchantClient {
    pub fn new(policy: TargetPolicy, timeout: Duration) -> anyhow::Result<Self> {
        Self::with_lookup(policy, timeout, system_lookup())
    }

    /// As [`MerchantClient::new`], resolving names with `lookup`.
    pub fn with_lookup(
        policy: TargetPolicy,
        timeout: Duration,
        lookup: Lookup,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            // An `HTTPS_PROXY` in the environment would connect to the proxy instead,
            // and the proxy to the target, past the resolver's check.
            .no_proxy()
            .user_agent("Nudge-Webhooks/1")
            .dns_resolver(Arc::new(PolicyResolver { policy, lookup }))
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

/// Resolves names, keeping only addresses the policy allows.
struct PolicyResolver {
    policy: TargetPolicy,
    lookup: Lookup,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        let lookup = self.lookup.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved = lookup(host.clone()).await?;
            let allowed: Vec<SocketAddr> = resolved
                .iter()
                .filter(|ip| policy.check_ip(**ip).is_ok())
                .map(|ip| SocketAddr::new(*ip, 0))
                .collect();
            if allowed.is_empty() {
                // The addresses stay ours: the merchant reads this in its delivery
                // log, and an internal address map is what an SSRF probe is after.
                return Err(format!("refused: {host} does not resolve to a public address").into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A resolver that answers `ip` for every name, as a rebound or hostile DNS would.
    fn resolving_to(ip: &'static str) -> Lookup {
        Arc::new(move |_host: String| {
            Box::pin(async move { Ok(vec![ip.parse::<IpAddr>().unwrap()]) })
        })
    }

    #[tokio::test]
    async fn a_public_name_that_resolves_inside_is_refused_without_showing_where() {
        for inside in ["127.0.0.1", "169.254.169.254", "10.0.0.7", "::1", "fd00::1"] {
            let client = MerchantClient::with_lookup(
                TargetPolicy::STRICT,
                Duration::from_secs(2),
                resolving_to(inside),
            )
            .unwrap();
            let error = client
                .post_signed(
                    "https://hooks.shop.example/orders",
                    &nudge_domain::standard_webhooks::new_secret(),
                    "msg_1",
                    b"{}".to_vec(),
                )
                .await
                .unwrap_err();
            let CallError::Refused(text) = error else {
                panic!("{inside}: not refused: {error:?}");
            };
            assert!(text.contains("hooks.shop.example"), "{text}");
            assert!(!text.contains(inside), "the address is not shown: {text}");
        }
    }

    #[tokio::test]
    async fn a_redirect_to_the_metadata_address_is_not_followed() {
        let endpoint = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::method("POST"))
            .respond_with(
                wiremock::ResponseTemplate::new(307)
                    .insert_header("location", "http://169.254.169.254/latest/meta-data/"),
            )
            .expect(1)
            .mount(&endpoint)
            .await;
        // Development policy, so that the local endpoint itself may be called.
        let client =
            MerchantClient::new(TargetPolicy::DEVELOPMENT, Duration::from_secs(2)).unwrap();
        let answer = client
            .post_signed(
                &endpoint.uri(),
                &nudge_domain::standard_webhooks::new_secret(),
                "msg_1",
                b"{}".to_vec(),
            )
            .await
            .unwrap();
        assert_eq!(
            answer.status, 307,
            "the redirect is the answer, not followed"
        );
        endpoint.verify().await;
    }
}
