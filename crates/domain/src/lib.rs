//! Nudge's shared vocabulary: the types every service agrees on and the rules that come
//! with them. Values are parsed once at the edge (`PhoneNumber::parse`, `Template::parse`)
//! so that the rest of the code cannot hold a bad one.
//!
//! This crate has no infrastructure in it: no web framework, no AWS SDK, no database.

pub mod api_scope;
pub mod client_address;
pub mod config;
pub mod consent;
pub mod db_change;
pub mod delivery;
pub mod envelope;
pub mod ids;
pub mod intent;
pub mod keywords;
pub mod lead_query;
pub mod media;
pub mod message;
pub mod phone;
pub mod quiet_hours;
pub mod sealed;
pub mod segment;
pub mod segments;
pub mod sender_number;
pub mod sending_rules;
pub mod smart_encoding;
pub mod standard_webhooks;
pub mod template;
pub mod twilio_signature;
pub mod webhook_target;

pub use api_scope::{ApiScope, ApiScopes};
pub use client_address::TrustedProxies;
pub use consent::{Consent, ConsentRefusal, ConsentSource, MessageCategory};
pub use db_change::DbChangeV1;
pub use delivery::{next_status, ProviderStatus};
pub use envelope::{
    Envelope, EnvelopeError, InboundSmsV1, LeadSearchV1, MessageKind, OutboundSmsV1, RawEnvelope,
};
pub use ids::{
    ApiKeyId, BotRuleId, CampaignId, ConsoleUserId, ConversationId, CustomerId, InboundMessageId,
    InvitationId, LeadId, LeadSearchId, MediaId, MessageId, ShopId, TemplateId, TenantId,
    WebhookEndpointId,
};
pub use keywords::{ComplianceKeyword, ComplianceKeywords};
pub use lead_query::{LeadQuery, LeadQueryProblem};
pub use message::{MessageEventType, MessageOrigin, MessageStatus};
pub use phone::{PhoneNumber, PhoneNumberError};
pub use quiet_hours::{phone_time_zone, recipient_zone, QuietHours};
pub use segment::{Segment, SegmentError};
pub use segments::{count as count_segments, SegmentCount, SmsEncoding};
pub use sender_number::SenderKind;
pub use sending_rules::{DestinationRefusal, SendingRules, SANDBOX_DAILY_MESSAGES};
pub use smart_encoding::smart_encode;
pub use template::{RenderError, Template, TemplateError};
pub use webhook_target::{TargetPolicy, TargetRefusal};
