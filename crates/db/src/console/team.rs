//! A tenant's team: its people, the invitations of new ones, and the changes owners
//! make (roles, removals). Everything here is scoped by the tenant, except following an
//! invitation link, which is how the invitee learns the tenant.
//!
//! A tenant always keeps an owner: changes to people lock the tenant's owners first
//! and need the acting person to be one of them, so two owners demoting or removing
//! each other at once cannot both succeed.

use chrono::{Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use nudge_domain::TenantId;
use uuid::Uuid;

use super::{enqueue_email, OutgoingEmail};
use crate::models::{ConsoleInvitation, ConsoleUser};
use crate::schema::{console_invitations, console_users, tenants};
use crate::scope::OfTenant;
use crate::DbError;

/// The tenant's people, oldest first.
pub async fn list_members(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
) -> Result<Vec<ConsoleUser>, DbError> {
    Ok(console_users::table
        .of(tenant)
        .order((console_users::created_at.asc(), console_users::id.asc()))
        .select(ConsoleUser::as_select())
        .load(conn)
        .await?)
}

/// Invitations that can still be accepted, newest first.
pub async fn list_open_invitations(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
) -> Result<Vec<ConsoleInvitation>, DbError> {
    Ok(console_invitations::table
        .of(tenant)
        .filter(console_invitations::accepted_at.is_null())
        .filter(console_invitations::revoked_at.is_null())
        .filter(console_invitations::expires_at.gt(Utc::now()))
        .order(console_invitations::created_at.desc())
        .select(ConsoleInvitation::as_select())
        .load(conn)
        .await?)
}

/// An invitation about to be sent.
pub struct NewInvitation<'a> {
    pub tenant: TenantId,
    pub email: &'a str,
    pub role: &'a str,
    pub token_hash: &'a str,
    pub invited_by: Uuid,
    pub valid_for: Duration,
}

/// What inviting came to.
#[derive(Debug)]
pub enum Invite {
    Sent(Box<ConsoleInvitation>),
    /// The address already belongs to someone in this tenant.
    AlreadyMember,
}

/// Records the invitation and queues its email, together. An open invitation of the
/// same address in the tenant is revoked: only the newest link works.
pub async fn invite(
    conn: &mut AsyncPgConnection,
    new: &NewInvitation<'_>,
    message: &OutgoingEmail,
) -> Result<Invite, DbError> {
    conn.transaction::<_, DbError, _>(async |conn| {
        let member: i64 = console_users::table
            .of(new.tenant)
            .filter(console_users::email.eq(new.email))
            .count()
            .get_result(conn)
            .await?;
        if member > 0 {
            return Ok(Invite::AlreadyMember);
        }
        let now = Utc::now();
        diesel::update(
            console_invitations::table
                .of(new.tenant)
                .filter(console_invitations::email.eq(new.email))
                .filter(console_invitations::accepted_at.is_null())
                .filter(console_invitations::revoked_at.is_null()),
        )
        .set(console_invitations::revoked_at.eq(now))
        .execute(conn)
        .await?;
        let invitation = diesel::insert_into(console_invitations::table)
            .values(&ConsoleInvitation {
                id: Uuid::now_v7(),
                tenant_id: new.tenant.as_uuid(),
                email: new.email.to_owned(),
                role: new.role.to_owned(),
                token_hash: new.token_hash.to_owned(),
                invited_by: Some(new.invited_by),
                created_at: now,
                expires_at: now + new.valid_for,
                accepted_at: None,
                revoked_at: None,
            })
            .returning(ConsoleInvitation::as_returning())
            .get_result(conn)
            .await?;
        enqueue_email(conn, Some(new.tenant), message).await?;
        Ok(Invite::Sent(Box::new(invitation)))
    })
    .await
}

/// Revokes one of the tenant's open invitations; `false` when there is none with that
/// id (another tenant's, ended, or never was).
pub async fn revoke_invitation(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: Uuid,
) -> Result<bool, DbError> {
    let revoked = diesel::update(
        console_invitations::table
            .of(tenant)
            .filter(console_invitations::id.eq(id))
            .filter(console_invitations::accepted_at.is_null())
            .filter(console_invitations::revoked_at.is_null()),
    )
    .set(console_invitations::revoked_at.eq(Utc::now()))
    .execute(conn)
    .await?;
    Ok(revoked > 0)
}

/// Where an invitation link stands.
#[derive(Debug)]
pub enum InvitationLink {
    /// It can be accepted: the invitation and its tenant's name.
    Open(Box<ConsoleInvitation>, String),
    Expired,
    /// Accepted, revoked or replaced by a newer invitation.
    Ended,
    Unknown,
}

/// Why an invitation can no longer be accepted, if it cannot.
fn unusable(invitation: &ConsoleInvitation) -> Option<InvitationLink> {
    if invitation.accepted_at.is_some() || invitation.revoked_at.is_some() {
        Some(InvitationLink::Ended)
    } else if invitation.expires_at <= Utc::now() {
        Some(InvitationLink::Expired)
    } else {
        None
    }
}

/// The invitation a link's token names (this is how the invitee learns the tenant).
pub async fn find_invitation(
    conn: &mut AsyncPgConnection,
    token_hash: &str,
) -> Result<InvitationLink, DbError> {
    let found = console_invitations::table
        .inner_join(tenants::table)
        .filter(console_invitations::token_hash.eq(token_hash))
        .select((ConsoleInvitation::as_select(), tenants::name))
        .first(conn)
        .await
        .optional()?;
    Ok(match found {
        None => InvitationLink::Unknown,
        Some((invitation, tenant_name)) => unusable(&invitation)
            .unwrap_or_else(|| InvitationLink::Open(Box::new(invitation), tenant_name)),
    })
}

/// What accepting an invitation came to.
#[derive(Debug)]
pub enum Acceptance {
    /// The account exists, its address confirmed (the link reached it).
    Joined(Box<ConsoleUser>),
    /// The address already has an account (in any tenant: one address, one account).
    AddressTaken,
    /// The link cannot be used: the invitation is expired, ended or unknown.
    NotOpen(InvitationLink),
}

/// Creates the invitee's account and spends the invitation, once: the invitation is
/// locked while it is checked and spent.
pub async fn accept_invitation(
    conn: &mut AsyncPgConnection,
    token_hash: &str,
    password_hash: &str,
) -> Result<Acceptance, DbError> {
    conn.transaction::<_, DbError, _>(async |conn| {
        let found: Option<ConsoleInvitation> = console_invitations::table
            .filter(console_invitations::token_hash.eq(token_hash))
            .select(ConsoleInvitation::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()?;
        let Some(invitation) = found else {
            return Ok(Acceptance::NotOpen(InvitationLink::Unknown));
        };
        if let Some(why) = unusable(&invitation) {
            return Ok(Acceptance::NotOpen(why));
        }
        let now = Utc::now();
        let user: Option<ConsoleUser> = diesel::insert_into(console_users::table)
            .values(&ConsoleUser {
                id: Uuid::now_v7(),
                tenant_id: invitation.tenant_id,
                email: invitation.email.clone(),
                password_hash: Some(password_hash.to_owned()),
                role: invitation.role.clone(),
                email_verified_at: Some(now),
                created_at: now,
            })
            .on_conflict_do_nothing()
            .returning(ConsoleUser::as_returning())
            .get_result(conn)
            .await
            .optional()?;
        let Some(user) = user else {
            return Ok(Acceptance::AddressTaken);
        };
        diesel::update(console_invitations::table.find(invitation.id))
            .set(console_invitations::accepted_at.eq(now))
            .execute(conn)
            .await?;
        Ok(Acceptance::Joined(Box::new(user)))
    })
    .await
}

/// What a change to a person came to.
#[derive(Debug, PartialEq, Eq)]
pub enum MemberChange {
    Done,
    /// No such person in this tenant.
    NotFound,
    /// People do not change or remove themselves here, so a tenant keeps an owner.
    Yourself,
    /// The acting person is no longer an owner (changed in the meantime).
    ActingNotOwner,
}

/// A change an owner makes to another person of the tenant.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    SetRole(&'a str),
    Remove,
}

/// Sets a person's role or removes them (their sessions end with the account). The
/// acting person must be one of the tenant's owners (checked under the owners' lock)
/// and someone else.
pub async fn change_member(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    acting: Uuid,
    member: Uuid,
    change: Change<'_>,
) -> Result<MemberChange, DbError> {
    if acting == member {
        return Ok(MemberChange::Yourself);
    }
    conn.transaction::<_, DbError, _>(async |conn| {
        let owners: Vec<Uuid> = console_users::table
            .of(tenant)
            .filter(console_users::role.eq("owner"))
            .select(console_users::id)
            .for_update()
            .load(conn)
            .await?;
        let target = console_users::table
            .of(tenant)
            .filter(console_users::id.eq(member));
        let exists: i64 = target.count().get_result(conn).await?;
        if exists == 0 {
            return Ok(MemberChange::NotFound);
        }
        // The acting owner stays an owner, so the tenant keeps one whatever happens to
        // the other person.
        if !owners.contains(&acting) {
            return Ok(MemberChange::ActingNotOwner);
        }
        match change {
            Change::SetRole(role) => {
                diesel::update(target)
                    .set(console_users::role.eq(role))
                    .execute(conn)
                    .await?
            }
            Change::Remove => diesel::delete(target).execute(conn).await?,
        };
        Ok(MemberChange::Done)
    })
    .await
}
