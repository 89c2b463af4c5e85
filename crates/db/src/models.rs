//! Rows as diesel reads and writes them, one struct per table, beside `schema.rs`.
//! Ids are plain `Uuid`s here (diesel's orphan rules); the query functions take and give
//! the domain's typed ids at their edges.

use chrono::{DateTime, NaiveTime, Utc};
use diesel::prelude::*;
use serde_json::Value;
use uuid::Uuid;

use crate::schema::{
    api_keys, bot_rules, campaigns, consent_events, console_email_tokens, console_emails,
    console_invitations, console_sessions, console_users, conversations, customers,
    inbound_messages, lead_searches, leads, media, message_events, messages, outbox,
    provider_accounts, queue_rejections, sender_numbers, shops, templates, tenants,
    verified_numbers, webhook_attempts, webhook_deliveries, webhook_endpoints,
};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = tenants, check_for_backend(diesel::pg::Pg))]
pub struct Tenant {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub requests_per_minute: i32,
    pub daily_message_cap: i32,
    /// Lead-search provider queries per UTC day; `None`: the worker's default.
    pub lead_search_daily_queries: Option<i32>,
    /// When an operator approved it; `None`: still in the sandbox (docs/tenancy.md).
    pub approved_at: Option<DateTime<Utc>>,
    /// Country calling codes it may text; `None`: those of its sender numbers.
    pub destination_calling_codes: Option<Vec<Option<String>>>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_keys, check_for_backend(diesel::pg::Pg))]
pub struct ApiKey {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub prefix: String,
    pub key_hash: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub name: String,
    /// `send`, `read`, `manage` (`nudge_domain::ApiScopes` reads them).
    pub scopes: Vec<Option<String>>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Noted at most once a minute.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    pub fn scopes(&self) -> nudge_domain::ApiScopes {
        stored_scopes(&self.scopes)
    }
}

/// Scopes as `api_keys.scopes` stores them; an unknown name (impossible: a CHECK
/// refuses it) is dropped, which only ever narrows what the key may do.
pub(crate) fn stored_scopes(names: &[Option<String>]) -> nudge_domain::ApiScopes {
    names
        .iter()
        .flatten()
        .filter_map(|name| nudge_domain::ApiScope::parse(name))
        .collect()
}

/// A number a tenant has proven it may text (in its sandbox), or is proving.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = verified_numbers, check_for_backend(diesel::pg::Pg))]
pub struct VerifiedNumber {
    pub tenant_id: Uuid,
    pub phone: String,
    pub code_hash: Option<String>,
    pub code_expires_at: Option<DateTime<Utc>>,
    pub code_issued_at: Option<DateTime<Utc>>,
    pub verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A number Nudge sends from, owned by exactly one tenant (docs/tenancy.md).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = sender_numbers, check_for_backend(diesel::pg::Pg))]
pub struct SenderNumber {
    pub number: String,
    pub tenant_id: Uuid,
    pub created_at: DateTime<Utc>,
    /// The tenant's [`ProviderAccount`] the number lives in; `None`: the platform's.
    pub account_id: Option<Uuid>,
}

/// A tenant's own provider account (a Twilio subaccount). The auth token is only ever
/// here sealed (`nudge_domain::sealed`); `Debug` leaves it out all the same.
#[derive(Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = provider_accounts, check_for_backend(diesel::pg::Pg))]
pub struct ProviderAccount {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub provider: String,
    pub account_sid: String,
    pub auth_token_sealed: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for ProviderAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderAccount")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("account_sid", &self.account_sid)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = shops, check_for_backend(diesel::pg::Pg))]
pub struct Shop {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    /// One of the tenant's [`SenderNumber`]s; `None` only for a shop whose number went
    /// to another tenant when numbers became owned (it sends nothing until given one).
    pub sender_number: Option<String>,
    pub time_zone: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub marketing_cap_count: i32,
    pub marketing_cap_window_hours: i32,
    pub quiet_hours_start: NaiveTime,
    pub quiet_hours_end: NaiveTime,
    /// Look-alike characters become GSM-7 before a message is stored and counted.
    pub smart_encoding: bool,
    /// The answer to HELP/INFO; unset: Twilio's default.
    pub help_text: Option<String>,
    /// The shop's own compliance words (JSON arrays of strings), added to Twilio's.
    pub opt_out_keywords: Value,
    pub opt_in_keywords: Value,
    pub help_keywords: Value,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = shops)]
pub struct ShopChanges {
    pub name: Option<String>,
    pub sender_number: Option<String>,
    pub time_zone: Option<String>,
    pub marketing_cap_count: Option<i32>,
    pub marketing_cap_window_hours: Option<i32>,
    pub quiet_hours_start: Option<NaiveTime>,
    pub quiet_hours_end: Option<NaiveTime>,
    pub smart_encoding: Option<bool>,
    /// `Some(None)` restores the default help text.
    pub help_text: Option<Option<String>>,
    pub opt_out_keywords: Option<Value>,
    pub opt_in_keywords: Option<Value>,
    pub help_keywords: Option<Value>,
}

impl ShopChanges {
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.sender_number.is_none()
            && self.time_zone.is_none()
            && self.marketing_cap_count.is_none()
            && self.marketing_cap_window_hours.is_none()
            && self.quiet_hours_start.is_none()
            && self.quiet_hours_end.is_none()
            && self.smart_encoding.is_none()
            && self.help_text.is_none()
            && self.opt_out_keywords.is_none()
            && self.opt_in_keywords.is_none()
            && self.help_keywords.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = customers, check_for_backend(diesel::pg::Pg))]
pub struct Customer {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub shop_id: Uuid,
    pub phone: String,
    pub name: Option<String>,
    pub attributes: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Changed only through `consent::record`, which also writes the ledger.
    pub consent: String,
    /// IANA zone for quiet hours; unset: the phone number's country's, else the shop's.
    pub time_zone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = consent_events, check_for_backend(diesel::pg::Pg))]
pub struct ConsentEvent {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub customer_id: Uuid,
    pub state: String,
    pub source: String,
    pub evidence: Value,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = customers)]
pub struct CustomerChanges {
    pub phone: Option<String>,
    /// `Some(None)` clears the name.
    pub name: Option<Option<String>>,
    pub attributes: Option<Value>,
    /// `Some(None)` clears the time zone.
    pub time_zone: Option<Option<String>>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = templates, check_for_backend(diesel::pg::Pg))]
pub struct TemplateRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub category: String,
    /// The image its messages carry (MMS), if any.
    pub media_id: Option<Uuid>,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = templates)]
pub struct TemplateChanges {
    pub name: Option<String>,
    pub body: Option<String>,
    pub category: Option<String>,
    /// `Some(None)` removes the image.
    pub media_id: Option<Option<Uuid>>,
}

#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = messages, check_for_backend(diesel::pg::Pg))]
pub struct Message {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub shop_id: Uuid,
    pub customer_id: Option<Uuid>,
    pub template_id: Option<Uuid>,
    pub to_number: String,
    pub from_number: String,
    pub body: String,
    pub segments: i32,
    pub encoding: String,
    pub status: String,
    pub provider_sid: Option<String>,
    pub error_code: Option<i32>,
    pub error_message: Option<String>,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub category: String,
    pub send_at: Option<DateTime<Utc>>,
    /// The campaign that created it, if any.
    pub campaign_id: Option<Uuid>,
    /// The worker that claimed it for sending, and until when it answers for it.
    pub claimed_by: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    /// A `nudge_domain::MessageOrigin`: the API, a campaign, the bot, an agent...
    pub origin: String,
    /// The inbound message this one answers, if any.
    pub in_reply_to: Option<Uuid>,
    /// The image it carries (an MMS), if any.
    pub media_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = message_events, check_for_backend(diesel::pg::Pg))]
pub struct MessageEvent {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub message_id: Uuid,
    pub event_type: String,
    pub at: DateTime<Utc>,
    pub detail: Value,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = outbox, check_for_backend(diesel::pg::Pg))]
pub struct OutboxRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub queue: String,
    pub message_type: String,
    pub body: Value,
    pub traceparent: Option<String>,
    pub created_at: DateTime<Utc>,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub available_at: DateTime<Utc>,
    pub message_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = queue_rejections, check_for_backend(diesel::pg::Pg))]
pub struct QueueRejection {
    pub id: Uuid,
    pub queue: String,
    pub sqs_message_id: String,
    pub reason: String,
    pub body_excerpt: String,
    pub receive_count: i32,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = campaigns, check_for_backend(diesel::pg::Pg))]
pub struct Campaign {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub shop_id: Uuid,
    pub template_id: Uuid,
    pub name: String,
    pub category: String,
    /// A `nudge_domain::Segment`.
    pub segment: Value,
    pub data: Value,
    pub send_at: Option<DateTime<Utc>>,
    /// `expanding`, `expanded` or `cancelled`.
    pub status: String,
    pub cursor: Option<Uuid>,
    pub available_at: DateTime<Utc>,
    pub waiting_reason: Option<String>,
    pub audience_estimate: i32,
    pub recipients: i32,
    pub queued: i32,
    pub scheduled: i32,
    /// Skipped recipients by reason: `{"opted_out": 3, ...}`.
    pub skipped: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub expanded_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = conversations, check_for_backend(diesel::pg::Pg))]
pub struct Conversation {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub shop_id: Uuid,
    pub customer_id: Uuid,
    pub phone: String,
    pub needs_human: bool,
    pub handoff_reason: Option<String>,
    pub handed_off_at: Option<DateTime<Utc>>,
    pub last_inbound_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = inbound_messages, check_for_backend(diesel::pg::Pg))]
pub struct InboundMessage {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub conversation_id: Uuid,
    pub provider_sid: String,
    pub from_number: String,
    pub to_number: String,
    pub body: String,
    pub num_media: i32,
    pub received_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
    /// What inbound processing did: `opted_out`, `help`, `bot_reply`, `handed_off`...
    pub outcome: Option<String>,
    pub outcome_detail: Value,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = bot_rules, check_for_backend(diesel::pg::Pg))]
pub struct BotRule {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub shop_id: Uuid,
    pub name: String,
    /// JSON arrays of strings.
    pub keywords: Value,
    pub examples: Value,
    pub reply: Option<String>,
    pub fulfilment_url: Option<String>,
    /// The whsec_ secret fulfilment calls are signed with; never shown after creation.
    pub fulfilment_secret: Option<String>,
    pub priority: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_endpoints, check_for_backend(diesel::pg::Pg))]
pub struct WebhookEndpoint {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub shop_id: Option<Uuid>,
    pub url: String,
    /// A JSON array of event types.
    pub events: Value,
    /// The whsec_ signing secret; never shown after creation.
    pub secret: String,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_deliveries, check_for_backend(diesel::pg::Pg))]
pub struct WebhookDelivery {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub endpoint_id: Uuid,
    pub event_type: String,
    pub payload: Value,
    /// `pending`, `delivered` or `failed` (gave up).
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_attempts, check_for_backend(diesel::pg::Pg))]
pub struct WebhookAttempt {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub delivery_id: Uuid,
    pub at: DateTime<Utc>,
    pub response_status: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i32,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = lead_searches, check_for_backend(diesel::pg::Pg))]
pub struct LeadSearch {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// A `nudge_domain::LeadQuery`.
    pub query: Value,
    pub max_results: i32,
    /// `queued`, `running`, `waiting`, `completed`, `cancelled` or `failed`.
    pub status: String,
    pub provider: Option<String>,
    pub next_offset: i32,
    pub pages_fetched: i32,
    pub results_seen: i32,
    pub leads_new: i32,
    pub duplicates: i32,
    pub skipped: i32,
    pub errors: i32,
    pub last_error: Option<String>,
    pub waiting_reason: Option<String>,
    pub resume_at: Option<DateTime<Utc>>,
    pub worker_id: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl LeadSearch {
    /// A new search as accepted: `queued`, nothing done yet.
    pub fn queued(tenant_id: Uuid, id: Uuid, query: Value, max_results: i32) -> Self {
        let now = Utc::now();
        Self {
            id,
            tenant_id,
            query,
            max_results,
            status: crate::lead_searches::QUEUED.into(),
            provider: None,
            next_offset: 0,
            pages_fetched: 0,
            results_seen: 0,
            leads_new: 0,
            duplicates: 0,
            skipped: 0,
            errors: 0,
            last_error: None,
            waiting_reason: None,
            resume_at: None,
            worker_id: None,
            lease_until: None,
            created_at: now,
            updated_at: now,
            started_at: None,
            finished_at: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = leads, check_for_backend(diesel::pg::Pg))]
pub struct Lead {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// Canonical: `https://www.linkedin.com/in/<slug>`.
    pub profile_url: String,
    pub name: String,
    pub headline: Option<String>,
    pub company: Option<String>,
    pub location: Option<String>,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

/// A person who signs in to the console (not an API key).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = console_users, check_for_backend(diesel::pg::Pg))]
pub struct ConsoleUser {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub email: String,
    /// argon2id PHC string; `None` for an account that only signs in through OIDC.
    pub password_hash: Option<String>,
    pub role: String,
    pub email_verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = console_sessions, check_for_backend(diesel::pg::Pg))]
pub struct ConsoleSession {
    pub token_hash: String,
    pub user_id: Uuid,
    pub tenant_id: Uuid,
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = console_email_tokens, check_for_backend(diesel::pg::Pg))]
pub struct ConsoleEmailToken {
    pub token_hash: String,
    pub user_id: Uuid,
    pub purpose: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

/// An MMS image: its S3 object and what its content was checked to be.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = media, check_for_backend(diesel::pg::Pg))]
pub struct Media {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub s3_key: String,
    pub content_type: String,
    pub bytes: i32,
    pub width: i32,
    pub height: i32,
    pub sha256: String,
    pub original_name: String,
    pub thumbnail_s3_key: String,
    pub thumbnail_content_type: String,
    pub thumbnail_width: i32,
    pub thumbnail_height: i32,
    pub created_at: DateTime<Utc>,
}

/// An invitation of a teammate into a tenant (`console::team`).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = console_invitations, check_for_backend(diesel::pg::Pg))]
pub struct ConsoleInvitation {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub email: String,
    pub role: String,
    pub token_hash: String,
    pub invited_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// An email waiting for (or done with) the mailer.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = console_emails, check_for_backend(diesel::pg::Pg))]
pub struct ConsoleEmail {
    pub id: Uuid,
    pub tenant_id: Option<Uuid>,
    pub to_address: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub provider_message_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}
