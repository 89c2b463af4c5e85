//! A small OpenID Connect issuer (DEV ONLY), standing in for Google in development and
//! tests: discovery, JWKS, the authorization endpoint (a page where one types the
//! address to sign in as), and the token endpoint with the checks a real issuer makes
//! (client secret, single-use code bound to its redirect URI, PKCE S256). ID tokens
//! are RS256 JWTs signed with a fixed key that is public in this repository: no real
//! system may trust this issuer.
//!
//! The issuer is `{the sandbox's base URL}/oidc`, as the request reached it.
//! `POST /oidc/sandbox/next-id-token` makes the next ID token wrong in a chosen way,
//! so that tests can show a relying party refuses it.

use std::collections::HashMap;
use std::sync::Mutex;

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use base64::Engine;
use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::distr::{Alphanumeric, SampleString};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The signing key (PKCS#8), and its public modulus and exponent for the JWKS
/// (`tests::the_published_key_verifies_what_the_sandbox_signs` proves they match).
const SIGNING_KEY_PEM: &[u8] = include_bytes!("oidc_signing_key.pem");
const KEY_ID: &str = "sandbox-oidc-1";
const MODULUS: &str = "r_YjpM3g9swcCMp3rzTUvbr3Ilp07IlQQfqz00QoG1zAIpbf6ZtKDJeGYMAThAiVHDI8q9zigGtGGi8MJJWraVtQ1F9wFvZbh-5C0NNwzw44sWM6lIm_E1YdH5UCZ_ir8lgMTlwsVmDQPW8n_KUotnOelCeli0bpKszaxY0QVwbS-Sjp0SHBJ8qyW53FBKi1Pc4KYPTUGC5Dq9dZDchZzGJ6JYex2rvhdKOzSIW63Hq-yWOZHFOC-Hzt-mMQV0UMEBqwyH0xqaDigt5DfKuglz04H857RAGo8fy7AQv2TVxPns274T4_cRErHHjHadwKhh07zjuSqZ27ks2sQf2mXw";
const EXPONENT: &str = "AQAB";

/// How long a code may wait for its exchange.
const CODE_SECONDS: i64 = 60;

/// The client the issuer knows (`SANDBOX_OIDC_CLIENT_ID`, `SANDBOX_OIDC_CLIENT_SECRET`).
#[derive(Debug, Clone)]
pub struct OidcClient {
    pub client_id: String,
    pub client_secret: String,
}

/// A code handed out and not yet exchanged.
struct Grant {
    client_id: String,
    redirect_uri: String,
    nonce: Option<String>,
    code_challenge: String,
    email: String,
    issued_at: chrono::DateTime<Utc>,
}

/// Ways to make the next ID token wrong.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tampering {
    pub aud: Option<String>,
    pub iss: Option<String>,
    pub nonce: Option<String>,
    /// The token expired this many seconds ago.
    pub expired_seconds_ago: Option<i64>,
    pub email_verified: Option<bool>,
    /// The signature's bytes are changed.
    #[serde(default)]
    pub corrupt_signature: bool,
    /// The header names a key the JWKS does not have.
    pub kid: Option<String>,
}

#[derive(Default)]
pub struct OidcState {
    grants: Mutex<HashMap<String, Grant>>,
    next_tampering: Mutex<Option<Tampering>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(discovery)
        .service(jwks)
        .service(authorize_page)
        .service(authorize)
        .service(exchange_code)
        .service(tamper_next);
}

/// `http://host:port/oidc`, as this request reached the sandbox.
fn issuer(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}/oidc", info.scheme(), info.host())
}

#[get("/oidc/.well-known/openid-configuration")]
async fn discovery(req: HttpRequest) -> HttpResponse {
    let issuer = issuer(&req);
    HttpResponse::Ok().json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

#[get("/oidc/jwks")]
async fn jwks() -> HttpResponse {
    HttpResponse::Ok().json(json!({"keys": [{
        "kty": "RSA", "use": "sig", "alg": "RS256", "kid": KEY_ID, "n": MODULUS, "e": EXPONENT,
    }]}))
}

/// The authorization request, as the relying party sends the browser with it.
#[derive(Debug, Deserialize)]
struct AuthorizeQuery {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// What is wrong with an authorization request, if anything.
fn check_request(query: &AuthorizeQuery, client: &OidcClient) -> Result<(), &'static str> {
    if query.client_id.as_deref() != Some(client.client_id.as_str()) {
        return Err("unknown client_id");
    }
    if query
        .redirect_uri
        .as_deref()
        .and_then(|uri| url::Url::parse(uri).ok())
        .is_none()
    {
        return Err("redirect_uri must be an absolute URL");
    }
    if query.response_type.as_deref() != Some("code") {
        return Err("response_type must be code");
    }
    if !query
        .scope
        .as_deref()
        .is_some_and(|scope| scope.split(' ').any(|s| s == "openid"))
    {
        return Err("scope must include openid");
    }
    if query.code_challenge_method.as_deref() != Some("S256")
        || query.code_challenge.as_deref().is_none_or(str::is_empty)
    {
        return Err("PKCE with code_challenge_method=S256 is required");
    }
    Ok(())
}

/// A page where one types the address to sign in as (there are no passwords here).
#[get("/oidc/authorize")]
async fn authorize_page(
    query: web::Query<AuthorizeQuery>,
    client: web::Data<OidcClient>,
) -> HttpResponse {
    if let Err(problem) = check_request(&query, &client) {
        return HttpResponse::BadRequest()
            .content_type("text/plain; charset=utf-8")
            .body(format!("invalid authorization request: {problem}"));
    }
    let hidden: String = [
        ("client_id", &query.client_id),
        ("redirect_uri", &query.redirect_uri),
        ("state", &query.state),
        ("nonce", &query.nonce),
        ("code_challenge", &query.code_challenge),
    ]
    .iter()
    .filter_map(|(name, value)| {
        value.as_ref().map(|v| {
            format!(
                "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                escape(v)
            )
        })
    })
    .collect();
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>Sandbox ID</title></head><body><main><h1>Sandbox ID</h1>\
             <p>Sign in to continue to {client}. This issuer is for development only.</p>\
             <form method=\"post\" action=\"/oidc/authorize\">{hidden}\
             <label for=\"email\">Email</label> <input id=\"email\" name=\"email\" type=\"email\" required>\
             <button type=\"submit\" name=\"decision\" value=\"allow\">Continue</button>\
             <button type=\"submit\" name=\"decision\" value=\"deny\" formnovalidate>Cancel</button>\
             </form></main></body></html>",
            client = escape(&client.client_id),
        ))
}

#[derive(Debug, Deserialize)]
struct AuthorizeForm {
    client_id: String,
    redirect_uri: String,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: String,
    #[serde(default)]
    email: String,
    decision: String,
}

/// The person's answer: back to the relying party with a code, or with
/// `error=access_denied`.
#[post("/oidc/authorize")]
async fn authorize(
    form: web::Form<AuthorizeForm>,
    client: web::Data<OidcClient>,
    state: web::Data<OidcState>,
) -> HttpResponse {
    let form = form.into_inner();
    if form.client_id != client.client_id {
        return HttpResponse::BadRequest().body("unknown client_id");
    }
    let Ok(mut back) = url::Url::parse(&form.redirect_uri) else {
        return HttpResponse::BadRequest().body("redirect_uri must be an absolute URL");
    };
    {
        let mut query = back.query_pairs_mut();
        if form.decision == "allow" && form.email.contains('@') {
            let code = Alphanumeric.sample_string(&mut rand::rng(), 32);
            lock(&state.grants).insert(
                code.clone(),
                Grant {
                    client_id: form.client_id.clone(),
                    redirect_uri: form.redirect_uri.clone(),
                    nonce: form.nonce.clone(),
                    code_challenge: form.code_challenge.clone(),
                    email: form.email.trim().to_lowercase(),
                    issued_at: Utc::now(),
                },
            );
            query.append_pair("code", &code);
        } else {
            query.append_pair("error", "access_denied");
        }
        if let Some(s) = &form.state {
            query.append_pair("state", s);
        }
    }
    HttpResponse::SeeOther()
        .insert_header(("Location", back.to_string()))
        .finish()
}

#[derive(Debug, Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

fn token_error(error: &str, description: &str) -> HttpResponse {
    let status = if error == "invalid_client" {
        actix_web::http::StatusCode::UNAUTHORIZED
    } else {
        actix_web::http::StatusCode::BAD_REQUEST
    };
    HttpResponse::build(status).json(json!({"error": error, "error_description": description}))
}

/// The client's id and secret: HTTP Basic (form-urlencoded parts) or the form's fields.
fn client_credentials(req: &HttpRequest, form: &TokenForm) -> Option<(String, String)> {
    let basic = req
        .headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .and_then(|raw| String::from_utf8(raw).ok());
    if let Some(pair) = basic {
        let (id, secret) = pair.split_once(':')?;
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
        };
        return Some((decode(id)?, decode(secret)?));
    }
    Some((form.client_id.clone()?, form.client_secret.clone()?))
}

#[post("/oidc/token")]
async fn exchange_code(
    req: HttpRequest,
    form: web::Form<TokenForm>,
    client: web::Data<OidcClient>,
    state: web::Data<OidcState>,
) -> HttpResponse {
    let form = form.into_inner();
    match client_credentials(&req, &form) {
        Some((id, secret)) if id == client.client_id && secret == client.client_secret => {}
        _ => return token_error("invalid_client", "client authentication failed"),
    }
    if form.grant_type.as_deref() != Some("authorization_code") {
        return token_error("unsupported_grant_type", "only authorization_code");
    }
    // A code works once, whatever the outcome.
    let Some(grant) = form
        .code
        .as_deref()
        .and_then(|code| lock(&state.grants).remove(code))
    else {
        return token_error("invalid_grant", "unknown or used code");
    };
    if (Utc::now() - grant.issued_at).num_seconds() > CODE_SECONDS
        || grant.client_id != client.client_id
        || form.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str())
    {
        return token_error("invalid_grant", "expired code or another redirect_uri");
    }
    let verifier = form.code_verifier.unwrap_or_default();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    if challenge != grant.code_challenge {
        return token_error("invalid_grant", "PKCE verification failed");
    }
    let tampering = lock(&state.next_tampering).take().unwrap_or_default();
    match id_token(&issuer(&req), &client.client_id, &grant, &tampering) {
        Ok(id_token) => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(json!({
                "access_token": Alphanumeric.sample_string(&mut rand::rng(), 32),
                "token_type": "Bearer",
                "expires_in": 3600,
                "scope": "openid email",
                "id_token": id_token,
            })),
        Err(error) => {
            tracing::error!(%error, "signing an ID token");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// The subject of an address: stable, as an issuer's `sub` is.
fn subject(email: &str) -> String {
    hex::encode(&Sha256::digest(email.as_bytes())[..12])
}

fn id_token(
    issuer: &str,
    client_id: &str,
    grant: &Grant,
    tampering: &Tampering,
) -> anyhow::Result<String> {
    let now = Utc::now().timestamp();
    let exp = match tampering.expired_seconds_ago {
        Some(ago) => now - ago,
        None => now + 3600,
    };
    let mut claims = json!({
        "iss": tampering.iss.as_deref().unwrap_or(issuer),
        "aud": tampering.aud.as_deref().unwrap_or(client_id),
        "sub": subject(&grant.email),
        "email": grant.email,
        "email_verified": tampering.email_verified.unwrap_or(true),
        "iat": now.min(exp - 1),
        "exp": exp,
    });
    if let Some(nonce) = tampering.nonce.as_ref().or(grant.nonce.as_ref()) {
        claims["nonce"] = Value::String(nonce.clone());
    }
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(tampering.kid.clone().unwrap_or_else(|| KEY_ID.to_owned()));
    let key = EncodingKey::from_rsa_pem(SIGNING_KEY_PEM)?;
    let token = jsonwebtoken::encode(&header, &claims, &key)?;
    if !tampering.corrupt_signature {
        return Ok(token);
    }
    // Another signature of the same length: valid base64url, wrong bytes.
    let (signed, signature) = token.rsplit_once('.').unwrap_or((&token, ""));
    let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(signature)?;
    if let Some(first) = bytes.first_mut() {
        *first ^= 0xff;
    }
    Ok(format!(
        "{signed}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// Makes the next ID token wrong as described (tests of relying parties).
#[post("/oidc/sandbox/next-id-token")]
async fn tamper_next(tampering: web::Json<Tampering>, state: web::Data<OidcState>) -> HttpResponse {
    *lock(&state.next_tampering) = Some(tampering.into_inner());
    HttpResponse::NoContent().finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_key_verifies_what_the_sandbox_signs() {
        let grant = Grant {
            client_id: "c".into(),
            redirect_uri: "http://localhost/cb".into(),
            nonce: Some("n".into()),
            code_challenge: String::new(),
            email: "a@b.example".into(),
            issued_at: Utc::now(),
        };
        let token = id_token("http://x/oidc", "c", &grant, &Tampering::default()).unwrap();
        let key = jsonwebtoken::DecodingKey::from_rsa_components(MODULUS, EXPONENT).unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.set_audience(&["c"]);
        validation.set_issuer(&["http://x/oidc"]);
        let decoded = jsonwebtoken::decode::<Value>(&token, &key, &validation).unwrap();
        assert_eq!(decoded.claims["email"], "a@b.example");
        assert_eq!(decoded.claims["nonce"], "n");

        let corrupt = Tampering {
            corrupt_signature: true,
            ..Tampering::default()
        };
        let token = id_token("http://x/oidc", "c", &grant, &corrupt).unwrap();
        assert!(jsonwebtoken::decode::<Value>(&token, &key, &validation).is_err());
    }
}
