//! The team: invitations (sent, accepted once, withdrawn, replaced, expired), roles
//! and removals, owners only, one tenant's people only.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nudge_db::console::team::{change_member, Change, MemberChange};
use nudge_db::schema::{console_invitations, console_users};
use uuid::Uuid;

use super::browser::{
    account, another_tenant, emails_to, hidden_field, link_in, new_address, signed_in, Browser,
    Page, PASSWORD,
};
use crate::helpers::{spawn_app, TestApp};

/// The path of an emailed console link.
pub(super) fn path_of(link: &str) -> &str {
    link.strip_prefix("http://localhost:8080")
        .expect("a console link")
}

/// Owner `browser` invites `email` as `role`; the invitation's link.
pub(super) async fn invite(
    browser: &mut Browser,
    email: &str,
    role: &str,
    nth_email: usize,
) -> String {
    let csrf = browser.get("/console/team").await.csrf();
    let sent = browser
        .post(
            "/console/team/invitations",
            &[("csrf", &csrf), ("email", email), ("role", role)],
        )
        .await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    assert_eq!(sent.location.as_deref(), Some("/console/team"));
    let emails = emails_to(&email.to_lowercase(), nth_email).await;
    link_in(&emails[nth_email - 1])
}

/// Opens an invitation link and submits the password, as the invitee.
pub(super) async fn join(browser: &mut Browser, link: &str, password: &str) -> Page {
    let page = browser.get(path_of(link)).await;
    if page.status != 200 {
        return page;
    }
    let token = hidden_field(&page.body, "token");
    let csrf = page.csrf();
    browser
        .post(
            "/console/join",
            &[("csrf", &csrf), ("token", &token), ("password", password)],
        )
        .await
}

async fn user_count(app: &TestApp, email: &str) -> i64 {
    let mut conn = app.db.connect().await;
    console_users::table
        .filter(console_users::email.eq(email))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap()
}

async fn user_id(app: &TestApp, email: &str) -> Uuid {
    let mut conn = app.db.connect().await;
    console_users::table
        .filter(console_users::email.eq(email))
        .select(console_users::id)
        .first(&mut conn)
        .await
        .unwrap()
}

async fn invitation_id(app: &TestApp, email: &str) -> Uuid {
    let mut conn = app.db.connect().await;
    console_invitations::table
        .filter(console_invitations::email.eq(email))
        .order(console_invitations::created_at.desc())
        .select(console_invitations::id)
        .first(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_owner_invites_a_teammate_who_joins_once_with_the_emailed_link() {
    let app = spawn_app().await;
    let mut owner = signed_in(&app, &app.tenant_id, "owner").await;
    let home = owner.get("/console").await;
    assert!(home.body.contains("href=\"/console/team\""), "a link");

    let teammate = new_address("agent");
    let link = invite(&mut owner, &teammate.to_uppercase(), "care_agent", 1).await;
    let email = &emails_to(&teammate, 1).await[0];
    assert!(
        email["Subject"].as_str().unwrap().contains("invited you"),
        "{email}"
    );
    assert!(link.contains("/console/join?token="), "{link}");
    let team = owner.get("/console/team").await;
    assert!(team.body.contains(&teammate), "listed as waiting");

    // Opening the link names the business and the role, and spends nothing.
    let mut invitee = Browser::new(&app);
    let page = invitee.get(path_of(&link)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Care agent"), "{}", page.body);
    assert!(page.body.contains(&teammate));

    // A refused password changes nothing.
    let short = join(&mut invitee, &link, "short").await;
    assert_eq!(short.status, 422, "{}", short.body);
    assert_eq!(user_count(&app, &teammate).await, 0);

    let joined = join(&mut invitee, &link, PASSWORD).await;
    assert_eq!(joined.status, 303, "{}", joined.body);
    assert_eq!(joined.location.as_deref(), Some("/console"));
    let home = invitee.get("/console").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("Care agent") && home.body.contains(&teammate));
    assert_eq!(invitee.get("/console/team").await.status, 403);

    // Once only.
    let again = join(&mut Browser::new(&app), &link, PASSWORD).await;
    assert_eq!(again.status, 410, "{}", again.body);
    assert_eq!(user_count(&app, &teammate).await, 1);

    // The account is an ordinary one: it signs in with its password.
    let mut later = Browser::new(&app);
    assert_eq!(later.sign_in(&teammate, PASSWORD).await.status, 303);
    let team = owner.get("/console/team").await;
    assert!(team.body.contains("Invitations waiting"));
    assert!(
        team.body
            .contains(&format!("{teammate}</strong> · Care agent")),
        "{}",
        team.body
    );
    assert!(!team.body.contains("Withdraw the invitation"), "none open");
}

#[tokio::test]
async fn invitation_links_end_when_withdrawn_replaced_or_expired_and_unknown_ones_are_404() {
    let app = spawn_app().await;
    let mut owner = signed_in(&app, &app.tenant_id, "owner").await;

    // Invited twice: only the newest link works.
    let twice = new_address("twice");
    let first = invite(&mut owner, &twice, "marketer", 1).await;
    let second = invite(&mut owner, &twice, "care_agent", 2).await;
    let page = join(&mut Browser::new(&app), &first, PASSWORD).await;
    assert_eq!(page.status, 410, "{}", page.body);
    assert_eq!(user_count(&app, &twice).await, 0);
    assert_eq!(
        join(&mut Browser::new(&app), &second, PASSWORD)
            .await
            .status,
        303
    );

    // Withdrawn.
    let withdrawn = new_address("withdrawn");
    let link = invite(&mut owner, &withdrawn, "marketer", 1).await;
    let page = Browser::new(&app).get(path_of(&link)).await;
    assert_eq!(page.status, 200);
    let id = invitation_id(&app, &withdrawn).await;
    let csrf = owner.get("/console/team").await.csrf();
    let revoked = owner
        .post(
            &format!("/console/team/invitations/{id}/revoke"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(revoked.status, 303, "{}", revoked.body);
    let page = join(&mut Browser::new(&app), &link, PASSWORD).await;
    assert_eq!(page.status, 410, "{}", page.body);
    assert_eq!(user_count(&app, &withdrawn).await, 0);
    let twice_revoked = owner
        .post(
            &format!("/console/team/invitations/{id}/revoke"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(twice_revoked.status, 404, "no longer open");

    // Expired.
    let late = new_address("late");
    let link = invite(&mut owner, &late, "marketer", 1).await;
    let mut conn = app.db.connect().await;
    diesel::update(console_invitations::table.filter(console_invitations::email.eq(&late)))
        .set(console_invitations::expires_at.eq(chrono::Utc::now() - chrono::Duration::minutes(1)))
        .execute(&mut conn)
        .await
        .unwrap();
    let page = join(&mut Browser::new(&app), &link, PASSWORD).await;
    assert_eq!(page.status, 410, "{}", page.body);
    assert!(page.body.contains("expired"), "{}", page.body);
    assert_eq!(user_count(&app, &late).await, 0);

    // Unknown, on the page and on the form.
    let page = Browser::new(&app).get("/console/join?token=nothing").await;
    assert_eq!(page.status, 404);
    let mut stranger = Browser::new(&app);
    let csrf = stranger.get("/console/sign-in").await.csrf();
    let forged = stranger
        .post(
            "/console/join",
            &[
                ("csrf", &csrf),
                ("token", "nothing"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(forged.status, 404);
}

#[tokio::test]
async fn an_address_with_an_account_cannot_join_a_second_team() {
    let app = spawn_app().await;
    let other = another_tenant(&app).await;
    let elsewhere = account(&app, other["tenant_id"].as_str().unwrap(), "owner").await;
    let mut owner = signed_in(&app, &app.tenant_id, "owner").await;
    // Inviting says nothing of other tenants: the invitation goes out as any other.
    let link = invite(&mut owner, &elsewhere, "marketer", 1).await;
    let page = join(&mut Browser::new(&app), &link, "a different password").await;
    assert_eq!(page.status, 409, "{}", page.body);
    assert_eq!(user_count(&app, &elsewhere).await, 1);
    let mut browser = Browser::new(&app);
    assert_eq!(
        browser.sign_in(&elsewhere, PASSWORD).await.status,
        303,
        "the account and its password are untouched"
    );
    assert!(browser.get("/console").await.body.contains("Other Shop"));
}

#[tokio::test]
async fn bad_invitations_are_refused_and_store_nothing() {
    let app = spawn_app().await;
    let mut owner = signed_in(&app, &app.tenant_id, "owner").await;
    let csrf = owner.get("/console/team").await.csrf();
    for (email, role) in [("not an address", "marketer"), ("a@shop.example", "admin")] {
        let page = owner
            .post(
                "/console/team/invitations",
                &[("csrf", &csrf), ("email", email), ("role", role)],
            )
            .await;
        assert_eq!(page.status, 422, "{email} {role}: {}", page.body);
        assert!(page.body.contains("role=\"alert\""));
    }
    // Someone already in the team.
    let member = account(&app, &app.tenant_id, "marketer").await;
    let page = owner
        .post(
            "/console/team/invitations",
            &[("csrf", &csrf), ("email", &member), ("role", "owner")],
        )
        .await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert!(page.body.contains("already in your team"));
    // Without the session's CSRF token.
    let forged = owner
        .post(
            "/console/team/invitations",
            &[
                ("email", "forged@shop.example"),
                ("role", "owner"),
                ("csrf", "x"),
            ],
        )
        .await;
    assert_eq!(forged.status, 403);
    let mut conn = app.db.connect().await;
    let stored: i64 = console_invitations::table
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn an_owner_changes_roles_and_removes_people_but_not_themselves() {
    let app = spawn_app().await;
    let owner_email = account(&app, &app.tenant_id, "owner").await;
    let mut owner = Browser::new(&app);
    assert_eq!(owner.sign_in(&owner_email, PASSWORD).await.status, 303);
    let marketer_email = account(&app, &app.tenant_id, "marketer").await;
    let mut marketer = Browser::new(&app);
    assert_eq!(
        marketer.sign_in(&marketer_email, PASSWORD).await.status,
        303
    );
    let marketer_id = user_id(&app, &marketer_email).await;
    let csrf = owner.get("/console/team").await.csrf();

    let changed = owner
        .post(
            &format!("/console/team/members/{marketer_id}/role"),
            &[("csrf", &csrf), ("role", "care_agent")],
        )
        .await;
    assert_eq!(changed.status, 303, "{}", changed.body);
    let home = marketer.get("/console").await;
    assert!(home.body.contains("Care agent"), "at once: {}", home.body);

    let junk = owner
        .post(
            &format!("/console/team/members/{marketer_id}/role"),
            &[("csrf", &csrf), ("role", "admin")],
        )
        .await;
    assert_eq!(junk.status, 400);

    // Owners do not demote or remove themselves, so a tenant keeps an owner.
    let owner_id = user_id(&app, &owner_email).await;
    for (action, form) in [("role", vec![("role", "marketer")]), ("remove", vec![])] {
        let mut fields = vec![("csrf", csrf.as_str())];
        fields.extend(form);
        let page = owner
            .post(
                &format!("/console/team/members/{owner_id}/{action}"),
                &fields,
            )
            .await;
        assert_eq!(page.status, 409, "{action}: {}", page.body);
    }

    let removed = owner
        .post(
            &format!("/console/team/members/{marketer_id}/remove"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(removed.status, 303, "{}", removed.body);
    assert_eq!(user_count(&app, &marketer_email).await, 0);
    let gone = marketer.get("/console").await;
    assert_eq!(gone.status, 303, "the session ended with the account");
    assert_eq!(gone.location.as_deref(), Some("/console/sign-in"));
    let team = owner.get("/console/team").await;
    assert!(!team.body.contains(&marketer_email));
}

#[tokio::test]
async fn an_owner_demoted_in_the_meantime_changes_no_one() {
    // Two owners demoting each other at once: the second change runs after the first
    // and finds its author no longer an owner, so the tenant keeps one.
    let app = spawn_app().await;
    let tenant = app.tenant_id.parse().unwrap();
    let a = user_id(&app, &account(&app, &app.tenant_id, "owner").await).await;
    let b = user_id(&app, &account(&app, &app.tenant_id, "owner").await).await;
    let mut conn = app.db.connect().await;
    let first = change_member(&mut conn, tenant, a, b, Change::SetRole("marketer"))
        .await
        .unwrap();
    assert_eq!(first, MemberChange::Done);
    let second = change_member(&mut conn, tenant, b, a, Change::SetRole("marketer"))
        .await
        .unwrap();
    assert_eq!(second, MemberChange::ActingNotOwner);
    let removal = change_member(&mut conn, tenant, b, a, Change::Remove)
        .await
        .unwrap();
    assert_eq!(removal, MemberChange::ActingNotOwner);
    let owners: Vec<Uuid> = console_users::table
        .filter(console_users::role.eq("owner"))
        .select(console_users::id)
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(owners, vec![a]);
}

#[tokio::test]
async fn care_agents_and_marketers_may_not_manage_the_team() {
    let app = spawn_app().await;
    let colleague = account(&app, &app.tenant_id, "marketer").await;
    let colleague_id = user_id(&app, &colleague).await;
    for role in ["care_agent", "marketer"] {
        let mut person = signed_in(&app, &app.tenant_id, role).await;
        let home = person.get("/console").await;
        assert!(!home.body.contains("/console/team"), "{role}: no link");
        let page = person.get("/console/team").await;
        assert_eq!(page.status, 403, "{role}");
        assert!(!page.body.contains(&colleague), "{role}: nobody listed");
        let csrf = home.csrf();
        let invite = person
            .post(
                "/console/team/invitations",
                &[
                    ("csrf", &csrf),
                    ("email", &new_address("x")),
                    ("role", "owner"),
                ],
            )
            .await;
        assert_eq!(invite.status, 403, "{role}");
        let promote = person
            .post(
                &format!("/console/team/members/{colleague_id}/role"),
                &[("csrf", &csrf), ("role", "owner")],
            )
            .await;
        assert_eq!(promote.status, 403, "{role}");
        let remove = person
            .post(
                &format!("/console/team/members/{colleague_id}/remove"),
                &[("csrf", &csrf)],
            )
            .await;
        assert_eq!(remove.status, 403, "{role}");
    }
    let mut conn = app.db.connect().await;
    let invitations: i64 = console_invitations::table
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(invitations, 0);
    let role: String = console_users::table
        .find(colleague_id)
        .select(console_users::role)
        .first(&mut conn)
        .await
        .unwrap();
    assert_eq!(role, "marketer", "unchanged");
}

#[tokio::test]
async fn another_tenants_owner_sees_and_changes_none_of_this_team() {
    let app = spawn_app().await;
    let mut owner = signed_in(&app, &app.tenant_id, "owner").await;
    let invited = new_address("invited");
    invite(&mut owner, &invited, "marketer", 1).await;
    let invitation = invitation_id(&app, &invited).await;
    let member = account(&app, &app.tenant_id, "marketer").await;
    let member_id = user_id(&app, &member).await;

    let mut conn = app.db.connect().await;
    let other = another_tenant(&app).await;
    let mut stranger = signed_in(&app, other["tenant_id"].as_str().unwrap(), "owner").await;
    let page = stranger.get("/console/team").await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains(&member) && !page.body.contains(&invited));
    let csrf = page.csrf();
    for (path, fields) in [
        (
            format!("/console/team/invitations/{invitation}/revoke"),
            vec![("csrf", csrf.as_str())],
        ),
        (
            format!("/console/team/members/{member_id}/role"),
            vec![("csrf", csrf.as_str()), ("role", "care_agent")],
        ),
        (
            format!("/console/team/members/{member_id}/remove"),
            vec![("csrf", csrf.as_str())],
        ),
    ] {
        let page = stranger.post(&path, &fields).await;
        assert_eq!(page.status, 404, "{path}: {}", page.body);
    }
    let role: String = console_users::table
        .find(member_id)
        .select(console_users::role)
        .first(&mut conn)
        .await
        .unwrap();
    assert_eq!(role, "marketer");
    let open: i64 = console_invitations::table
        .filter(console_invitations::id.eq(invitation))
        .filter(console_invitations::revoked_at.is_null())
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(open, 1, "still open");
}
