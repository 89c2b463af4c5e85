//! Conversations in the console: the care queue (conversations waiting for a person)
//! first, each thread with its customer's texts and the shop's answers, updating
//! itself while open, and the agent's answer (owners and care agents), through the
//! same function as `POST /v1/conversations/{id}/messages`. An agent also takes a
//! conversation from the bot or hands it back.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use nudge_db::conversations::{ConversationFilter, ThreadEntry};
use nudge_db::models::Conversation;
use nudge_db::PageRequest;
use nudge_domain::{ConversationId, MessageOrigin};
use serde::Deserialize;

use super::error::refusal_status;
use super::error::ConsoleError;
use super::pages::{
    html, ConversationPage, ConversationRow, ConversationsPage, Nav, ThreadFragment, ThreadRow,
};
use super::roles::Permission;
use super::session::{check_session_form, CsrfForm, SignedIn};
use crate::ConsoleState;
use nudge_usecases::send::{self, Sender};
use nudge_usecases::{Error as UseCaseError, Refusal};

/// Conversations per page of the list.
const PER_PAGE: i64 = 50;

/// Which conversations the list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// Waiting for a person (the default: what care works through).
    NeedsHuman,
    /// Answered by the bot.
    Bot,
    All,
}

impl Queue {
    fn parse(raw: Option<&str>) -> Option<Self> {
        match raw {
            None | Some("" | "needs_human") => Some(Self::NeedsHuman),
            Some("bot") => Some(Self::Bot),
            Some("all") => Some(Self::All),
            Some(_) => None,
        }
    }

    fn needs_human(self) -> Option<bool> {
        match self {
            Self::NeedsHuman => Some(true),
            Self::Bot => Some(false),
            Self::All => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NeedsHuman => "needs_human",
            Self::Bot => "bot",
            Self::All => "all",
        }
    }
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    queue: Option<String>,
    before: Option<uuid::Uuid>,
}

fn when(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Why a conversation is with a person, in words.
fn reason_text(reason: Option<&str>) -> &'static str {
    match reason {
        // The reasons of webhook-listener's `HandOffReason`, and the team's own.
        Some("asked_for_person") => "asked for a person",
        Some("customer_opted_out") => "opted out",
        Some("no_rule_matched") => "the bot had no answer",
        Some("fulfilment_failed") => "the bot's fulfilment failed",
        Some("fulfilment_asked") => "the bot asked for a person",
        Some("merchant") => "taken by the team",
        Some(_) => "handed to a person",
        None => "",
    }
}

fn row(conversation: &Conversation, shops: &[(String, String)]) -> ConversationRow {
    let shop_id = conversation.shop_id.to_string();
    ConversationRow {
        id: conversation.id.to_string(),
        phone: conversation.phone.clone(),
        shop: shops
            .iter()
            .find(|(id, _)| *id == shop_id)
            .map_or_else(String::new, |(_, name)| name.clone()),
        needs_human: conversation.needs_human,
        reason: reason_text(conversation.handoff_reason.as_deref()),
        last_text: conversation.last_inbound_at.map(when),
    }
}

pub(super) async fn list(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let queue = Queue::parse(query.queue.as_deref()).ok_or(ConsoleError::NotFound)?;
    let mut conn = state.conn().await?;
    let shops = super::shop_choices(&mut conn, signed_in.tenant()).await?;
    let page = nudge_db::conversations::list(
        &mut conn,
        signed_in.tenant(),
        ConversationFilter {
            needs_human: queue.needs_human(),
            shop: None,
        },
        PageRequest {
            limit: PER_PAGE,
            before: query.before,
        },
    )
    .await?;
    html(
        StatusCode::OK,
        &ConversationsPage {
            queue: queue.as_str(),
            conversations: page.items.iter().map(|c| row(c, &shops)).collect(),
            next: page
                .next
                .map(|before| format!("queue={}&before={before}", queue.as_str())),
            signed_in: Some(Nav::of(&signed_in)),
        },
    )
}

async fn load(
    signed_in: &SignedIn,
    state: &ConsoleState,
    id: ConversationId,
) -> Result<(Conversation, Vec<ThreadEntry>), ConsoleError> {
    let mut conn = state.conn().await?;
    // Another tenant's conversation is as absent as one that never was.
    let conversation = nudge_db::conversations::find(&mut conn, signed_in.tenant(), id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let thread = nudge_db::conversations::thread(&mut conn, &conversation).await?;
    Ok((conversation, thread))
}

fn thread_fragment(conversation: &Conversation, thread: &[ThreadEntry]) -> ThreadFragment {
    ThreadFragment {
        id: conversation.id.to_string(),
        needs_human: conversation.needs_human,
        entries: thread
            .iter()
            .map(|entry| match entry {
                ThreadEntry::Inbound(inbound) => ThreadRow {
                    inbound: true,
                    body: inbound.body.clone(),
                    at: when(inbound.received_at),
                    by: "Customer".into(),
                    status: None,
                },
                ThreadEntry::Outbound(message) => ThreadRow {
                    inbound: false,
                    body: message.body.clone(),
                    at: when(message.created_at),
                    by: match message.origin.as_str() {
                        "agent" => "Care",
                        "bot" => "Bot",
                        "compliance" => "Automatic",
                        "campaign" => "Campaign",
                        _ => "Shop",
                    }
                    .into(),
                    status: Some(message.status.clone()),
                },
            })
            .collect(),
    }
}

pub(super) async fn show(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
    id: web::Path<ConversationId>,
) -> Result<HttpResponse, ConsoleError> {
    conversation_page(
        &signed_in,
        &state,
        id.into_inner(),
        StatusCode::OK,
        None,
        "",
    )
    .await
}

/// The conversation's page (the live thread alone needs no shop names: `load`).
async fn conversation_page(
    signed_in: &SignedIn,
    state: &ConsoleState,
    id: ConversationId,
    status: StatusCode,
    error: Option<&str>,
    draft: &str,
) -> Result<HttpResponse, ConsoleError> {
    let (conversation, thread) = load(signed_in, state, id).await?;
    let mut conn = state.conn().await?;
    let shops = super::shop_choices(&mut conn, signed_in.tenant()).await?;
    let (conversation, thread, shops) = (&conversation, &thread, &shops);
    html(
        status,
        &ConversationPage {
            conversation: row(conversation, shops),
            thread: thread_fragment(conversation, thread),
            can_answer: signed_in
                .role()
                .is_some_and(|role| role.may(Permission::AnswerConversations)),
            error,
            draft,
            signed_in: Some(Nav::of(signed_in)),
        },
    )
}

/// The thread alone, for `live.js`: new texts and answers appear as they come.
pub(super) async fn live_thread(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
    id: web::Path<ConversationId>,
) -> Result<HttpResponse, ConsoleError> {
    let (conversation, thread) = load(&signed_in, &state, id.into_inner()).await?;
    html(StatusCode::OK, &thread_fragment(&conversation, &thread))
}

#[derive(Deserialize)]
pub(super) struct AnswerForm {
    csrf: String,
    body: String,
}

pub(super) async fn answer(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
    id: web::Path<ConversationId>,
    form: web::Form<AnswerForm>,
) -> Result<HttpResponse, ConsoleError> {
    check_session_form(&signed_in, &form.csrf)?;
    signed_in.require(Permission::AnswerConversations)?;
    let id = id.into_inner();
    let mut conn = state.conn().await?;
    let sender = Sender {
        tenant: signed_in.tenant(),
        daily_message_cap: nudge_db::limits::daily_message_cap(&conn, signed_in.tenant()).await?,
        origin: MessageOrigin::Agent,
        daily: &state.daily_counts,
    };
    let traceparent = nudge_telemetry::current_traceparent();
    match send::answer(&mut conn, sender, id, &form.body, traceparent).await {
        Ok(message) => {
            tracing::info!(message_id = %message.id, user_id = %signed_in.0.user.id, conversation_id = %id, "answered from the console");
            state.relay_wakeup.notify_one();
            Ok(back_to(id))
        }
        Err(UseCaseError::Refused(Refusal::NotFound(_))) => Err(ConsoleError::NotFound),
        Err(UseCaseError::Refused(refused)) => {
            let status = refusal_status(&refused);
            let message = match &refused {
                Refusal::Invalid(_) => "Write an answer of 1 to 1,600 characters.".to_owned(),
                other => other.to_string(),
            };
            conversation_page(&signed_in, &state, id, status, Some(&message), &form.body).await
        }
        Err(failed) => Err(failed.into()),
    }
}

/// Takes the conversation from the bot (`take`) or gives it back (`hand-back`).
pub(super) async fn handle(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
    path: web::Path<(ConversationId, String)>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ConsoleError> {
    check_session_form(&signed_in, &form.csrf)?;
    signed_in.require(Permission::AnswerConversations)?;
    let (id, action) = path.into_inner();
    let conversation = id;
    let mut conn = state.conn().await?;
    // Checked first, so that another tenant's id is 404 whatever the action.
    nudge_db::conversations::find(&mut conn, signed_in.tenant(), conversation)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    match action.as_str() {
        "take" => {
            nudge_db::conversations::hand_off(
                &mut conn,
                signed_in.tenant(),
                conversation,
                "merchant",
            )
            .await?;
        }
        "hand-back" => {
            nudge_db::conversations::hand_back(&mut conn, signed_in.tenant(), conversation).await?;
        }
        _ => return Err(ConsoleError::NotFound),
    }
    tracing::info!(user_id = %signed_in.0.user.id, conversation_id = %id, %action, "conversation handled from the console");
    Ok(back_to(id))
}

fn back_to(id: ConversationId) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("/console/conversations/{id}")))
        .finish()
}
