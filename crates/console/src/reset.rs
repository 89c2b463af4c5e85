//! Password reset by an emailed 6-digit code (docs/console.md).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use nudge_db::console::Reset;
use nudge_db::rate::Rate;
use serde::Deserialize;

use super::emails::{self, RESET_CODE_MINUTES};
use super::error::ConsoleError;
use super::pages::{html, Notice, ResetCodePage, ResetRequestPage};
use super::routes::{anonymous_page, client_key, email_key, limit, limit_address_and_client};
use super::session::check_anonymous_form;
use super::{normalize_email, password};
use crate::ConsoleState;

/// Reset codes emailed per address and per client address, and codes tried per client
/// address (each code also allows only 5 guesses).
const RESET_CODES_PER_EMAIL: Rate = Rate {
    per_second: 3.0 / 3600.0,
    burst: 3.0,
};
const RESET_CODES_PER_CLIENT: Rate = Rate {
    per_second: 20.0 / 3600.0,
    burst: 20.0,
};
const RESET_TRIES_PER_CLIENT: Rate = Rate {
    per_second: 30.0 / 900.0,
    burst: 30.0,
};
/// Guesses at one account's reset codes per day, from every client and across codes:
/// a six-digit code is one in a million, and new codes must not buy new guesses (at
/// most 10 a day: one chance in 100,000 a day, where 3 codes an hour with 5 tries
/// each gave 360).
const RESET_TRIES_PER_EMAIL: Rate = Rate {
    per_second: 10.0 / 86_400.0,
    burst: 10.0,
};

pub(super) async fn reset_request_page(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
) -> Result<HttpResponse, ConsoleError> {
    anonymous_page(&req, &state, |csrf| {
        html(
            StatusCode::OK,
            &ResetRequestPage {
                csrf,
                signed_in: None,
            },
        )
    })
}

#[derive(Deserialize)]
pub(crate) struct ResetRequestForm {
    csrf: String,
    email: String,
}

/// Emails a code when the address has an account; answers the same page either way.
pub(super) async fn reset_request(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    form: web::Form<ResetRequestForm>,
) -> Result<HttpResponse, ConsoleError> {
    let form = form.into_inner();
    check_anonymous_form(&req, &form.csrf)?;
    let email = normalize_email(&form.email).unwrap_or_default();
    limit_address_and_client(
        &state,
        &req,
        "reset",
        &email,
        RESET_CODES_PER_EMAIL,
        RESET_CODES_PER_CLIENT,
    )
    .await?;
    let mut conn = state.conn().await?;
    if let Some(user) = nudge_db::console::find_user_by_email(&mut conn, &email).await? {
        let code = six_digits();
        let code_hash = nudge_db::console::hash_reset_code(user.id, &code);
        let message = emails::reset_code(&user.email, &code);
        nudge_db::console::issue_reset_code(
            &mut conn,
            &user,
            &code_hash,
            chrono::Duration::minutes(RESET_CODE_MINUTES),
            &message,
        )
        .await?;
        state.mail_wakeup.notify_one();
    }
    html(
        StatusCode::OK,
        &ResetCodePage {
            csrf: &form.csrf,
            email: &email,
            error: None,
            signed_in: None,
        },
    )
}

#[derive(Deserialize)]
pub(crate) struct ResetConfirmForm {
    csrf: String,
    email: String,
    code: String,
    password: String,
}

pub(super) async fn reset_confirm(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    form: web::Form<ResetConfirmForm>,
) -> Result<HttpResponse, ConsoleError> {
    let form = form.into_inner();
    check_anonymous_form(&req, &form.csrf)?;
    let email = normalize_email(&form.email).unwrap_or_default();
    limit(
        &state,
        &[
            (&client_key("reset-try", &req), RESET_TRIES_PER_CLIENT),
            (&email_key("reset-try", &email), RESET_TRIES_PER_EMAIL),
        ],
    )
    .await?;
    let again = |status, error| {
        html(
            status,
            &ResetCodePage {
                csrf: &form.csrf,
                email: &email,
                error: Some(error),
                signed_in: None,
            },
        )
    };
    if let Err(message) = password::check_new(&form.password, &email) {
        return again(StatusCode::UNPROCESSABLE_ENTITY, message);
    }
    // Hashed before the code is checked, so a known and an unknown address cost the same.
    let new_hash = password::hash(form.password.clone()).await?;
    let mut conn = state.conn().await?;
    let user = nudge_db::console::find_user_by_email(&mut conn, &email).await?;
    let code = form.code.trim();
    let outcome = match &user {
        Some(user) if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) => {
            let code_hash = nudge_db::console::hash_reset_code(user.id, code);
            nudge_db::console::reset_password(&mut conn, user, &code_hash, &new_hash).await?
        }
        Some(user) => {
            // Not six digits: still a guess, counted like one.
            let code_hash = nudge_db::console::hash_reset_code(user.id, "not-a-code");
            nudge_db::console::reset_password(&mut conn, user, &code_hash, &new_hash).await?
        }
        None => Reset::NoLiveCode,
    };
    match outcome {
        Reset::Done => {
            if let Some(user) = user {
                tracing::info!(user_id = %user.id, "console password reset; sessions ended");
            }
            html(
                StatusCode::OK,
                &Notice {
                    title: "Your password is changed",
                    text: "Every session of your account was signed out. Sign in with your new password.",
                    link: Some(("/console/sign-in", "Sign in")),
                    signed_in: None,
                },
            )
        }
        Reset::WrongCode { .. } | Reset::NoLiveCode => again(
            StatusCode::BAD_REQUEST,
            "That code is not right, or it has expired. Check the latest email, or ask for a new code.",
        ),
    }
}

/// A uniformly random 6-digit code.
fn six_digits() -> String {
    use rand::Rng;
    format!("{:06}", rand::rng().random_range(0..1_000_000))
}
