//! `/v1/conversations`: a shop's SMS threads with its customers, for care agents. A
//! conversation starts when a customer texts a shop; its thread is their texts and the
//! shop's messages to them, in time order. Conversations handed to a person
//! (`needs_human`) are the care queue; an agent answers with
//! `POST /v1/conversations/{id}/messages` and hands back to the bot with
//! `PATCH {"needs_human": false}`.

use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use nudge_db::conversations::{ConversationFilter, ThreadEntry};
use nudge_db::models::Conversation;
use nudge_domain::{ConversationId, MessageOrigin, ShopId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::auth::Authenticated;
use crate::error::{ApiError, FieldError, Problem};
use crate::extract::{check, JsonBody, PageQuery, PathId};
use crate::startup::AppState;
use crate::views::{ListView, MessageView};
use nudge_usecases::send;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list)
        .service(show)
        .service(reply)
        .service(update);
}

#[derive(Serialize, ToSchema)]
pub struct ConversationView {
    pub id: Uuid,
    pub shop_id: Uuid,
    pub customer_id: Uuid,
    /// The customer's number.
    pub phone: String,
    /// Handed to a person: the bot keeps quiet until an agent hands it back.
    pub needs_human: bool,
    /// Why it was handed off: `asked_for_person`, `no_rule_matched`,
    /// `customer_opted_out`, `fulfilment_failed`, `fulfilment_asked` or `merchant`.
    pub handoff_reason: Option<String>,
    pub handed_off_at: Option<DateTime<Utc>>,
    pub last_inbound_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The thread, oldest first (the newest 200 entries); on single responses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<ThreadEntryView>>,
}

/// One message of a thread.
#[derive(Serialize, ToSchema)]
pub struct ThreadEntryView {
    /// `inbound` (the customer's) or `outbound` (the shop's).
    pub direction: &'static str,
    pub id: Uuid,
    pub body: String,
    /// Received (inbound) or accepted (outbound).
    pub at: DateTime<Utc>,
    /// Outbound: the message's status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Outbound: `api`, `campaign`, `compliance`, `bot` or `agent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Inbound: what inbound processing did (`opted_out`, `help`, `bot_reply`,
    /// `handed_off`...); `null` while it has not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

impl ConversationView {
    fn new(conversation: Conversation, thread: Option<Vec<ThreadEntry>>) -> Self {
        ConversationView {
            id: conversation.id,
            shop_id: conversation.shop_id,
            customer_id: conversation.customer_id,
            phone: conversation.phone,
            needs_human: conversation.needs_human,
            handoff_reason: conversation.handoff_reason,
            handed_off_at: conversation.handed_off_at,
            last_inbound_at: conversation.last_inbound_at,
            created_at: conversation.created_at,
            messages: thread
                .map(|entries| entries.into_iter().map(ThreadEntryView::from).collect()),
        }
    }
}

impl From<ThreadEntry> for ThreadEntryView {
    fn from(entry: ThreadEntry) -> Self {
        match entry {
            ThreadEntry::Inbound(inbound) => ThreadEntryView {
                direction: "inbound",
                id: inbound.id,
                body: inbound.body,
                at: inbound.received_at,
                status: None,
                origin: None,
                outcome: inbound.outcome,
            },
            ThreadEntry::Outbound(message) => ThreadEntryView {
                direction: "outbound",
                id: message.id,
                body: message.body,
                at: message.created_at,
                status: Some(message.status),
                origin: Some(message.origin),
                outcome: None,
            },
        }
    }
}

#[derive(Deserialize)]
struct ListQuery {
    needs_human: Option<String>,
    shop_id: Option<String>,
    #[serde(flatten)]
    page: PageQuery,
}

#[utoipa::path(
    tag = "conversations",
    summary = "List conversations",
    params(
        ("needs_human" = Option<bool>, Query, description = "`true`: the care queue; `false`: with the bot"),
        ("shop_id" = Option<Uuid>, Query, description = "Only this shop's conversations"),
        PageQuery,
    ),
    responses((status = 200, description = "A page of conversations, newest first", body = ListView<ConversationView>))
)]
#[get("/conversations")]
async fn list(
    auth: Authenticated,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let needs_human = match query.needs_human.as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            errors.push(FieldError::new("needs_human", "must be true or false"));
            None
        }
    };
    let shop = query.shop_id.as_deref().and_then(|raw| {
        raw.parse::<ShopId>()
            .map_err(|_| errors.push(FieldError::new("shop_id", "must be a shop id")))
            .ok()
    });
    let page = query.page.to_request(&mut errors);
    check(errors)?;
    let mut conn = state.conn().await?;
    let page = nudge_db::conversations::list(
        &mut conn,
        auth.tenant,
        ConversationFilter { needs_human, shop },
        page,
    )
    .await?;
    Ok(HttpResponse::Ok().json(ListView::from_page(page, |c| {
        ConversationView::new(c, None)
    })))
}

#[utoipa::path(
    tag = "conversations",
    summary = "Show a conversation with its thread",
    params(("id" = Uuid, Path, description = "The conversation's id")),
    responses((status = 200, description = "The conversation and its messages, oldest first", body = ConversationView))
)]
#[get("/conversations/{id}")]
async fn show(
    auth: Authenticated,
    state: web::Data<AppState>,
    PathId(id): PathId<ConversationId>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    let conversation = nudge_db::conversations::find(&mut conn, auth.tenant, id)
        .await?
        .ok_or(ApiError::NotFound("conversation"))?;
    let thread = nudge_db::conversations::thread(&mut conn, &conversation).await?;
    Ok(HttpResponse::Ok().json(ConversationView::new(conversation, Some(thread))))
}

/// An agent's answer.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReplyBody {
    /// The text, 1 to 1,600 characters, sent as is.
    body: String,
}

#[utoipa::path(
    tag = "conversations",
    summary = "Answer in a conversation (care agents)",
    description = "Sends `body` to the customer from the shop's number, as a transactional message (`origin: agent`). The customer's consent is checked as for any send.",
    params(("id" = Uuid, Path, description = "The conversation's id")),
    request_body = ReplyBody,
    responses(
        (status = 202, description = "Accepted; the message, `queued`", body = MessageView),
        (status = 422, description = "`recipient-opted-out`: the customer texted STOP", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/conversations/{id}/messages")]
async fn reply(
    auth: Authenticated,
    state: web::Data<AppState>,
    PathId(id): PathId<ConversationId>,
    JsonBody(body): JsonBody<ReplyBody>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    let sender = send::Sender {
        origin: MessageOrigin::Agent,
        ..send::Sender::api(&auth.owner, &state.daily_counts)
    };
    let message = send::answer(
        &mut conn,
        sender,
        id,
        &body.body,
        nudge_telemetry::current_traceparent(),
    )
    .await?;
    state.relay_wakeup.notify_one();
    Ok(HttpResponse::Accepted().json(MessageView::new(message, None)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateConversation {
    /// `false` hands the conversation back to the bot; `true` takes it for a person
    /// (reason `merchant`).
    needs_human: bool,
}

#[utoipa::path(
    tag = "conversations",
    summary = "Hand a conversation back to the bot, or take it for a person",
    params(("id" = Uuid, Path, description = "The conversation's id")),
    request_body = UpdateConversation,
    responses((status = 200, description = "The conversation", body = ConversationView))
)]
#[patch("/conversations/{id}")]
async fn update(
    auth: Authenticated,
    state: web::Data<AppState>,
    PathId(id): PathId<ConversationId>,
    JsonBody(body): JsonBody<UpdateConversation>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    if body.needs_human {
        nudge_db::conversations::hand_off(&mut conn, auth.tenant, id, "merchant").await?;
    } else {
        nudge_db::conversations::hand_back(&mut conn, auth.tenant, id).await?;
    }
    let conversation = nudge_db::conversations::find(&mut conn, auth.tenant, id)
        .await?
        .ok_or(ApiError::NotFound("conversation"))?;
    Ok(HttpResponse::Ok().json(ConversationView::new(conversation, None)))
}
