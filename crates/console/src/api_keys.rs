//! The tenant's API keys in the console: listed, created (the key is shown once) and
//! revoked, by owners only, through the same tenant-scoped queries as `/v1/api-keys`.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use nudge_db::tenants::{Issued, KeyGrant, Revoke};
use nudge_db::PageRequest;
use nudge_domain::{ApiKeyId, ApiScope, ApiScopes};
use serde::Deserialize;

use super::error::ConsoleError;
use super::pages::{html, ApiKeyCreatedPage, ApiKeyRow, ApiKeysPage, Nav, Notice};
use super::roles::Permission;
use super::session::{check_session_form, CsrfForm, SignedIn};
use crate::ConsoleState;

/// Keys listed on the page, newest first.
const LISTED: i64 = 100;

pub(super) async fn list(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
) -> Result<HttpResponse, ConsoleError> {
    signed_in.require(Permission::ManageApiKeys)?;
    let mut conn = state.conn().await?;
    let page = nudge_db::tenants::list_keys(
        &mut conn,
        signed_in.tenant(),
        PageRequest {
            limit: LISTED,
            before: None,
        },
    )
    .await?;
    let keys: Vec<ApiKeyRow> = page
        .items
        .iter()
        .map(|key| ApiKeyRow {
            id: key.id.to_string(),
            name: key.name.clone(),
            prefix: key.prefix.clone(),
            created: key.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            revoked: key
                .revoked_at
                .map(|at| at.format("%Y-%m-%d %H:%M UTC").to_string()),
            scopes: key.scopes().names().join(", "),
            expires: key
                .expires_at
                .map(|at| at.format("%Y-%m-%d %H:%M UTC").to_string()),
            last_used: key
                .last_used_at
                .map(|at| at.format("%Y-%m-%d %H:%M UTC").to_string()),
        })
        .collect();
    html(
        StatusCode::OK,
        &ApiKeysPage {
            keys,
            more: page.next.is_some(),
            signed_in: Some(Nav::of(&signed_in)),
        },
    )
}

#[derive(Deserialize)]
pub(super) struct CreateForm {
    csrf: String,
    name: String,
    /// The scope checkboxes: present (`on`) when ticked.
    scope_send: Option<String>,
    scope_read: Option<String>,
    scope_manage: Option<String>,
}

impl CreateForm {
    fn scopes(&self) -> ApiScopes {
        [
            (ApiScope::Send, &self.scope_send),
            (ApiScope::Read, &self.scope_read),
            (ApiScope::Manage, &self.scope_manage),
        ]
        .into_iter()
        .filter(|(_, ticked)| ticked.is_some())
        .map(|(scope, _)| scope)
        .collect()
    }
}

pub(super) async fn create(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
    form: web::Form<CreateForm>,
) -> Result<HttpResponse, ConsoleError> {
    check_session_form(&signed_in, &form.csrf)?;
    signed_in.require(Permission::ManageApiKeys)?;
    let name = form.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return html(
            StatusCode::UNPROCESSABLE_ENTITY,
            &Notice {
                title: "Name the key",
                text: "Give the key a name of 1 to 100 characters, such as the system that will use it.",
                link: Some(("/console/api-keys", "Back to API keys")),
                signed_in: Some(Nav::of(&signed_in)),
            },
        );
    }
    let scopes = form.scopes();
    if scopes.is_empty() {
        return html(
            StatusCode::UNPROCESSABLE_ENTITY,
            &Notice {
                title: "Choose what the key may do",
                text: "Tick at least one of send, read and manage.",
                link: Some(("/console/api-keys", "Back to API keys")),
                signed_in: Some(Nav::of(&signed_in)),
            },
        );
    }
    let mut conn = state.conn().await?;
    let grant = KeyGrant {
        scopes,
        expires_at: None,
    };
    let (plain_text, key) =
        match nudge_db::tenants::issue_key(&mut conn, signed_in.tenant(), name, grant).await? {
            Issued::Issued(plain_text, key) => (plain_text, key),
            Issued::TooManyKeys => {
                return html(
                    StatusCode::CONFLICT,
                    &Notice {
                        title: "Too many keys",
                        text: "Your team has as many active keys as a tenant may hold. Revoke one you no longer use first.",
                        link: Some(("/console/api-keys", "Back to API keys")),
                        signed_in: Some(Nav::of(&signed_in)),
                    },
                )
            }
        };
    tracing::info!(key_id = %key.id, user_id = %signed_in.0.user.id, "API key created in the console");
    html(
        StatusCode::CREATED,
        &ApiKeyCreatedPage {
            name: &key.name,
            plain_text: &plain_text,
            signed_in: Some(Nav::of(&signed_in)),
        },
    )
}

pub(super) async fn revoke(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
    id: web::Path<ApiKeyId>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ConsoleError> {
    check_session_form(&signed_in, &form.csrf)?;
    signed_in.require(Permission::ManageApiKeys)?;
    let mut conn = state.conn().await?;
    match nudge_db::tenants::revoke_key(&mut conn, signed_in.tenant(), id.into_inner().as_uuid()).await? {
        Revoke::Revoked(key) => {
            tracing::info!(key_id = %key.id, user_id = %signed_in.0.user.id, "API key revoked in the console");
            (state.keys_changed)(signed_in.tenant());
            Ok(HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/console/api-keys"))
                .finish())
        }
        // Another tenant's key is as absent as one that never was.
        Revoke::NotFound => Err(ConsoleError::NotFound),
        Revoke::LastActiveKey => html(
            StatusCode::CONFLICT,
            &Notice {
                title: "This is your last active key",
                text: "Create another key first: revoking the last one would stop every system that uses the API.",
                link: Some(("/console/api-keys", "Back to API keys")),
                signed_in: Some(Nav::of(&signed_in)),
            },
        ),
    }
}
