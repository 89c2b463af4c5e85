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
    /// Whether the team page is theirs to see.
    pub team: bool,
    /// Whether the leads page is theirs to see.
    pub leads: bool,
}

impl<'a> Nav<'a> {
    pub fn of(signed_in: &'a SignedIn) -> Self {
        Self {
            email: &signed_in.0.user.email,
            tenant: &signed_in.0.tenant_name,
            role: role_label(&signed_in.0.user.role),
            team: signed_in
                .role()
                .is_some_and(|role| role.may(super::roles::Permission::ManageTeam)),
            leads: signed_in
                .role()
                .is_some_and(|role| role.may(super::roles::Permission::ManageLeads)),
            csrf: &signed_in.0.session.csrf_token,
            api_keys: signed_in
                .role()
                .is_some_and(|role| role.may(super::roles::Permission::ManageApiKeys)),
        }
    }
}

/// A stored role as people read it.
pub fn role_label(role: &str) -> &'static str {
    super::roles::Role::parse(role).map_or("Member", super::roles::Role::label)
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
    /// The OpenID Connect provider's name, when one is configured.
    pub provider: Option<&'a str>,
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
    /// `send, read, manage`.
    pub scopes: String,
    pub expires: Option<String>,
    pub last_used: Option<String>,
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

/// A person of the team as the page lists them.
pub struct MemberRow {
    pub id: String,
    pub email: String,
    pub role: &'static str,
    pub role_label: &'static str,
    pub joined: String,
    /// The signed-in person (who cannot change or remove themselves here).
    pub is_you: bool,
}

/// An open invitation as the page lists it.
pub struct InvitationRow {
    pub id: String,
    pub email: String,
    pub role_label: &'static str,
    pub expires: String,
}

/// The roles a form offers: stored name and label.
pub type RoleChoice = (&'static str, &'static str);

#[derive(Template)]
#[template(path = "console/team.html")]
pub struct TeamPage<'a> {
    pub members: Vec<MemberRow>,
    pub invitations: Vec<InvitationRow>,
    pub roles: Vec<RoleChoice>,
    /// What the invite form holds after a refused submission.
    pub invite_email: &'a str,
    pub invite_role: &'a str,
    pub errors: Vec<FieldError>,
    pub signed_in: Option<Nav<'a>>,
}

impl TeamPage<'_> {
    pub fn error_for(&self, field: &str) -> Option<&'static str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message)
    }
}

/// Where an invitee chooses a password and joins.
#[derive(Template)]
#[template(path = "console/join.html")]
pub struct JoinPage<'a> {
    pub csrf: &'a str,
    pub token: &'a str,
    pub tenant: &'a str,
    pub email: &'a str,
    pub role_label: &'a str,
    pub error: Option<&'static str>,
    pub signed_in: Option<Nav<'a>>,
}

/// A message as the log lists it.
pub struct MessageRow {
    pub id: String,
    pub to: String,
    pub status: String,
    pub created: String,
    /// The body's first characters.
    pub preview: String,
    pub truncated: bool,
}

#[derive(Template)]
#[template(path = "console/messages.html")]
pub struct MessagesPage<'a> {
    pub messages: Vec<MessageRow>,
    /// The query string of the next (older) page, if any.
    pub next: Option<String>,
    pub statuses: Vec<&'static str>,
    /// The tenant's shops: id and name.
    pub shops: Vec<(String, String)>,
    /// The filters as typed.
    pub status: &'a str,
    pub to: &'a str,
    pub shop: &'a str,
    pub since: &'a str,
    pub until: &'a str,
    /// Whether any filter is set (to word the empty state).
    pub filtered: bool,
    /// Whether the person may send from the console (linked only then).
    pub can_send: bool,
    pub errors: Vec<FieldError>,
    pub signed_in: Option<Nav<'a>>,
}

impl MessagesPage<'_> {
    pub fn error_for(&self, field: &str) -> Option<&'static str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message)
    }
}

/// A message's status and timeline: part of its page, and served alone for live
/// updates while `live`.
#[derive(Template)]
#[template(path = "console/timeline.html")]
pub struct TimelineFragment<'a> {
    pub id: String,
    pub status: &'a str,
    /// The message can still change: the page keeps reloading this.
    pub live: bool,
    pub events: Vec<EventRow>,
}

/// One entry of a timeline: its kind, time, and detail as names and values.
pub struct EventRow {
    pub kind: String,
    pub at: String,
    pub details: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "console/message.html")]
pub struct MessagePage<'a> {
    pub message: &'a nudge_db::models::Message,
    pub created: String,
    pub error: Option<&'a str>,
    pub timeline: TimelineFragment<'a>,
    pub signed_in: Option<Nav<'a>>,
}

/// A problem with a send: a field's (`field` names the form's field) or the whole
/// send's (`field` empty), in words from the same rules as the API.
pub struct SendError {
    pub field: &'static str,
    pub message: String,
}

#[derive(Template)]
#[template(path = "console/send.html")]
pub struct SendPage<'a> {
    /// The tenant's shops: id and name.
    pub shops: Vec<(String, String)>,
    /// The tenant's images, and the one chosen (empty: none).
    pub images: Vec<MediaRow>,
    pub media: &'a str,
    /// The form as typed.
    pub shop: &'a str,
    pub to: &'a str,
    pub body: &'a str,
    pub category: &'a str,
    pub errors: Vec<SendError>,
    pub signed_in: Option<Nav<'a>>,
}

impl SendPage<'_> {
    pub fn error_for(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }
}

/// A conversation as lists and its page show it.
pub struct ConversationRow {
    pub id: String,
    pub phone: String,
    pub shop: String,
    pub needs_human: bool,
    /// Why it is with a person, in words (empty when it is not).
    pub reason: &'static str,
    pub last_text: Option<String>,
}

#[derive(Template)]
#[template(path = "console/conversations.html")]
pub struct ConversationsPage<'a> {
    /// `needs_human`, `bot` or `all`.
    pub queue: &'a str,
    pub conversations: Vec<ConversationRow>,
    /// The query string of the next (older) page, if any.
    pub next: Option<String>,
    pub signed_in: Option<Nav<'a>>,
}

/// One text of a thread.
pub struct ThreadRow {
    pub inbound: bool,
    pub body: String,
    pub at: String,
    /// Who wrote it: the customer, the bot, care...
    pub by: String,
    /// An outbound message's status.
    pub status: Option<String>,
}

/// A conversation's thread: part of its page, and served alone for live updates.
#[derive(Template)]
#[template(path = "console/thread.html")]
pub struct ThreadFragment {
    pub id: String,
    pub needs_human: bool,
    pub entries: Vec<ThreadRow>,
}

#[derive(Template)]
#[template(path = "console/conversation.html")]
pub struct ConversationPage<'a> {
    pub conversation: ConversationRow,
    pub thread: ThreadFragment,
    /// Whether the person may answer and hand the conversation over.
    pub can_answer: bool,
    /// Why the last answer was refused.
    pub error: Option<&'a str>,
    /// The refused answer, to edit.
    pub draft: &'a str,
    pub signed_in: Option<Nav<'a>>,
}

/// A template as the list shows it.
pub struct TemplateRowView {
    pub id: String,
    pub name: String,
    pub category: String,
    pub preview: String,
    pub truncated: bool,
}

#[derive(Template)]
#[template(path = "console/templates.html")]
pub struct TemplatesPage<'a> {
    pub templates: Vec<TemplateRowView>,
    /// Whether the person may create and change templates.
    pub can_edit: bool,
    pub signed_in: Option<Nav<'a>>,
}

/// What a template sends: part of its page, and served alone as the text is typed.
#[derive(Template)]
#[template(path = "console/template_preview.html")]
pub struct PreviewFragment {
    pub preview: super::templates::Preview,
    /// The characters that force UCS-2, quoted, for the sentence.
    pub unicode_chars: String,
    /// Variables without a sample value, for the sentence.
    pub missing: String,
}

#[derive(Template)]
#[template(path = "console/template_form.html")]
pub struct TemplateFormPage<'a> {
    /// The template being edited; `None` for a new one.
    pub id: Option<String>,
    pub name: &'a str,
    pub body: &'a str,
    pub category: &'a str,
    pub samples: &'a str,
    /// The tenant's images, and the one chosen (empty: none).
    pub images: Vec<MediaRow>,
    pub media: &'a str,
    pub preview: PreviewFragment,
    pub can_edit: bool,
    /// Problems by field (`name`, `body`, `category`).
    pub errors: Vec<(&'static str, String)>,
    pub signed_in: Option<Nav<'a>>,
}

impl TemplateFormPage<'_> {
    pub fn error_for(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, message)| message.as_str())
    }
}

/// A customer as lists and their page show them.
pub struct CustomerRow {
    pub id: String,
    pub phone: String,
    pub name: String,
    /// The stored state (`opted_in`...), and in words.
    pub consent: String,
    pub consent_label: &'static str,
}

#[derive(Template)]
#[template(path = "console/customers.html")]
pub struct CustomersPage<'a> {
    pub customers: Vec<CustomerRow>,
    /// The query string of the next (older) page, if any.
    pub next: Option<String>,
    /// The tenant's shops (id, name), and the one filtered on.
    pub shops: Vec<(String, String)>,
    pub shop: &'a str,
    pub signed_in: Option<Nav<'a>>,
}

/// One change in a consent ledger.
pub struct ConsentRow {
    pub state_label: &'static str,
    pub source: String,
    pub at: String,
    pub evidence: String,
}

#[derive(Template)]
#[template(path = "console/customer.html")]
pub struct CustomerPage<'a> {
    pub customer: CustomerRow,
    pub ledger: Vec<ConsentRow>,
    /// Why the last change was refused.
    pub error: Option<&'a str>,
    pub signed_in: Option<Nav<'a>>,
}

/// A campaign as lists and its page show it.
pub struct CampaignRow {
    pub id: String,
    pub name: String,
    pub status: String,
    pub category: String,
    pub recipients: i32,
    pub audience: i32,
    pub created: String,
}

#[derive(Template)]
#[template(path = "console/campaigns.html")]
pub struct CampaignsPage<'a> {
    pub campaigns: Vec<CampaignRow>,
    /// Whether the person may start campaigns.
    pub can_create: bool,
    pub next: Option<String>,
    pub signed_in: Option<Nav<'a>>,
}

/// A campaign's progress: part of its page, and served alone while it moves.
#[derive(Template)]
#[template(path = "console/campaign_progress.html")]
pub struct CampaignProgressFragment {
    pub id: String,
    pub status: String,
    /// Expanding, or messages still on their way: the page keeps reloading this.
    pub live: bool,
    pub audience: i32,
    pub recipients: i32,
    pub queued: i32,
    pub scheduled: i32,
    /// Recipients skipped, by reason (in words).
    pub skipped: Vec<(String, String)>,
    /// The campaign's messages by status.
    pub messages: Vec<(String, i64)>,
    /// Why it waits, and until when.
    pub waiting: Option<String>,
}

#[derive(Template)]
#[template(path = "console/campaign.html")]
pub struct CampaignPage<'a> {
    pub campaign: CampaignRow,
    pub progress: CampaignProgressFragment,
    pub can_cancel: bool,
    pub signed_in: Option<Nav<'a>>,
}

/// A lead search as the leads page lists it.
pub struct LeadSearchRow {
    pub id: String,
    /// Its terms, joined.
    pub query: String,
    pub status: String,
    pub seen: i32,
    pub max: i32,
    pub new_leads: i32,
    pub duplicates: i32,
    pub waiting: Option<String>,
}

/// The lead searches: part of the leads page, and served alone while one runs.
#[derive(Template)]
#[template(path = "console/lead_searches.html")]
pub struct LeadSearchesFragment {
    pub searches: Vec<LeadSearchRow>,
    /// A search is running: the page keeps reloading this.
    pub live: bool,
}

pub struct LeadRow {
    pub name: String,
    pub headline: String,
    pub company: String,
    pub location: String,
    pub profile_url: String,
}

#[derive(Template)]
#[template(path = "console/leads.html")]
pub struct LeadsPage<'a> {
    pub searches: LeadSearchesFragment,
    pub leads: Vec<LeadRow>,
    /// More leads than shown (the CSV has them all).
    pub more: bool,
    /// The filters as typed.
    pub search: &'a str,
    pub q: &'a str,
    /// The CSV link's query string (the same filters).
    pub download: String,
    /// Why the search form was refused, and what it held.
    pub form_errors: Vec<String>,
    pub form: SearchFormView,
    pub signed_in: Option<Nav<'a>>,
}

/// The new-search form as typed.
#[derive(Default)]
pub struct SearchFormView {
    pub job_titles: String,
    pub companies: String,
    pub locations: String,
    pub keywords: String,
    pub max_results: String,
}

#[derive(Template)]
#[template(path = "console/campaign_form.html")]
pub struct CampaignFormPage<'a> {
    /// The tenant's shops and templates: id and name.
    pub shops: Vec<(String, String)>,
    pub templates: Vec<(String, String)>,
    /// The form as typed.
    pub name: &'a str,
    pub shop: &'a str,
    pub template: &'a str,
    pub audience: &'a str,
    pub attributes: &'a str,
    pub data: &'a str,
    pub send_at: &'a str,
    pub errors: Vec<SendError>,
    pub signed_in: Option<Nav<'a>>,
}

impl CampaignFormPage<'_> {
    pub fn error_for(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }
}

/// An image as the media page and the send form show it.
pub struct MediaRow {
    pub id: String,
    pub name: String,
    pub dimensions: String,
    pub kilobytes: i32,
    pub thumbnail_width: i32,
    pub thumbnail_height: i32,
}

#[derive(Template)]
#[template(path = "console/media.html")]
pub struct MediaPage<'a> {
    pub images: Vec<MediaRow>,
    pub can_upload: bool,
    /// Why the last upload was refused.
    pub error: Option<String>,
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
