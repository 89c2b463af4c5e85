//! A client for the two Twilio calls the sender makes: create a Message
//! (`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded, basic auth)
//! and, to reconcile after a crash, list Messages (`GET` on the same path, filtered by
//! `To` and `From`), as `reference/twilio/twilio_api_v2010.json` specifies them. The base URL is
//! configurable so that tests and the demo use the sandbox; nothing here knows.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

pub struct TwilioClient {
    http: reqwest::Client,
    base_url: String,
    /// The platform's account: every number that is not in a tenant's own.
    platform: Account,
}

/// A Twilio account: the platform's, or a tenant's subaccount.
pub struct Account {
    pub sid: String,
    auth_token: SecretString,
}

impl Account {
    pub fn new(sid: &str, auth_token: SecretString) -> Self {
        Self {
            sid: sid.to_owned(),
            auth_token,
        }
    }
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("sid", &self.sid)
            .finish_non_exhaustive()
    }
}

/// What we ask Twilio to send.
#[derive(Debug, Clone)]
pub struct OutboundSms<'a> {
    pub to: &'a str,
    pub from: &'a str,
    pub body: &'a str,
    pub status_callback: Option<&'a str>,
    /// A time-limited URL of the image Twilio fetches and sends as MMS.
    pub media_url: Option<&'a str>,
}

/// The fields of Twilio's Message resource that the sender keeps.
#[derive(Debug, Clone, Deserialize)]
pub struct CreatedMessage {
    pub sid: String,
    pub status: String,
    #[serde(default)]
    pub num_segments: Option<String>,
}

/// A Message as Twilio lists it: what reconciliation matches on.
#[derive(Debug, Clone, Deserialize)]
pub struct ListedMessage {
    pub sid: String,
    pub body: String,
    pub status: String,
    /// RFC 2822, e.g. `Thu, 24 Aug 2023 05:01:45 +0000`.
    pub date_created: Option<String>,
    #[serde(default)]
    pub num_segments: Option<String>,
}

impl ListedMessage {
    pub fn created_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let raw = self.date_created.as_deref()?;
        chrono::DateTime::parse_from_rfc2822(raw)
            .ok()
            .map(|at| at.with_timezone(&chrono::Utc))
    }
}

/// A page of Twilio's Message list (`ListMessageResponse`).
#[derive(Debug, Clone, Deserialize)]
struct MessagePage {
    messages: Vec<ListedMessage>,
    next_page_uri: Option<String>,
}

/// Twilio's error body: `{"code", "message", "more_info", "status"}`.
#[derive(Debug, Clone, Deserialize)]
struct ErrorBody {
    code: Option<i32>,
    message: Option<String>,
    more_info: Option<String>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    /// Twilio answered with an error.
    #[error("Twilio refused the message (HTTP {http_status}, code {code:?}): {message}")]
    Rejected {
        http_status: u16,
        code: Option<i32>,
        message: String,
        more_info: Option<String>,
    },
    /// The request never reached Twilio (connection refused, a name that does not
    /// resolve, a connect timeout), or could not be made at all: nothing was created.
    #[error("could not reach Twilio: {0}")]
    Unreachable(String),
    /// The request went out but no answer came back whole (a timeout, a connection
    /// reset): Twilio may have created the message.
    #[error("no answer from Twilio: {0}")]
    NoAnswer(String),
    /// An answer we cannot read.
    #[error("unreadable answer from Twilio (HTTP {http_status}): {detail}")]
    BadResponse { http_status: u16, detail: String },
}

impl ProviderError {
    pub fn code(&self) -> Option<i32> {
        match self {
            ProviderError::Rejected { code, .. } => *code,
            _ => None,
        }
    }

    /// Whether Twilio may have created the message despite the failure, so that
    /// sending again could send it twice: no answer after the request went out, a 5xx
    /// (Twilio's create has no idempotency key, and a server error does not say the
    /// message was not stored), or a 2xx we could not read. Such an attempt is
    /// reconciled with Twilio's list of messages before any new one (docs/retries.md).
    pub fn outcome_unknown(&self) -> bool {
        match self {
            ProviderError::NoAnswer(_) => true,
            ProviderError::Rejected { http_status, .. } => *http_status >= 500,
            ProviderError::BadResponse { http_status, .. } => {
                *http_status >= 500 || (200..300).contains(http_status)
            }
            ProviderError::Unreachable(_) => false,
        }
    }

    /// A short name for the failure (a metric label): Twilio's code, else
    /// `http_<status>`, else `unreachable` or `no_answer`.
    pub fn label(&self) -> String {
        match self {
            ProviderError::Rejected {
                code: Some(code), ..
            } => code.to_string(),
            ProviderError::Rejected { http_status, .. }
            | ProviderError::BadResponse { http_status, .. } => format!("http_{http_status}"),
            ProviderError::Unreachable(_) => "unreachable".into(),
            ProviderError::NoAnswer(_) => "no_answer".into(),
        }
    }
}

/// The most of one answer read: a page of 50 messages is about 60 KB.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

impl TwilioClient {
    pub fn new(
        base_url: &str,
        account_sid: &str,
        auth_token: SecretString,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("nudge-sms-sender/", env!("CARGO_PKG_VERSION")))
            // Twilio's API does not redirect; a redirect would take the token along.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            platform: Account::new(account_sid, auth_token),
        })
    }

    /// The platform account's SID.
    pub fn account_sid(&self) -> &str {
        &self.platform.sid
    }

    /// The platform account's Messages URL.
    pub fn messages_url(&self) -> String {
        self.messages_url_of(&self.platform)
    }

    fn messages_url_of(&self, account: &Account) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.base_url, account.sid
        )
    }

    /// `account`, or the platform's when `None`.
    fn or_platform<'a>(&'a self, account: Option<&'a Account>) -> &'a Account {
        account.unwrap_or(&self.platform)
    }

    /// The account's messages from `from` to `to`, newest first, at most `limit` of
    /// them (following `next_page_uri`). Not filtered by `DateSent`: a message Twilio
    /// has accepted but not yet handed to a carrier has no `date_sent`, and it is
    /// exactly the one a reconciling worker must find.
    pub async fn list_messages(
        &self,
        to: &str,
        from: &str,
        limit: usize,
    ) -> Result<Vec<ListedMessage>, ProviderError> {
        self.list_messages_in(None, to, from, limit).await
    }

    /// [`Self::list_messages`] in `account` (`None`: the platform's).
    pub async fn list_messages_in(
        &self,
        account: Option<&Account>,
        to: &str,
        from: &str,
        limit: usize,
    ) -> Result<Vec<ListedMessage>, ProviderError> {
        let account = self.or_platform(account);
        let mut found = Vec::new();
        let mut url = reqwest::Url::parse_with_params(
            &self.messages_url_of(account),
            &[("To", to), ("From", from), ("PageSize", "50")],
        )
        .map_err(|e| ProviderError::Unreachable(e.to_string()))?;
        loop {
            let page: MessagePage = self.call(account, self.http.get(url.clone())).await?;
            found.extend(page.messages);
            match page.next_page_uri {
                Some(next) if found.len() < limit => url = self.next_page(&url, &next)?,
                _ => break,
            }
        }
        found.truncate(limit);
        Ok(found)
    }

    /// The page after `current`, which must stay on the configured origin: the next
    /// request carries the account's token, and a `next_page_uri` of
    /// `https://elsewhere/` (a hijacked or fake upstream) must not take it there.
    fn next_page(&self, current: &reqwest::Url, next: &str) -> Result<reqwest::Url, ProviderError> {
        let unusable = |detail: String| ProviderError::BadResponse {
            http_status: 200,
            detail,
        };
        let url = current
            .join(next)
            .map_err(|e| unusable(format!("next_page_uri: {e}")))?;
        if url.origin() != current.origin() {
            return Err(unusable(
                "next_page_uri leads away from the configured Twilio origin".into(),
            ));
        }
        Ok(url)
    }

    /// Creates the message at Twilio, in the platform's account.
    pub async fn create_message(
        &self,
        sms: &OutboundSms<'_>,
    ) -> Result<CreatedMessage, ProviderError> {
        self.create_message_in(None, sms).await
    }

    /// Creates the message at Twilio, in `account` (`None`: the platform's).
    pub async fn create_message_in(
        &self,
        account: Option<&Account>,
        sms: &OutboundSms<'_>,
    ) -> Result<CreatedMessage, ProviderError> {
        let account = self.or_platform(account);
        let mut form = vec![("To", sms.to), ("From", sms.from), ("Body", sms.body)];
        if let Some(callback) = sms.status_callback {
            form.push(("StatusCallback", callback));
        }
        if let Some(media) = sms.media_url {
            form.push(("MediaUrl", media));
        }
        let url = self.messages_url_of(account);
        self.call(account, self.http.post(url).form(&form)).await
    }

    /// Sends an authenticated request and reads Twilio's answer: the resource on 2xx,
    /// else Twilio's error.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        account: &Account,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ProviderError> {
        let response = request
            .basic_auth(&account.sid, Some(account.auth_token.expose_secret()))
            .send()
            .await
            .map_err(sending_failed)?;
        let http_status = response.status().as_u16();
        let bytes = nudge_http::read_limited(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| match e {
                // The answer began but broke off: the request was surely received.
                nudge_http::ReadError::Transport(e) => ProviderError::NoAnswer(e.to_string()),
                too_large @ nudge_http::ReadError::TooLarge { .. } => ProviderError::BadResponse {
                    http_status,
                    detail: too_large.to_string(),
                },
            })?;
        if (200..300).contains(&http_status) {
            return serde_json::from_slice(&bytes).map_err(|e| ProviderError::BadResponse {
                http_status,
                detail: e.to_string(),
            });
        }
        Err(error_from(http_status, &bytes))
    }
}

/// A request that got no answer: `Unreachable` only when it cannot have reached Twilio
/// (it failed while connecting, or before anything was sent), else `NoAnswer`.
/// `without_url`: the error's text must not carry request details into logs.
fn sending_failed(error: reqwest::Error) -> ProviderError {
    let never_sent = error.is_connect() || error.is_builder();
    let text = error.without_url().to_string();
    if never_sent {
        ProviderError::Unreachable(text)
    } else {
        ProviderError::NoAnswer(text)
    }
}

/// A Twilio error answer, from its body when it has one.
fn error_from(http_status: u16, bytes: &[u8]) -> ProviderError {
    match serde_json::from_slice::<ErrorBody>(bytes) {
        Ok(body) => ProviderError::Rejected {
            http_status,
            code: body.code,
            message: body.message.unwrap_or_else(|| "no message".into()),
            more_info: body.more_info,
        },
        Err(_) => ProviderError::Rejected {
            http_status,
            code: None,
            message: format!("HTTP {http_status} without a Twilio error body"),
            more_info: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{method, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const SID: &str = "AC00000000000000000000000000000000";

    fn page(next: Option<String>) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "messages": [{"sid": "SM1", "body": "hi", "status": "sent", "date_created": null}],
            "next_page_uri": next, "page": 0, "page_size": 50,
        }))
    }

    fn client(twilio: &MockServer) -> TwilioClient {
        TwilioClient::new(
            &twilio.uri(),
            SID,
            SecretString::from("the-auth-token"),
            Duration::from_secs(2),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn pages_on_twilios_origin_are_followed() {
        let twilio = MockServer::start().await;
        Mock::given(method("GET"))
            .and(query_param("Page", "1"))
            .respond_with(page(None))
            .expect(1)
            .mount(&twilio)
            .await;
        let next = format!("/2010-04-01/Accounts/{SID}/Messages.json?PageSize=50&Page=1");
        Mock::given(method("GET"))
            .respond_with(page(Some(next)))
            .mount(&twilio)
            .await;
        let listed = client(&twilio).list_messages("+1", "+2", 10).await.unwrap();
        assert_eq!(listed.len(), 2);
    }

    #[tokio::test]
    async fn a_next_page_elsewhere_is_refused_and_never_sent_the_token() {
        let twilio = MockServer::start().await;
        let elsewhere = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200))
            .expect(0)
            .mount(&elsewhere)
            .await;
        for next in [
            format!(
                "{}/2010-04-01/Accounts/{SID}/Messages.json?Page=1",
                elsewhere.uri()
            ),
            format!("//{}/x", elsewhere.address()),
        ] {
            twilio.reset().await;
            Mock::given(method("GET"))
                .respond_with(page(Some(next.clone())))
                .mount(&twilio)
                .await;
            let error = client(&twilio)
                .list_messages("+1", "+2", 10)
                .await
                .unwrap_err();
            assert!(
                error
                    .to_string()
                    .contains("away from the configured Twilio origin"),
                "{next}: {error}"
            );
        }
        elsewhere.verify().await;
    }

    #[tokio::test]
    async fn an_endless_answer_is_refused_unread() {
        let twilio = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(200).set_body_bytes(vec![b' '; MAX_ANSWER_BYTES + 1]),
            )
            .mount(&twilio)
            .await;
        let error = client(&twilio)
            .list_messages("+1", "+2", 10)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("larger than"), "{error}");
    }
}
