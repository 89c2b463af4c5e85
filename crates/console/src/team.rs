//! The team page (owners only): the tenant's people and open invitations; inviting
//! someone by email with a role, revoking an invitation, changing a person's role and
//! removing a person. Accepting an invitation is in `join`.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use nudge_db::console::team::{self as db, Change, Invite, MemberChange, NewInvitation};
use nudge_db::console::{hash_token, new_token};
use nudge_db::rate::Rate;
use nudge_domain::{ConsoleUserId, InvitationId};
use serde::Deserialize;

use super::emails::{self, INVITATION_DAYS};
use super::error::ConsoleError;
use super::normalize_email;
use super::pages::{html, role_label, FieldError, InvitationRow, MemberRow, Nav, Notice, TeamPage};
use super::roles::{Permission, Role};
use super::routes::limit;
use super::session::{check_session_form, CsrfForm, SignedIn};
use crate::ConsoleState;

/// Invitations a tenant may send: each is an email to an address of its choosing.
const INVITATIONS_PER_TENANT: Rate = Rate {
    per_second: 20.0 / 3600.0,
    burst: 20.0,
};

const TEAM_PAGE: &str = "/console/team";

/// What the invite form held, to show again with its problems.
struct InviteForm<'a> {
    email: &'a str,
    role: &'a str,
    errors: Vec<FieldError>,
}

async fn render(
    signed_in: &SignedIn,
    state: &ConsoleState,
    status: StatusCode,
    form: InviteForm<'_>,
) -> Result<HttpResponse, ConsoleError> {
    let mut conn = state.conn().await?;
    let members = db::list_members(&mut conn, signed_in.tenant()).await?;
    let invitations = db::list_open_invitations(&mut conn, signed_in.tenant()).await?;
    let you = signed_in.0.user.id;
    html(
        status,
        &TeamPage {
            members: members
                .into_iter()
                .map(|m| {
                    let role = Role::parse(&m.role);
                    MemberRow {
                        id: m.id.to_string(),
                        is_you: m.id == you,
                        role: role.map_or("", Role::as_str),
                        role_label: role_label(&m.role),
                        joined: m.created_at.format("%Y-%m-%d").to_string(),
                        email: m.email,
                    }
                })
                .collect(),
            invitations: invitations
                .into_iter()
                .map(|i| InvitationRow {
                    id: i.id.to_string(),
                    role_label: role_label(&i.role),
                    expires: i.expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                    email: i.email,
                })
                .collect(),
            roles: Role::ALL.iter().map(|r| (r.as_str(), r.label())).collect(),
            invite_email: form.email,
            invite_role: form.role,
            errors: form.errors,
            signed_in: Some(Nav::of(signed_in)),
        },
    )
}

pub(super) async fn page(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
) -> Result<HttpResponse, ConsoleError> {
    signed_in.require(Permission::ManageTeam)?;
    render(
        &signed_in,
        &state,
        StatusCode::OK,
        InviteForm {
            email: "",
            role: Role::Marketer.as_str(),
            errors: Vec::new(),
        },
    )
    .await
}

#[derive(Deserialize)]
pub(super) struct InviteFields {
    csrf: String,
    email: String,
    role: String,
}

pub(super) async fn invite(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
    form: web::Form<InviteFields>,
) -> Result<HttpResponse, ConsoleError> {
    check_session_form(&signed_in, &form.csrf)?;
    signed_in.require(Permission::ManageTeam)?;
    let email = normalize_email(&form.email);
    let role = Role::parse(&form.role);
    let mut errors = Vec::new();
    if email.is_none() {
        errors.push(FieldError {
            field: "email",
            message: "Enter an email address like name@example.com.",
        });
    }
    if role.is_none() {
        errors.push(FieldError {
            field: "role",
            message: "Choose a role.",
        });
    }
    let (Some(email), Some(role)) = (email, role) else {
        return refused(&signed_in, &state, &form, errors).await;
    };
    limit(
        &state,
        &[(
            &format!("console-invite:tenant:{}", signed_in.tenant()),
            INVITATIONS_PER_TENANT,
        )],
    )
    .await?;
    let token = new_token();
    let token_hash = hash_token(&token);
    let message = emails::invitation(
        &email,
        &state.settings.public_url,
        &token,
        &signed_in.0.tenant_name,
        &signed_in.0.user.email,
        role.label(),
    );
    let mut conn = state.conn().await?;
    let invited = db::invite(
        &mut conn,
        &NewInvitation {
            tenant: signed_in.tenant(),
            email: &email,
            role: role.as_str(),
            token_hash: &token_hash,
            invited_by: signed_in.0.user.id,
            valid_for: chrono::Duration::days(INVITATION_DAYS),
        },
        &message,
    )
    .await?;
    match invited {
        Invite::Sent(invitation) => {
            tracing::info!(invitation_id = %invitation.id, user_id = %signed_in.0.user.id, "console invitation sent");
            state.mail_wakeup.notify_one();
            Ok(back_to_team())
        }
        // The owner sees the team, so saying this tells them nothing new.
        Invite::AlreadyMember => {
            let errors = vec![FieldError {
                field: "email",
                message: "This person is already in your team.",
            }];
            refused(&signed_in, &state, &form, errors).await
        }
    }
}

async fn refused(
    signed_in: &SignedIn,
    state: &ConsoleState,
    form: &InviteFields,
    errors: Vec<FieldError>,
) -> Result<HttpResponse, ConsoleError> {
    render(
        signed_in,
        state,
        StatusCode::UNPROCESSABLE_ENTITY,
        InviteForm {
            email: form.email.trim(),
            role: &form.role,
            errors,
        },
    )
    .await
}

pub(super) async fn revoke_invitation(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
    id: web::Path<InvitationId>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ConsoleError> {
    check_session_form(&signed_in, &form.csrf)?;
    signed_in.require(Permission::ManageTeam)?;
    let mut conn = state.conn().await?;
    if db::revoke_invitation(&mut conn, signed_in.tenant(), id.into_inner().as_uuid()).await? {
        Ok(back_to_team())
    } else {
        Err(ConsoleError::NotFound)
    }
}

#[derive(Deserialize)]
pub(super) struct RoleFields {
    csrf: String,
    role: String,
}

pub(super) async fn set_role(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
    id: web::Path<ConsoleUserId>,
    form: web::Form<RoleFields>,
) -> Result<HttpResponse, ConsoleError> {
    check_session_form(&signed_in, &form.csrf)?;
    signed_in.require(Permission::ManageTeam)?;
    let Some(role) = Role::parse(&form.role) else {
        return Err(ConsoleError::BadForm);
    };
    change(
        &signed_in,
        &state,
        id.into_inner(),
        Change::SetRole(role.as_str()),
    )
    .await
}

pub(super) async fn remove(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
    id: web::Path<ConsoleUserId>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ConsoleError> {
    check_session_form(&signed_in, &form.csrf)?;
    signed_in.require(Permission::ManageTeam)?;
    change(&signed_in, &state, id.into_inner(), Change::Remove).await
}

async fn change(
    signed_in: &SignedIn,
    state: &ConsoleState,
    member: ConsoleUserId,
    change: Change<'_>,
) -> Result<HttpResponse, ConsoleError> {
    let mut conn = state.conn().await?;
    let acting = signed_in.0.user.id;
    match db::change_member(&mut conn, signed_in.tenant(), acting, member.as_uuid(), change).await? {
        MemberChange::Done => {
            tracing::info!(user_id = %acting, member_id = %member, ?change, "console team changed");
            Ok(back_to_team())
        }
        // Another tenant's person is as absent as one who never was.
        MemberChange::NotFound => Err(ConsoleError::NotFound),
        MemberChange::ActingNotOwner => Err(ConsoleError::Forbidden),
        MemberChange::Yourself => html(
            StatusCode::CONFLICT,
            &Notice {
                title: "You cannot change your own access here",
                text: "Another owner can change your role or remove you, so your team always keeps an owner.",
                link: Some((TEAM_PAGE, "Back to the team")),
                signed_in: Some(Nav::of(signed_in)),
            },
        ),
    }
}

fn back_to_team() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, TEAM_PAGE))
        .finish()
}
