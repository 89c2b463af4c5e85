//! What the API shows of each resource: the JSON representations, kept apart from the
//! rows so that a column can change without changing the contract (docs/openapi.yaml).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use nudge_db::models::{
    ApiKey, Campaign, ConsentEvent, Customer, Message, MessageEvent, Shop, TemplateRow,
};
use nudge_db::Page;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::extract::encode_cursor;

/// A page of a list endpoint.
#[derive(Serialize, ToSchema)]
pub struct ListView<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> ListView<T> {
    pub fn from_page<R>(page: Page<R>, view: impl FnMut(R) -> T) -> Self {
        let page = page.map(view);
        ListView {
            data: page.items,
            next_cursor: page.next.map(encode_cursor),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ShopView {
    pub id: Uuid,
    pub name: String,
    /// One of the tenant's sender numbers; `null` only for a shop whose number went to
    /// another tenant when numbers became owned (it can send nothing until given one).
    #[schema(required = true)]
    pub sender_number: Option<String>,
    pub time_zone: String,
    /// At most `count` marketing messages per recipient in any `window_hours`.
    pub frequency_cap: FrequencyCapView,
    /// Local `HH:MM` window in which marketing waits (in the recipient's time zone).
    pub quiet_hours: QuietHoursView,
    /// Look-alike characters become GSM-7 before counting parts (docs/api.md).
    pub smart_encoding: bool,
    /// How the shop answers customers' texts.
    pub inbound: InboundSettingsView,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct InboundSettingsView {
    /// The answer to HELP and INFO; `null`: Twilio's default.
    pub help_text: Option<String>,
    /// The shop's words added to Twilio's defaults.
    pub opt_out_keywords: Vec<String>,
    pub opt_in_keywords: Vec<String>,
    pub help_keywords: Vec<String>,
}

fn string_list(value: &Value) -> Vec<String> {
    serde_json::from_value(value.clone()).unwrap_or_default()
}

impl From<Shop> for ShopView {
    fn from(shop: Shop) -> Self {
        ShopView {
            id: shop.id,
            name: shop.name,
            sender_number: shop.sender_number,
            time_zone: shop.time_zone,
            frequency_cap: FrequencyCapView {
                count: shop.marketing_cap_count,
                window_hours: shop.marketing_cap_window_hours,
            },
            quiet_hours: QuietHoursView {
                start: shop.quiet_hours_start.format("%H:%M").to_string(),
                end: shop.quiet_hours_end.format("%H:%M").to_string(),
            },
            smart_encoding: shop.smart_encoding,
            inbound: InboundSettingsView {
                opt_out_keywords: string_list(&shop.opt_out_keywords),
                opt_in_keywords: string_list(&shop.opt_in_keywords),
                help_keywords: string_list(&shop.help_keywords),
                help_text: shop.help_text,
            },
            created_at: shop.created_at,
            updated_at: shop.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct FrequencyCapView {
    pub count: i32,
    pub window_hours: i32,
}

/// Local times `HH:MM`; equal times: no quiet hours.
#[derive(Serialize, ToSchema)]
pub struct QuietHoursView {
    pub start: String,
    pub end: String,
}

#[derive(Serialize, ToSchema)]
pub struct CustomerView {
    pub id: Uuid,
    pub shop_id: Uuid,
    pub phone: String,
    pub name: Option<String>,
    #[schema(value_type = Object)]
    pub attributes: Value,
    /// `opted_in`, `opted_out` or `unknown`; its history is at `/consent`.
    pub consent: String,
    /// IANA zone for quiet hours (else the phone's country's, else the shop's).
    pub time_zone: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Customer> for CustomerView {
    fn from(customer: Customer) -> Self {
        CustomerView {
            id: customer.id,
            shop_id: customer.shop_id,
            phone: customer.phone,
            name: customer.name,
            attributes: customer.attributes,
            consent: customer.consent,
            time_zone: customer.time_zone,
            created_at: customer.created_at,
            updated_at: customer.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TemplateView {
    pub id: Uuid,
    pub name: String,
    pub body: String,
    /// `transactional` or `marketing` (the default): the consent its messages need.
    pub category: String,
    /// The variables the body uses, sorted.
    pub variables: Vec<String>,
    /// The image its messages carry (MMS; set in the console), if any.
    pub media_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<TemplateRow> for TemplateView {
    fn from(row: TemplateRow) -> Self {
        // Stored bodies were parsed on the way in; an unparseable one shows no variables.
        let variables = nudge_domain::Template::parse(&row.body)
            .map(|t| t.variables().into_iter().map(str::to_owned).collect())
            .unwrap_or_default();
        TemplateView {
            id: row.id,
            name: row.name,
            body: row.body,
            category: row.category,
            variables,
            media_id: row.media_id,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ErrorView {
    pub code: Option<i32>,
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct EventView {
    #[serde(rename = "type")]
    pub kind: String,
    pub at: DateTime<Utc>,
    /// What happened, by event type (attempt, provider sid, error, reason...).
    #[schema(value_type = Object)]
    pub detail: Value,
}

impl From<MessageEvent> for EventView {
    fn from(event: MessageEvent) -> Self {
        EventView {
            kind: event.event_type,
            at: event.at,
            detail: event.detail,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct MessageView {
    pub id: Uuid,
    pub shop_id: Uuid,
    pub customer_id: Option<Uuid>,
    pub template_id: Option<Uuid>,
    /// The campaign that created it, if any.
    pub campaign_id: Option<Uuid>,
    pub to: String,
    pub from: String,
    pub body: String,
    pub segments: i32,
    pub encoding: String,
    pub category: String,
    /// Who made it: `api`, `campaign`, `compliance` (a STOP/START/HELP answer), `bot`,
    /// `agent` (a care agent in a conversation) or `console` (a person in the console).
    pub origin: String,
    /// The customer's message this one answers, if any.
    pub in_reply_to: Option<Uuid>,
    /// The image it carries (an MMS), if any.
    pub media_id: Option<Uuid>,
    pub status: String,
    pub provider_sid: Option<String>,
    pub error: Option<ErrorView>,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// When a scheduled message is due.
    pub send_at: Option<DateTime<Utc>>,
    /// The timeline, oldest first; present on single-message responses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<EventView>>,
}

impl MessageView {
    pub fn new(message: Message, events: Option<Vec<MessageEvent>>) -> Self {
        let error = message.error_message.map(|text| ErrorView {
            code: message.error_code,
            message: text,
        });
        MessageView {
            id: message.id,
            shop_id: message.shop_id,
            customer_id: message.customer_id,
            template_id: message.template_id,
            campaign_id: message.campaign_id,
            to: message.to_number,
            from: message.from_number,
            body: message.body,
            segments: message.segments,
            encoding: message.encoding,
            category: message.category,
            origin: message.origin,
            in_reply_to: message.in_reply_to,
            media_id: message.media_id,
            status: message.status,
            provider_sid: message.provider_sid,
            error,
            attempts: message.attempts,
            created_at: message.created_at,
            updated_at: message.updated_at,
            sent_at: message.sent_at,
            send_at: message.send_at,
            events: events.map(|events| events.into_iter().map(EventView::from).collect()),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ConsentEventView {
    pub state: String,
    pub source: String,
    #[schema(value_type = Object)]
    pub evidence: Value,
    pub at: DateTime<Utc>,
}

impl From<ConsentEvent> for ConsentEventView {
    fn from(event: ConsentEvent) -> Self {
        ConsentEventView {
            state: event.state,
            source: event.source,
            evidence: event.evidence,
            at: event.at,
        }
    }
}

/// A key as listed: never its secret nor its hash.
#[derive(Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: Uuid,
    pub name: String,
    /// The key's first characters, to tell keys apart.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// What the key may do: `send`, `read`, `manage`.
    pub scopes: Vec<String>,
    /// After this the key is refused; `null`: never expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// The last request made with it (noted at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<ApiKey> for ApiKeyView {
    fn from(key: ApiKey) -> Self {
        ApiKeyView {
            id: key.id,
            scopes: key
                .scopes()
                .names()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            name: key.name,
            prefix: key.prefix,
            created_at: key.created_at,
            revoked_at: key.revoked_at,
            expires_at: key.expires_at,
            last_used_at: key.last_used_at,
        }
    }
}

/// A campaign and its progress. `recipients = queued + scheduled + skipped` (summed over
/// reasons) at every moment; `messages` counts its messages by their current status.
#[derive(Serialize, ToSchema)]
pub struct CampaignView {
    pub id: Uuid,
    pub shop_id: Uuid,
    pub template_id: Uuid,
    pub name: String,
    pub category: String,
    #[schema(value_type = nudge_usecases::campaigns::SegmentSchema)]
    pub segment: Value,
    #[schema(value_type = Object)]
    pub data: Value,
    pub send_at: Option<DateTime<Utc>>,
    /// `expanding` (messages being created), `expanded` (all created) or `cancelled`.
    pub status: String,
    /// Why expansion is paused, e.g. `daily_message_cap`, and until when.
    pub waiting: Option<WaitingView>,
    pub progress: CampaignProgress,
    /// Present on single-campaign responses: its messages by current status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<BTreeMap<String, i64>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub expanded_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct WaitingView {
    /// `daily_message_cap`.
    pub reason: String,
    pub until: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct CampaignProgress {
    /// Customers in the segment when the campaign was created.
    pub audience_estimate: i32,
    /// Customers expanded so far.
    pub recipients: i32,
    /// Messages created to go now.
    pub queued: i32,
    /// Messages created to go later (the campaign's `send_at`, or quiet hours).
    pub scheduled: i32,
    /// Recipients who got no message, by reason.
    #[schema(value_type = BTreeMap<String, i64>)]
    pub skipped: Value,
}

impl CampaignView {
    pub fn new(campaign: Campaign, messages: Option<BTreeMap<String, i64>>) -> Self {
        let waiting = campaign.waiting_reason.map(|reason| WaitingView {
            reason,
            until: campaign.available_at,
        });
        CampaignView {
            id: campaign.id,
            shop_id: campaign.shop_id,
            template_id: campaign.template_id,
            name: campaign.name,
            category: campaign.category,
            segment: campaign.segment,
            data: campaign.data,
            send_at: campaign.send_at,
            status: campaign.status,
            waiting,
            progress: CampaignProgress {
                audience_estimate: campaign.audience_estimate,
                recipients: campaign.recipients,
                queued: campaign.queued,
                scheduled: campaign.scheduled,
                skipped: campaign.skipped,
            },
            messages,
            created_at: campaign.created_at,
            updated_at: campaign.updated_at,
            expanded_at: campaign.expanded_at,
            cancelled_at: campaign.cancelled_at,
        }
    }
}

/// A new key: the listed fields plus the secret, shown this once.
#[derive(Serialize, ToSchema)]
pub struct CreatedApiKeyView {
    #[serde(flatten)]
    pub listed: ApiKeyView,
    /// The secret: `Authorization: Bearer <key>`. Not retrievable later.
    pub key: String,
}

/// A customer's consent and a page of its ledger.
#[derive(Serialize, ToSchema)]
pub struct ConsentLedgerView {
    pub customer_id: Uuid,
    /// The current state.
    pub state: String,
    /// Changes, newest first.
    pub data: Vec<ConsentEventView>,
    pub next_cursor: Option<String>,
}

/// The answer to a batch: one result per item, in order.
#[derive(Serialize, ToSchema)]
pub struct BatchView {
    pub accepted: usize,
    pub refused: usize,
    pub results: Vec<BatchItemView>,
}

/// One item of a batch: `message` when accepted (`status` 202), else `problem`.
#[derive(Serialize, ToSchema)]
pub struct BatchItemView {
    pub index: usize,
    /// The status the item would have had as a single send.
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::error::Problem>)]
    pub problem: Option<Value>,
}

/// `/healthz` and `/readyz` when all is well.
#[derive(Serialize, ToSchema)]
pub struct HealthView {
    /// `ok` (alive) or `ready`.
    pub status: String,
    /// Each dependency's state (`/readyz` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<BTreeMap<String, String>>,
}
