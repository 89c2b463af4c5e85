//! The console's routes: accounts (sign-up, confirming the address, sign-in, sign-out)
//! and the home page; password reset is in `reset`. Also the helpers every console
//! form shares: the anonymous page with its CSRF cookie, and attempt limits.

use actix_web::http::{header, StatusCode};
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, HttpRequest, HttpResponse};
use nudge_db::console::{hash_token, new_token, LinkUse, NewLink, VERIFY_EMAIL};
use nudge_db::rate::Rate;
use serde::Deserialize;

use super::emails::{self, VERIFY_LINK_HOURS};
use super::error::ConsoleError;
use super::pages::{
    html, FieldError, HomePage, Nav, Notice, SignInPage, SignUpPage, VerifyEmailPage,
};
use super::session::{
    check_anonymous_form, check_session_form, cleared_session_cookie, start_session, CsrfForm,
    FormToken, SignedIn,
};
use super::{normalize_email, password};
use crate::ConsoleState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        mount(web::scope("/console"))
            .wrap(
                DefaultHeaders::new()
                    .add((
                        header::CONTENT_SECURITY_POLICY,
                        "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
                    ))
                    .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                    // Confirmation links carry their token in the URL.
                    .add((header::REFERRER_POLICY, "no-referrer"))
                    .add((header::CACHE_CONTROL, "no-store")),
            )
            .app_data(web::FormConfig::default().error_handler(|_, _| ConsoleError::BadForm.into()))
            .app_data(web::QueryConfig::default().error_handler(|_, _| ConsoleError::NotFound.into()))
            .app_data(web::PathConfig::default().error_handler(|_, _| ConsoleError::NotFound.into())),
    );
}

/// Every console route in one table: [`mount`] registers them (in this order: a
/// literal segment before a `{id}` of the same place) and [`ROUTES`] lists them, so
/// that tests can require a case for each (every POST refuses a form without its
/// token, every page with an id is its tenant's alone) and cannot miss a new one.
macro_rules! console_routes {
    ($($method:ident $path:literal => $handler:path,)*) => {
        /// `(method, path under /console)` of every console route, in mounting order.
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path),)*];

        fn mount(scope: actix_web::Scope) -> actix_web::Scope {
            scope$(.service(
                web::resource($path)
                    .guard(actix_web::guard::$method())
                    .to($handler),
            ))*
        }
    };
}

console_routes! {
    Get "" => home,
    Get "/static/{name}" => crate::assets::serve,
    Get "/sign-up" => sign_up_page,
    Post "/sign-up" => sign_up,
    Get "/verify-email" => verify_email_page,
    Post "/verify-email" => verify_email,
    Get "/sign-in" => sign_in_page,
    Post "/sign-in" => sign_in,
    Post "/sign-out" => sign_out,
    Get "/password-reset" => crate::reset::reset_request_page,
    Post "/password-reset" => crate::reset::reset_request,
    Post "/password-reset/confirm" => crate::reset::reset_confirm,
    Get "/api-keys" => crate::api_keys::list,
    Post "/api-keys" => crate::api_keys::create,
    Post "/api-keys/{id}/revoke" => crate::api_keys::revoke,
    Get "/team" => crate::team::page,
    Post "/team/invitations" => crate::team::invite,
    Post "/team/invitations/{id}/revoke" => crate::team::revoke_invitation,
    Post "/team/members/{id}/role" => crate::team::set_role,
    Post "/team/members/{id}/remove" => crate::team::remove,
    Get "/join" => crate::join::page,
    Post "/join" => crate::join::join,
    Get "/oidc/start" => crate::oidc::start,
    Get "/oidc/callback" => crate::oidc::callback,
    Get "/conversations" => crate::conversations::list,
    Get "/conversations/{id}/thread" => crate::conversations::live_thread,
    Get "/conversations/{id}" => crate::conversations::show,
    Post "/conversations/{id}/messages" => crate::conversations::answer,
    Post "/conversations/{id}/{action}" => crate::conversations::handle,
    Get "/leads" => crate::leads::leads_page,
    Get "/leads/searches" => crate::leads::live_searches,
    Post "/leads/searches" => crate::leads::start_search,
    Get "/leads.csv" => crate::leads::csv_download,
    Get "/campaigns" => crate::campaigns::list,
    Get "/campaigns/new" => crate::campaigns::new_form,
    Post "/campaigns" => crate::campaigns::create,
    Get "/campaigns/{id}/progress" => crate::campaigns::live_progress,
    Get "/campaigns/{id}" => crate::campaigns::show,
    Post "/campaigns/{id}/cancel" => crate::campaigns::cancel,
    Get "/customers" => crate::customers::list,
    Get "/customers/{id}" => crate::customers::show,
    Post "/customers/{id}/consent" => crate::customers::record,
    Get "/media" => crate::media::list,
    Post "/media" => crate::media::upload_image,
    Get "/media/{id}/image" => crate::media::serve_image,
    Get "/media/{id}/thumbnail" => crate::media::serve_thumbnail,
    Get "/templates" => crate::templates::list,
    Get "/templates/new" => crate::templates::new_form,
    Get "/templates/preview" => crate::templates::preview_fragment,
    Get "/templates/{id}" => crate::templates::show,
    Post "/templates" => crate::templates::create,
    Post "/templates/{id}" => crate::templates::update,
    Post "/templates/{id}/delete" => crate::templates::delete,
    Get "/messages" => crate::messages::log,
    Get "/messages/new" => crate::send::page,
    Post "/messages" => crate::send::send,
    Get "/messages/{id}/timeline" => crate::messages::timeline_fragment,
    Get "/messages/{id}" => crate::messages::show,
}

/// Attempts allowed per window (token buckets shared by every replica): sign-ins per
/// account from one client, and per client across accounts; sign-ups per client.
const SIGN_INS_PER_EMAIL_AND_CLIENT: Rate = Rate {
    per_second: 5.0 / 900.0,
    burst: 5.0,
};
/// Failed sign-ins to one account from every client together. Past them the account's
/// sign-ins are slowed by [`SIGN_IN_DELAY_UNDER_ATTACK`], never refused: strangers
/// failing from many addresses must not lock the owner out.
const SIGN_IN_FAILURES_PER_EMAIL: Rate = Rate {
    per_second: 10.0 / 900.0,
    burst: 10.0,
};
const SIGN_IN_DELAY_UNDER_ATTACK: std::time::Duration = std::time::Duration::from_secs(3);
const SIGN_INS_PER_CLIENT: Rate = Rate {
    per_second: 30.0 / 900.0,
    burst: 30.0,
};
const SIGN_UPS_PER_CLIENT: Rate = Rate {
    per_second: 10.0 / 3600.0,
    burst: 10.0,
};
async fn home(signed_in: SignedIn) -> Result<HttpResponse, ConsoleError> {
    html(
        StatusCode::OK,
        &HomePage {
            signed_in: Some(Nav::of(&signed_in)),
        },
    )
}

/// A page for a visitor, with the CSRF cookie its form needs when the browser has none.
pub(super) fn anonymous_page(
    req: &HttpRequest,
    state: &ConsoleState,
    render: impl FnOnce(&str) -> Result<HttpResponse, ConsoleError>,
) -> Result<HttpResponse, ConsoleError> {
    let token = FormToken::of(req);
    let mut response = render(&token.value)?;
    if let Some(cookie) = token.cookie(&state.settings) {
        response
            .add_cookie(&cookie)
            .map_err(|e| ConsoleError::Internal(e.into()))?;
    }
    Ok(response)
}

async fn sign_up_page(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
) -> Result<HttpResponse, ConsoleError> {
    anonymous_page(&req, &state, |csrf| {
        html(
            StatusCode::OK,
            &SignUpPage {
                csrf,
                business_name: "",
                email: "",
                errors: Vec::new(),
                signed_in: None,
            },
        )
    })
}

#[derive(Deserialize)]
struct SignUpForm {
    csrf: String,
    business_name: String,
    email: String,
    password: String,
}

async fn sign_up(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    form: web::Form<SignUpForm>,
) -> Result<HttpResponse, ConsoleError> {
    let form = form.into_inner();
    check_anonymous_form(&req, &form.csrf)?;
    limit(
        &state,
        &[(&client_key("sign-up", &req), SIGN_UPS_PER_CLIENT)],
    )
    .await?;
    let business_name = form.business_name.trim();
    let email = normalize_email(&form.email);
    let mut errors = Vec::new();
    if business_name.is_empty() || business_name.chars().count() > 100 {
        errors.push(FieldError {
            field: "business_name",
            message: "Enter your business name (up to 100 characters).",
        });
    }
    if email.is_none() {
        errors.push(FieldError {
            field: "email",
            message: "Enter an email address like name@example.com.",
        });
    }
    if let Err(message) = password::check_new(&form.password, &form.email) {
        errors.push(FieldError {
            field: "password",
            message,
        });
    }
    let Some(email) = email.filter(|_| errors.is_empty()) else {
        return html(
            StatusCode::UNPROCESSABLE_ENTITY,
            &SignUpPage {
                csrf: &form.csrf,
                business_name,
                email: form.email.trim(),
                errors,
                signed_in: None,
            },
        );
    };
    let password_hash = password::hash(form.password).await?;
    let (token, token_hash) = new_link_token();
    let link = confirmation_link(&token_hash);
    let public_url = &state.settings.public_url;
    let mut conn = state.conn().await?;
    let existing = nudge_db::console::find_user_by_email(&mut conn, &email).await?;
    let created = match existing {
        Some(_) => Err(nudge_db::DbError::Conflict(
            "console_users_email_key".into(),
        )),
        None => {
            let message = emails::verify_address(&email, public_url, &token);
            nudge_db::console::create_owner(
                &mut conn,
                business_name,
                &email,
                &password_hash,
                &link,
                &message,
            )
            .await
        }
    };
    match created {
        Ok(user) => {
            tracing::info!(user_id = %user.id, tenant_id = %user.tenant_id, "console account created")
        }
        Err(nudge_db::DbError::Conflict(_)) => {
            // The same answer as a new account: only the address's owner learns more.
            let message = emails::already_registered(&email, public_url);
            nudge_db::console::enqueue_email(&mut conn, None, &message).await?;
        }
        Err(other) => return Err(other.into()),
    }
    state.mail_wakeup.notify_one();
    html(
        StatusCode::OK,
        &Notice {
            title: "Check your inbox",
            text: "We have sent you an email. Open the link in it to confirm your address, then sign in.",
            link: None,
            signed_in: None,
        },
    )
}

#[derive(Deserialize)]
struct LinkQuery {
    token: String,
}

/// The link in the email opens a page with a button: following the link alone (as
/// mail scanners do) spends nothing.
async fn verify_email_page(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    query: web::Query<LinkQuery>,
) -> Result<HttpResponse, ConsoleError> {
    anonymous_page(&req, &state, |csrf| {
        html(
            StatusCode::OK,
            &VerifyEmailPage {
                csrf,
                token: &query.token,
                signed_in: None,
            },
        )
    })
}

#[derive(Deserialize)]
struct VerifyForm {
    csrf: String,
    token: String,
}

async fn verify_email(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    form: web::Form<VerifyForm>,
) -> Result<HttpResponse, ConsoleError> {
    check_anonymous_form(&req, &form.csrf)?;
    let mut conn = state.conn().await?;
    let used =
        nudge_db::console::use_verification_link(&mut conn, &hash_token(&form.token)).await?;
    let (status, title, text) = match used {
        LinkUse::Verified(_) => (
            StatusCode::OK,
            "Your email is confirmed",
            "You can now sign in.",
        ),
        LinkUse::Expired => (
            StatusCode::GONE,
            "This link has expired",
            "Sign in with your email and password and we will send you a new one.",
        ),
        LinkUse::AlreadyUsed => (
            StatusCode::GONE,
            "This link was already used",
            "Each link works once. If your address is confirmed, sign in.",
        ),
        LinkUse::Unknown => (
            StatusCode::NOT_FOUND,
            "This link is not valid",
            "Check that you opened the whole link from the email.",
        ),
    };
    html(
        status,
        &Notice {
            title,
            text,
            link: Some(("/console/sign-in", "Sign in")),
            signed_in: None,
        },
    )
}

async fn sign_in_page(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
) -> Result<HttpResponse, ConsoleError> {
    anonymous_page(&req, &state, |csrf| {
        html(
            StatusCode::OK,
            &SignInPage {
                csrf,
                email: "",
                error: None,
                provider: state.settings.oidc.as_deref().map(|p| p.name()),
                signed_in: None,
            },
        )
    })
}

#[derive(Deserialize)]
struct SignInForm {
    csrf: String,
    email: String,
    password: String,
}

async fn sign_in(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    form: web::Form<SignInForm>,
) -> Result<HttpResponse, ConsoleError> {
    let form = form.into_inner();
    check_anonymous_form(&req, &form.csrf)?;
    let email = normalize_email(&form.email).unwrap_or_default();
    let client = client_key("sign-in", &req);
    limit(
        &state,
        &[
            (
                &format!("{}:{client}", email_key("sign-in", &email)),
                SIGN_INS_PER_EMAIL_AND_CLIENT,
            ),
            (&client, SIGN_INS_PER_CLIENT),
        ],
    )
    .await?;
    let failures = email_key("sign-in-failures", &email);
    let under_attack = {
        let mut conn = state.conn().await?;
        nudge_db::rate::available(&mut conn, &failures, SIGN_IN_FAILURES_PER_EMAIL).await? < 1.0
    };
    if under_attack {
        // Without a connection held: the wait must not drain the pool.
        tokio::time::sleep(SIGN_IN_DELAY_UNDER_ATTACK).await;
    }
    let mut conn = state.conn().await?;
    let user = nudge_db::console::find_user_by_email(&mut conn, &email).await?;
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let matches = password::verify(form.password, stored).await?;
    let user = match user {
        Some(user) if matches => user,
        _ => {
            // Counted, not enforced: the count only slows the account's sign-ins.
            nudge_db::rate::take(&mut conn, &[(&failures, SIGN_IN_FAILURES_PER_EMAIL)], 1.0)
                .await?;
            return html(
                StatusCode::UNAUTHORIZED,
                &SignInPage {
                    csrf: &form.csrf,
                    email: form.email.trim(),
                    error: Some("That email and password do not match an account."),
                    provider: state.settings.oidc.as_deref().map(|p| p.name()),
                    signed_in: None,
                },
            );
        }
    };
    if user.email_verified_at.is_none() {
        // Only reachable with the right password, so it tells a stranger nothing.
        let (token, token_hash) = new_link_token();
        let link = confirmation_link(&token_hash);
        let message = emails::verify_address(&user.email, &state.settings.public_url, &token);
        nudge_db::console::send_link(&mut conn, &user, &link, &message).await?;
        state.mail_wakeup.notify_one();
        return html(
            StatusCode::FORBIDDEN,
            &Notice {
                title: "Confirm your email first",
                text: "We have sent you a new link. Open it, then sign in again.",
                link: None,
                signed_in: None,
            },
        );
    }
    tracing::info!(user_id = %user.id, tenant_id = %user.tenant_id, "console sign-in");
    start_session(&mut conn, &user, &state.settings).await
}

async fn sign_out(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ConsoleError> {
    check_session_form(&signed_in, &form.csrf)?;
    let mut conn = state.conn().await?;
    nudge_db::console::delete_session(&mut conn, &signed_in.0.session.token_hash).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/console/sign-in"))
        // Whatever a browser kept of the console's pages and images goes with the session.
        .insert_header(("clear-site-data", "\"cache\""))
        .cookie(cleared_session_cookie(&state.settings))
        .finish())
}

/// A new link token: for the email, and its hash for the database.
fn new_link_token() -> (String, String) {
    let token = new_token();
    let hash = hash_token(&token);
    (token, hash)
}

/// The confirmation link stored for a token's hash.
fn confirmation_link(token_hash: &str) -> NewLink<'_> {
    NewLink {
        token_hash,
        purpose: VERIFY_EMAIL,
        valid_for: chrono::Duration::hours(VERIFY_LINK_HOURS),
    }
}

/// The bucket of an address for `action`, named by a hash (the bucket table is not
/// where addresses should be read).
pub(super) fn email_key(action: &str, email: &str) -> String {
    format!("console-{action}:email:{}", &hash_token(email)[..32])
}

/// The bucket of the client's address for `action`: the TCP peer, or behind trusted
/// proxies (`TRUSTED_PROXIES`) the client they report, never a forwarded header
/// anyone could write; an IPv6 client by its /64 (docs/security.md).
pub(super) fn client_key(action: &str, req: &HttpRequest) -> String {
    let client = nudge_telemetry::http::client_ip(req).map_or_else(
        || "unknown".to_owned(),
        nudge_domain::client_address::limit_key,
    );
    format!("console-{action}:client:{client}")
}

/// Takes one attempt of `action` from the address's bucket and the client's.
pub(super) async fn limit_address_and_client(
    state: &ConsoleState,
    req: &HttpRequest,
    action: &str,
    email: &str,
    per_address: Rate,
    per_client: Rate,
) -> Result<(), ConsoleError> {
    limit(
        state,
        &[
            (&email_key(action, email), per_address),
            (&client_key(action, req), per_client),
        ],
    )
    .await
}

/// Takes one attempt from every bucket, or says how long to wait.
pub(super) async fn limit(
    state: &ConsoleState,
    buckets: &[(&String, Rate)],
) -> Result<(), ConsoleError> {
    let keys: Vec<(&str, Rate)> = buckets.iter().map(|(k, r)| (k.as_str(), *r)).collect();
    let mut conn = state.conn().await?;
    match nudge_db::rate::take(&mut conn, &keys, 1.0).await? {
        None => Ok(()),
        Some(wait) => Err(ConsoleError::TooManyAttempts {
            retry_after_seconds: wait.as_secs().max(1),
        }),
    }
}
