//! The console's OpenID Connect client: the provider's discovery document and keys
//! (cached), the authorization URL, the code exchange (with the PKCE verifier and the
//! client's secret over HTTP Basic) and the ID token's verification: RS256 signature by
//! a key of the provider's JWKS, issuer, audience, authorized party, expiry, nonce, and
//! a verified email address.

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::ExposeSecret;
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::config::OidcSettings;

/// How long the discovery document and the keys are trusted before they are read
/// again (a token signed by a key not yet seen also reads the keys again, at most
/// once a minute).
const CACHE_FOR: Duration = Duration::from_secs(3600);
const REFETCH_KEYS_AFTER: Duration = Duration::from_secs(60);
/// The most of a discovery document, a key set or a token answer read (each is a few
/// KB; an identity provider answering more is broken or not one).
const MAX_ANSWER_BYTES: usize = 256 * 1024;
/// Clock difference tolerated on `exp`.
const LEEWAY_SECONDS: u64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider could not be reached or answered nonsense (a 5xx for people).
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the code exchange.
    #[error("the provider refused the code: {0}")]
    Refused(String),
    /// The ID token is not one to trust.
    #[error("the ID token is not valid: {0}")]
    InvalidToken(String),
    /// The provider does not vouch for the address.
    #[error("the provider has not verified the email address")]
    EmailNotVerified,
}

/// The parts of the discovery document that are used.
#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

#[derive(Default)]
struct Cache {
    discovery: Option<(Discovery, Instant)>,
    keys: Option<(JwkSet, Instant)>,
}

pub struct Provider {
    settings: OidcSettings,
    http: reqwest::Client,
    cache: Mutex<Cache>,
}

/// Who signed in, as the provider vouches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIdentity {
    pub issuer: String,
    pub subject: String,
    /// Lower-cased.
    pub email: String,
}

#[derive(Debug, Deserialize)]
struct IdClaims {
    sub: String,
    #[serde(default)]
    email: Option<String>,
    /// A boolean, or (some providers) the string "true".
    #[serde(default)]
    email_verified: Option<serde_json::Value>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    aud: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct TokenResponse {
    id_token: Option<String>,
}

impl Provider {
    pub fn new(settings: OidcSettings) -> Result<Self, reqwest::Error> {
        Ok(Self {
            settings,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            cache: Mutex::new(Cache::default()),
        })
    }

    /// The provider's name, for buttons and pages.
    pub fn name(&self) -> &str {
        &self.settings.name
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, OidcError> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| OidcError::Unavailable(format!("GET {url}: {e}")))?;
        if !response.status().is_success() {
            return Err(OidcError::Unavailable(format!(
                "GET {url}: {}",
                response.status()
            )));
        }
        let body = nudge_http::read_limited(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| OidcError::Unavailable(format!("GET {url}: {e}")))?;
        serde_json::from_slice(&body).map_err(|e| OidcError::Unavailable(format!("GET {url}: {e}")))
    }

    async fn discovery(&self) -> Result<Discovery, OidcError> {
        let mut cache = self.cache.lock().await;
        if let Some((discovery, at)) = &cache.discovery {
            if at.elapsed() < CACHE_FOR {
                return Ok(discovery.clone());
            }
        }
        let url = format!("{}/.well-known/openid-configuration", self.settings.issuer);
        let discovery: Discovery = self.get_json(&url).await?;
        // The document must be the issuer's own (OpenID Connect Discovery, 4.3).
        if discovery.issuer.trim_end_matches('/') != self.settings.issuer {
            return Err(OidcError::Unavailable(format!(
                "the discovery document names issuer '{}', not '{}'",
                discovery.issuer, self.settings.issuer
            )));
        }
        cache.discovery = Some((discovery.clone(), Instant::now()));
        Ok(discovery)
    }

    /// Where to send the browser: the authorization code flow with PKCE (S256), a
    /// `state` and a `nonce`.
    pub async fn authorization_url(
        &self,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
        code_challenge: &str,
    ) -> Result<url::Url, OidcError> {
        let discovery = self.discovery().await?;
        let mut url = url::Url::parse(&discovery.authorization_endpoint)
            .map_err(|e| OidcError::Unavailable(format!("authorization_endpoint: {e}")))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", "openid email")
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .append_pair("code_challenge", code_challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(url)
    }

    /// Exchanges the code for the ID token.
    pub async fn exchange(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<String, OidcError> {
        let discovery = self.discovery().await?;
        let mut request = self.http.post(&discovery.token_endpoint).form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", code_verifier),
            ("client_id", &self.settings.client_id),
        ]);
        if let Some(secret) = &self.settings.client_secret {
            // client_secret_basic: each part form-encoded first (RFC 6749, 2.3.1).
            let encode =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            request = request.basic_auth(
                encode(&self.settings.client_id),
                Some(encode(secret.expose_secret())),
            );
        }
        let response = request
            .send()
            .await
            .map_err(|e| OidcError::Unavailable(format!("token endpoint: {e}")))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(OidcError::Unavailable(format!("token endpoint: {status}")));
        }
        if !status.is_success() {
            // The body names the OAuth error (`invalid_grant`...), never a secret.
            let body = nudge_http::read_limited(response, MAX_ANSWER_BYTES)
                .await
                .unwrap_or_default();
            return Err(OidcError::Refused(format!(
                "{status}: {}",
                String::from_utf8_lossy(&body)
                    .chars()
                    .take(300)
                    .collect::<String>()
            )));
        }
        let body = nudge_http::read_limited(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| OidcError::Unavailable(format!("token endpoint: {e}")))?;
        let tokens: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| OidcError::Unavailable(format!("token endpoint: {e}")))?;
        tokens
            .id_token
            .ok_or_else(|| OidcError::Refused("no id_token in the answer".into()))
    }

    /// The key the token says it was signed with, reading the keys again when it is
    /// new (providers rotate keys).
    async fn key_for(&self, kid: Option<&str>) -> Result<DecodingKey, OidcError> {
        let discovery = self.discovery().await?;
        let mut cache = self.cache.lock().await;
        let find = |keys: &JwkSet| match kid {
            Some(kid) => keys.find(kid).cloned(),
            None if keys.keys.len() == 1 => keys.keys.first().cloned(),
            None => None,
        };
        let fresh_enough = |at: &Instant, limit: Duration| at.elapsed() < limit;
        let cached = cache
            .keys
            .as_ref()
            .filter(|(_, at)| fresh_enough(at, CACHE_FOR));
        if let Some(jwk) = cached.and_then(|(keys, _)| find(keys)) {
            return DecodingKey::from_jwk(&jwk)
                .map_err(|e| OidcError::InvalidToken(format!("the provider's key: {e}")));
        }
        let may_refetch = cache
            .keys
            .as_ref()
            .is_none_or(|(_, at)| !fresh_enough(at, REFETCH_KEYS_AFTER));
        if !may_refetch {
            return Err(OidcError::InvalidToken(format!(
                "no key '{}' in the provider's keys",
                kid.unwrap_or("")
            )));
        }
        let keys: JwkSet = self.get_json(&discovery.jwks_uri).await?;
        let jwk = find(&keys);
        cache.keys = Some((keys, Instant::now()));
        let jwk = jwk.ok_or_else(|| {
            OidcError::InvalidToken(format!(
                "no key '{}' in the provider's keys",
                kid.unwrap_or("")
            ))
        })?;
        DecodingKey::from_jwk(&jwk)
            .map_err(|e| OidcError::InvalidToken(format!("the provider's key: {e}")))
    }

    /// Checks the ID token and says who signed in.
    pub async fn verify(&self, id_token: &str, nonce: &str) -> Result<VerifiedIdentity, OidcError> {
        let header = jsonwebtoken::decode_header(id_token)
            .map_err(|e| OidcError::InvalidToken(format!("header: {e}")))?;
        if header.alg != Algorithm::RS256 {
            return Err(OidcError::InvalidToken(format!(
                "algorithm {:?}, only RS256 is accepted",
                header.alg
            )));
        }
        let key = self.key_for(header.kid.as_deref()).await?;
        let discovery = self.discovery().await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[discovery.issuer.as_str()]);
        validation.set_audience(&[self.settings.client_id.as_str()]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECONDS;
        let claims = jsonwebtoken::decode::<IdClaims>(id_token, &key, &validation)
            .map_err(|e| OidcError::InvalidToken(e.to_string()))?
            .claims;
        if claims.nonce.as_deref() != Some(nonce) {
            return Err(OidcError::InvalidToken("nonce does not match".into()));
        }
        // With several audiences, the token must have been issued to this client.
        let several_audiences = claims.aud.as_array().is_some_and(|a| a.len() > 1);
        if (several_audiences || claims.azp.is_some())
            && claims.azp.as_deref() != Some(self.settings.client_id.as_str())
        {
            return Err(OidcError::InvalidToken("azp is not this client".into()));
        }
        let verified = matches!(claims.email_verified, Some(serde_json::Value::Bool(true)))
            || matches!(&claims.email_verified, Some(serde_json::Value::String(s)) if s == "true");
        let email = claims
            .email
            .map(|e| e.trim().to_lowercase())
            .filter(|e| e.contains('@'));
        match email {
            Some(email) if verified => Ok(VerifiedIdentity {
                issuer: discovery.issuer,
                subject: claims.sub,
                email,
            }),
            _ => Err(OidcError::EmailNotVerified),
        }
    }
}
