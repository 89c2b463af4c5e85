//! The console's pages: askama templates (`templates/console/`), escaped by default and
//! checked when the crate compiles.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;

use super::error::ConsoleError;
use super::session::SignedIn;

/// What the header shows of the signed-in person, with the sign-out form's token.
pub struct Nav<'a> {
    pub email: &'a str,
    pub tenant: &'a str,
    pub role: &'a str,
    pub csrf: &'a str,
    /// Whether the API keys page is theirs to see (linked only then).
    pub api_keys: bool,
}

impl<'a> Nav<'a> {
    pub fn of(signed_in: &'a SignedIn) -> Self {
        Self {
            email: &signed_in.0.user.email,
            tenant: &signed_in.0.tenant_name,
            role: role_label(&signed_in.0.user.role),
            csrf: &signed_in.0.session.csrf_token,
            api_keys: signed_in
                .role()
                .is_some_and(|role| role.may(super::roles::Permission::ManageApiKeys)),
        }
    }
}

fn role_label(role: &str) -> &'static str {
    match role {
        "owner" => "Owner",
        "marketer" => "Marketer",
        "care_agent" => "Care agent",
        _ => "Member",
    }
}

/// A problem with one field of a form, said to the person filling it in.
pub struct FieldError {
    pub field: &'static str,
    pub message: &'static str,
}

/// A page that says one thing, with an optional link onwards.
#[derive(Template)]
#[template(path = "console/notice.html")]
pub struct Notice<'a> {
    pub title: &'a str,
    pub text: &'a str,
    pub link: Option<(&'a str, &'a str)>,
    pub signed_in: Option<Nav<'a>>,
}

#[derive(Template)]
#[template(path = "console/sign_up.html")]
pub struct SignUpPage<'a> {
    pub csrf: &'a str,
    pub business_name: &'a str,
    pub email: &'a str,
    pub errors: Vec<FieldError>,
    pub signed_in: Option<Nav<'a>>,
}

#[derive(Template)]
#[template(path = "console/sign_in.html")]
pub struct SignInPage<'a> {
    pub csrf: &'a str,
    pub email: &'a str,
    pub error: Option<&'a str>,
    pub signed_in: Option<Nav<'a>>,
}

#[derive(Template)]
#[template(path = "console/verify_email.html")]
pub struct VerifyEmailPage<'a> {
    pub csrf: &'a str,
    pub token: &'a str,
    pub signed_in: Option<Nav<'a>>,
}

#[derive(Template)]
#[template(path = "console/reset_request.html")]
pub struct ResetRequestPage<'a> {
    pub csrf: &'a str,
    pub signed_in: Option<Nav<'a>>,
}

/// Where the emailed code and the new password are typed.
#[derive(Template)]
#[template(path = "console/reset_code.html")]
pub struct ResetCodePage<'a> {
    pub csrf: &'a str,
    pub email: &'a str,
    pub error: Option<&'a str>,
    pub signed_in: Option<Nav<'a>>,
}

/// One API key as the page lists it (never its hash).
pub struct ApiKeyRow {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created: String,
    pub revoked: Option<String>,
}

#[derive(Template)]
#[template(path = "console/api_keys.html")]
pub struct ApiKeysPage<'a> {
    pub keys: Vec<ApiKeyRow>,
    /// More keys than the page lists.
    pub more: bool,
    pub signed_in: Option<Nav<'a>>,
}

/// The one moment a key's plain text is shown.
#[derive(Template)]
#[template(path = "console/api_key_created.html")]
pub struct ApiKeyCreatedPage<'a> {
    pub name: &'a str,
    pub plain_text: &'a str,
    pub signed_in: Option<Nav<'a>>,
}

#[derive(Template)]
#[template(path = "console/home.html")]
pub struct HomePage<'a> {
    pub signed_in: Option<Nav<'a>>,
}

impl SignUpPage<'_> {
    pub fn error_for(&self, field: &str) -> Option<&'static str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message)
    }
}

/// A rendered page with its status.
pub fn html(status: StatusCode, page: &impl Template) -> Result<HttpResponse, ConsoleError> {
    let body = page
        .render()
        .map_err(|e| ConsoleError::Internal(anyhow::anyhow!("rendering a page: {e}")))?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}
