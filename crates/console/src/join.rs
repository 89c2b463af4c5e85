//! Accepting an invitation: the emailed link opens a page naming the tenant and the
//! role, where the invitee chooses a password; the account is created (its address
//! confirmed, since the link reached it), the invitation spent and the person signed in.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use nudge_db::console::hash_token;
use nudge_db::console::team::{self as db, Acceptance, InvitationLink};
use serde::Deserialize;

use super::error::ConsoleError;
use super::pages::{html, role_label, JoinPage, Notice};
use super::password;
use super::routes::anonymous_page;
use super::session::{check_anonymous_form, start_session};
use crate::ConsoleState;

#[derive(Deserialize)]
pub(super) struct LinkQuery {
    token: String,
}

pub(super) async fn page(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    query: web::Query<LinkQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let mut conn = state.conn().await?;
    let (invitation, tenant) =
        match db::find_invitation(&mut conn, &hash_token(&query.token)).await? {
            InvitationLink::Open(invitation, tenant) => (invitation, tenant),
            other => return not_open(&other),
        };
    anonymous_page(&req, &state, |csrf| {
        html(
            StatusCode::OK,
            &JoinPage {
                csrf,
                token: &query.token,
                tenant: &tenant,
                email: &invitation.email,
                role_label: role_label(&invitation.role),
                error: None,
                signed_in: None,
            },
        )
    })
}

#[derive(Deserialize)]
pub(super) struct JoinForm {
    csrf: String,
    token: String,
    password: String,
}

pub(super) async fn join(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    form: web::Form<JoinForm>,
) -> Result<HttpResponse, ConsoleError> {
    let form = form.into_inner();
    check_anonymous_form(&req, &form.csrf)?;
    let token_hash = hash_token(&form.token);
    let mut conn = state.conn().await?;
    let (invitation, tenant) = match db::find_invitation(&mut conn, &token_hash).await? {
        InvitationLink::Open(invitation, tenant) => (invitation, tenant),
        other => return not_open(&other),
    };
    if let Err(message) = password::check_new(&form.password, &invitation.email) {
        return html(
            StatusCode::UNPROCESSABLE_ENTITY,
            &JoinPage {
                csrf: &form.csrf,
                token: &form.token,
                tenant: &tenant,
                email: &invitation.email,
                role_label: role_label(&invitation.role),
                error: Some(message),
                signed_in: None,
            },
        );
    }
    let password_hash = password::hash(form.password).await?;
    // Checked again under the invitation's lock: two submissions join once.
    match db::accept_invitation(&mut conn, &token_hash, &password_hash).await? {
        Acceptance::Joined(user) => {
            tracing::info!(user_id = %user.id, tenant_id = %user.tenant_id, invitation_id = %invitation.id, "console invitation accepted");
            start_session(&mut conn, &user, &state.settings).await
        }
        Acceptance::AddressTaken => html(
            StatusCode::CONFLICT,
            &Notice {
                title: "This address already has a Nudge account",
                text: "An address belongs to one business's team. Sign in with it, or ask whoever invited you to invite another address.",
                link: Some(("/console/sign-in", "Sign in")),
                signed_in: None,
            },
        ),
        Acceptance::NotOpen(other) => not_open(&other),
    }
}

/// The page for a link that cannot be used.
fn not_open(link: &InvitationLink) -> Result<HttpResponse, ConsoleError> {
    let (status, title, text) = match link {
        InvitationLink::Expired => (
            StatusCode::GONE,
            "This invitation has expired",
            "Ask whoever invited you to send a new one.",
        ),
        InvitationLink::Ended => (
            StatusCode::GONE,
            "This invitation can no longer be used",
            "It was accepted, withdrawn or replaced by a newer one. If you joined, sign in.",
        ),
        InvitationLink::Unknown | InvitationLink::Open(..) => (
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
