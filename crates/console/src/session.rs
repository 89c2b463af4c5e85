//! Who is signed in, and the forms' CSRF tokens.
//!
//! A session is a random token in an `HttpOnly`, `SameSite=Lax` cookie scoped to
//! `/console` (`Secure` whenever the console is served over https); the database holds
//! only its SHA-256, with an absolute expiry. Every form carries a CSRF token that must
//! match: the session's own (synchronizer token) once signed in, and before that a
//! random value also set in a `SameSite=Strict` cookie (double submit), so another
//! site can neither post a signed-in person's forms nor sign them in to an account of
//! its choosing.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use nudge_db::console::{hash_token, new_token};
use nudge_db::models::{ConsoleSession, ConsoleUser};

use super::error::ConsoleError;
use super::ConsoleSettings;
use crate::ConsoleState;

pub const SESSION_COOKIE: &str = "nudge_session";
pub const CSRF_COOKIE: &str = "nudge_csrf";
/// How long a session lasts from sign-in, however active.
pub const SESSION_DAYS: i64 = 7;

/// A console cookie: HTTP-only, `Secure` over HTTPS, scoped to `path` (a `__Host-`
/// cookie's path is always `/`, [`ConsoleSettings::cookie_path`]).
pub(super) fn cookie(
    name: &'static str,
    value: String,
    path: &str,
    settings: &ConsoleSettings,
) -> Cookie<'static> {
    Cookie::build(settings.cookie_name(name), value)
        .path(settings.cookie_path(path).to_owned())
        .http_only(true)
        .secure(settings.secure_cookies)
        .finish()
}

/// The request's cookie `name`, under the name this deployment gives it
/// ([`ConsoleSettings::cookie_name`]).
pub(super) fn request_cookie(req: &HttpRequest, name: &str) -> Option<Cookie<'static>> {
    let state = req.app_data::<web::Data<ConsoleState>>()?;
    req.cookie(&state.settings.cookie_name(name))
}

pub fn session_cookie(token: String, settings: &ConsoleSettings) -> Cookie<'static> {
    let mut cookie = cookie(SESSION_COOKIE, token, "/console", settings);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_max_age(time::Duration::days(SESSION_DAYS));
    cookie
}

pub fn cleared_session_cookie(settings: &ConsoleSettings) -> Cookie<'static> {
    let mut cookie = session_cookie(String::new(), settings);
    cookie.make_removal();
    cookie
}

/// Signs the person in: a new session (its hash stored, its token in the cookie) and
/// the way to the home page.
pub async fn start_session(
    conn: &mut diesel_async::AsyncPgConnection,
    user: &ConsoleUser,
    settings: &ConsoleSettings,
) -> Result<HttpResponse, ConsoleError> {
    let token = new_token();
    let now = chrono::Utc::now();
    let session = ConsoleSession {
        token_hash: hash_token(&token),
        user_id: user.id,
        tenant_id: user.tenant_id,
        csrf_token: new_token(),
        created_at: now,
        expires_at: now + chrono::Duration::days(SESSION_DAYS),
    };
    nudge_db::console::create_session(conn, &session).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/console"))
        .cookie(session_cookie(token, settings))
        .finish())
}

/// The CSRF token of the anonymous forms (sign-up, sign-in, confirming an address):
/// the browser's, or a new one to set.
pub struct FormToken {
    pub value: String,
    fresh: bool,
}

impl FormToken {
    pub fn of(req: &HttpRequest) -> Self {
        match request_cookie(req, CSRF_COOKIE) {
            Some(cookie) if cookie.value().len() >= 32 => Self {
                value: cookie.value().to_owned(),
                fresh: false,
            },
            _ => Self {
                value: new_token(),
                fresh: true,
            },
        }
    }

    /// The cookie to set with the page, when the browser has none yet.
    pub fn cookie(&self, settings: &ConsoleSettings) -> Option<Cookie<'static>> {
        self.fresh.then(|| {
            let mut cookie = cookie(CSRF_COOKIE, self.value.clone(), "/console", settings);
            cookie.set_same_site(SameSite::Strict);
            cookie
        })
    }
}

/// An anonymous form's token must equal the browser's CSRF cookie.
pub fn check_anonymous_form(req: &HttpRequest, submitted: &str) -> Result<(), ConsoleError> {
    match request_cookie(req, CSRF_COOKIE) {
        Some(cookie) if same(cookie.value(), submitted) && submitted.len() >= 32 => Ok(()),
        _ => Err(ConsoleError::FormExpired),
    }
}

/// A signed-in form that carries nothing but its token (sign-out, revoke, remove...).
#[derive(serde::Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}

/// A signed-in form's token must equal its session's.
pub fn check_session_form(signed_in: &SignedIn, submitted: &str) -> Result<(), ConsoleError> {
    if same(&signed_in.0.session.csrf_token, submitted) {
        Ok(())
    } else {
        Err(ConsoleError::FormExpired)
    }
}

/// Equality in time that does not depend on where the strings differ.
pub(super) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The signed-in person, their session and tenant. A request without a live session
/// is sent to the sign-in page.
pub struct SignedIn(pub nudge_db::console::SignedIn);

impl SignedIn {
    pub fn tenant(&self) -> nudge_domain::TenantId {
        nudge_domain::TenantId::from_uuid(self.0.user.tenant_id)
    }
}

impl FromRequest for SignedIn {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        // One lookup of the state serves both the cookie's name and the database.
        let state = req.app_data::<web::Data<ConsoleState>>().cloned();
        let token = state.as_ref().and_then(|state| {
            req.cookie(&state.settings.cookie_name(SESSION_COOKIE))
                .map(|c| c.value().to_owned())
        });
        Box::pin(async move {
            let (Some(token), Some(state)) = (token, state) else {
                return Err(ConsoleError::SignInRequired);
            };
            let mut conn = state.pool.get().await.map_err(nudge_db::DbError::from)?;
            match nudge_db::console::find_session(&mut conn, &hash_token(&token)).await? {
                Some(found) => Ok(Self(found)),
                None => Err(ConsoleError::SignInRequired),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_https_cookies_are_host_only_and_secure() {
        let https = ConsoleSettings::new("https://console.shop.example".parse().unwrap());
        let text = session_cookie("t".repeat(43), &https).to_string();
        assert!(text.starts_with("__Host-nudge_session="), "{text}");
        for part in ["HttpOnly", "Secure", "Path=/;", "SameSite=Lax"] {
            assert!(text.contains(part), "{part}: {text}");
        }
        assert!(!text.contains("Domain"), "{text}");
        let csrf = FormToken {
            value: "c".repeat(43),
            fresh: true,
        };
        let text = csrf.cookie(&https).unwrap().to_string();
        assert!(text.starts_with("__Host-nudge_csrf="), "{text}");
        assert!(text.contains("SameSite=Strict"), "{text}");

        // Development over http cannot set __Host- cookies: the plain names.
        let http = ConsoleSettings::new("http://localhost:8080".parse().unwrap());
        let text = session_cookie("t".repeat(43), &http).to_string();
        assert!(text.starts_with("nudge_session="), "{text}");
        assert!(text.contains("Path=/console"), "{text}");
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
        assert!(!same("", "a"));
    }
}
