//! "Sign in with Google" (or any OpenID Connect provider, `CONSOLE_OIDC_*`): the
//! authorization code flow with PKCE, `state` and `nonce`.
//!
//! `/console/oidc/start` keeps a new sign-in (its state's hash, nonce and PKCE
//! verifier, 10 minutes) and sends the browser to the provider with the state also in
//! a cookie; `/console/oidc/callback` needs that cookie to match the returned state
//! (so a sign-in finishes in the browser that began it), spends the sign-in, exchanges
//! the code, verifies the ID token (`provider`) and signs in the account linked to the
//! provider identity, or the account of its verified address. It creates no accounts.

mod provider;

use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use nudge_db::console::oidc::{PendingLogin, ProviderIdentity};
use nudge_db::console::{hash_token, new_token};
use nudge_db::rate::Rate;
use serde::Deserialize;
use sha2::{Digest, Sha256};

pub use provider::{OidcError, Provider};

use super::error::ConsoleError;
use super::pages::{html, Notice};
use super::routes::{client_key, limit};
use super::session::{same, start_session};
use super::ConsoleSettings;
use crate::ConsoleState;

const STATE_COOKIE: &str = "nudge_oidc_state";
/// How long a person has at the provider.
const LOGIN_MINUTES: i64 = 10;
/// Sign-ins begun per client address (each keeps a row until it expires).
const STARTS_PER_CLIENT: Rate = Rate {
    per_second: 30.0 / 900.0,
    burst: 30.0,
};

fn provider(state: &ConsoleState) -> Result<&Provider, ConsoleError> {
    state.settings.oidc.as_deref().ok_or(ConsoleError::NotFound)
}

fn redirect_uri(settings: &ConsoleSettings) -> String {
    settings
        .public_url
        .join("/console/oidc/callback")
        .map_or_else(|_| settings.public_url.to_string(), |url| url.to_string())
}

fn state_cookie(value: String, settings: &ConsoleSettings) -> Cookie<'static> {
    let mut cookie = super::session::cookie(STATE_COOKIE, value, "/console/oidc", settings);
    // Lax: the provider sends the browser back with a top-level GET from its site.
    cookie.set_same_site(SameSite::Lax);
    cookie.set_max_age(time::Duration::minutes(LOGIN_MINUTES));
    cookie
}

/// The PKCE challenge of a verifier (S256).
fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

pub(super) async fn start(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
) -> Result<HttpResponse, ConsoleError> {
    let provider = provider(&state)?;
    limit(
        &state,
        &[(&client_key("oidc-start", &req), STARTS_PER_CLIENT)],
    )
    .await?;
    let state_token = new_token();
    let login = PendingLogin {
        nonce: new_token(),
        code_verifier: new_token(),
    };
    let url = match provider
        .authorization_url(
            &redirect_uri(&state.settings),
            &state_token,
            &login.nonce,
            &challenge(&login.code_verifier),
        )
        .await
    {
        Ok(url) => url,
        Err(error) => return failed(provider, &error),
    };
    let mut conn = state.conn().await?;
    nudge_db::console::oidc::start_login(
        &mut conn,
        &hash_token(&state_token),
        &login,
        chrono::Duration::minutes(LOGIN_MINUTES),
    )
    .await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, url.to_string()))
        .cookie(state_cookie(state_token, &state.settings))
        .finish())
}

#[derive(Deserialize)]
pub(super) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

pub(super) async fn callback(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    query: web::Query<CallbackQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let provider = provider(&state)?;
    let mut response = finish(&req, &state, provider, &query).await?;
    // The state is spent either way.
    let mut cleared = state_cookie(String::new(), &state.settings);
    cleared.make_removal();
    response
        .add_cookie(&cleared)
        .map_err(|e| ConsoleError::Internal(e.into()))?;
    Ok(response)
}

async fn finish(
    req: &HttpRequest,
    state: &ConsoleState,
    provider: &Provider,
    query: &CallbackQuery,
) -> Result<HttpResponse, ConsoleError> {
    let returned = query.state.as_deref().unwrap_or_default();
    let ours = super::session::request_cookie(req, STATE_COOKIE);
    let same_browser = ours.is_some_and(|c| !returned.is_empty() && same(c.value(), returned));
    let mut conn = state.conn().await?;
    let login = if same_browser {
        nudge_db::console::oidc::take_login(&mut conn, &hash_token(returned)).await?
    } else {
        None
    };
    let Some(login) = login else {
        return page(
            StatusCode::FORBIDDEN,
            "This sign-in has expired",
            "It took too long, was already used, or began in another browser. Start again from the sign-in page.",
        );
    };
    if query.error.is_some() {
        return page(
            StatusCode::UNAUTHORIZED,
            "Sign-in was cancelled",
            "Nothing has changed. Sign in again when you are ready.",
        );
    }
    let Some(code) = query.code.as_deref().filter(|c| !c.is_empty()) else {
        return page(
            StatusCode::BAD_REQUEST,
            "The provider's answer is incomplete",
            "Start again from the sign-in page.",
        );
    };
    let identity = match provider
        .exchange(code, &redirect_uri(&state.settings), &login.code_verifier)
        .await
    {
        Ok(id_token) => provider.verify(&id_token, &login.nonce).await,
        Err(error) => Err(error),
    };
    let identity = match identity {
        Ok(identity) => identity,
        Err(error) => return failed(provider, &error),
    };
    let user = nudge_db::console::oidc::account_for(
        &mut conn,
        &ProviderIdentity {
            issuer: &identity.issuer,
            subject: &identity.subject,
            email: &identity.email,
        },
    )
    .await?;
    let Some(user) = user else {
        // The visitor has just proven this address is theirs: telling them it has no
        // account reveals nothing to a stranger.
        tracing::info!("provider sign-in without a console account");
        return html(
            StatusCode::FORBIDDEN,
            &Notice {
                title: "No Nudge account uses this address",
                text: &format!(
                    "{} has no account. Create one, or ask your team's owner for an invitation.",
                    identity.email
                ),
                link: Some(("/console/sign-up", "Create an account")),
                signed_in: None,
            },
        );
    };
    tracing::info!(user_id = %user.id, tenant_id = %user.tenant_id, provider = provider.name(), "console sign-in with a provider");
    start_session(&mut conn, &user, &state.settings).await
}

fn page(status: StatusCode, title: &str, text: &str) -> Result<HttpResponse, ConsoleError> {
    html(
        status,
        &Notice {
            title,
            text,
            link: Some(("/console/sign-in", "Back to sign in")),
            signed_in: None,
        },
    )
}

/// A provider that could not be reached, refused the code, or sent a token not to
/// trust: a page for the person, the reason in the log.
fn failed(provider: &Provider, error: &OidcError) -> Result<HttpResponse, ConsoleError> {
    tracing::warn!(provider = provider.name(), %error, "provider sign-in failed");
    let (status, text) = match error {
        OidcError::Unavailable(_) => (
            StatusCode::BAD_GATEWAY,
            "The provider cannot be reached right now. Try again in a moment, or sign in with your password.",
        ),
        OidcError::Refused(_) | OidcError::InvalidToken(_) => (
            StatusCode::UNAUTHORIZED,
            "The provider's answer could not be verified, so you are not signed in. Start again.",
        ),
        OidcError::EmailNotVerified => (
            StatusCode::UNAUTHORIZED,
            "The provider has not verified your email address. Verify it there, or sign in with your password.",
        ),
    };
    page(status, "You are not signed in", text)
}
