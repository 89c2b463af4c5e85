//! Inbound processing: the worker on `inbound-sms`. For each customer SMS it decides
//! (see [`decide`]) and then acts in ONE transaction that also marks the message
//! processed: the consent change and its confirmation, the bot's answer, or the
//! hand-off and its care webhook. A redelivered queue message finds the message
//! processed and does nothing; two workers racing on one message cannot both commit.
//!
//! Answers go out like any send: a message row and its `outbound_sms.v1` outbox row,
//! relayed to `outbound-sms` and delivered by `sms-sender`, which re-checks consent.

mod decide;
mod fulfilment;

use std::sync::Arc;

use chrono::Utc;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use nudge_db::conversations::ThreadEntry;
use nudge_db::inbound::Context;
use nudge_db::outbound::{prepare, NewOutbound};
use nudge_db::{DbError, DbPool};
use nudge_domain::{
    ComplianceKeyword, ComplianceKeywords, Consent, ConsentSource, ConversationId, CustomerId,
    Envelope, InboundMessageId, InboundSmsV1, MessageCategory, MessageOrigin, PhoneNumber, ShopId,
    TenantId,
};
use nudge_queue::consumer::Handler;
use nudge_queue::{Disposition, ReceivedMessage};
use serde_json::{json, Value};
use tokio::sync::Notify;

use decide::strings;
pub use decide::{decide, Decision, HandOffReason, Situation};
use fulfilment::{fulfil, Fulfilled};

use crate::merchant_http::MerchantClient;

/// A fulfilment endpoint that fails is tried on this many deliveries of the message,
/// then the conversation goes to a person: a customer is never left unanswered.
const FULFILMENT_TRIES: u32 = 3;
/// The thread a care webhook carries (the newest entries).
const HANDOFF_THREAD: usize = 20;

pub struct InboundProcessor {
    pub pool: DbPool,
    pub client: MerchantClient,
    /// Woken when an answer was queued, so the relay sends it at once.
    pub relay_wakeup: Arc<Notify>,
    pub queue_name: String,
}

/// What inbound processing does, once decided (fulfilment already called).
enum Action {
    Compliance(ComplianceKeyword),
    ForAgent,
    HandOff {
        reason: HandOffReason,
        detail: Option<String>,
    },
    Reply {
        rule: String,
        text: String,
        fulfilled: bool,
    },
}

impl Handler for InboundProcessor {
    async fn process(&self, message: &ReceivedMessage) -> Disposition {
        let envelope = match Envelope::<InboundSmsV1>::from_json(&message.body) {
            Ok(envelope) => envelope,
            Err(error) => {
                return nudge_queue::consumer::reject(
                    &self.pool,
                    &self.queue_name,
                    message,
                    &error.to_string(),
                )
                .await
            }
        };
        tracing::Span::current().record(
            "message_id",
            tracing::field::display(envelope.payload.inbound_message_id),
        );
        match self.handle(&envelope, message.receive_count).await {
            Ok(disposition) => disposition,
            // Processing is idempotent (`processed_at`): held and done again once the
            // database answers.
            Err(error @ DbError::Unavailable(_)) => {
                tracing::warn!(%error, "inbound processing waits for the database");
                Disposition::Unavailable
            }
            Err(error) => {
                tracing::warn!(%error, "inbound processing failed; retried later");
                Disposition::RetryAfter(10 * message.receive_count.clamp(1, 30))
            }
        }
    }

    async fn ready(&self) -> bool {
        nudge_db::pool::answers(&self.pool).await
    }
}

impl InboundProcessor {
    async fn handle(
        &self,
        envelope: &Envelope<InboundSmsV1>,
        receive_count: u32,
    ) -> Result<Disposition, DbError> {
        let tenant = envelope.tenant_id;
        let id = envelope.payload.inbound_message_id;
        let mut conn = self.pool.get().await?;
        let Some(context) = nudge_db::inbound::load(&mut conn, tenant, id).await? else {
            // Erased with its customer since, or not this tenant's: nothing to do.
            tracing::warn!(%id, "inbound message not found for its tenant; dropped");
            return Ok(Disposition::Delete);
        };
        if context.inbound.processed_at.is_some() {
            tracing::info!(%id, "inbound message already processed");
            return Ok(Disposition::Delete);
        }
        let shop = &context.shop;
        let keywords = ComplianceKeywords::new(
            &strings(&shop.opt_out_keywords),
            &strings(&shop.opt_in_keywords),
            &strings(&shop.help_keywords),
        )
        .unwrap_or_default();
        let rules =
            nudge_db::bot_rules::for_shop(&mut conn, tenant, ShopId::from_uuid(shop.id)).await?;
        let decision = decide(&Situation {
            body: &context.inbound.body,
            keywords: &keywords,
            needs_human: context.conversation.needs_human,
            consent: Consent::parse(&context.customer.consent).unwrap_or(Consent::Unknown),
            rules: &rules,
        });
        let action = match decision {
            Decision::Compliance(keyword) => Action::Compliance(keyword),
            Decision::ForAgent => Action::ForAgent,
            Decision::HandOff(reason) => Action::HandOff {
                reason,
                detail: None,
            },
            Decision::Rule(rule) => match &rule.reply {
                Some(reply) => Action::Reply {
                    rule: rule.name.clone(),
                    text: reply.clone(),
                    fulfilled: false,
                },
                None => match fulfil(&self.client, rule, &context).await {
                    Ok(Fulfilled::Reply(text)) => Action::Reply {
                        rule: rule.name.clone(),
                        text,
                        fulfilled: true,
                    },
                    Ok(Fulfilled::HandOff) => Action::HandOff {
                        reason: HandOffReason::FulfilmentAsked,
                        detail: Some(rule.name.clone()),
                    },
                    Err(why) if receive_count < FULFILMENT_TRIES => {
                        tracing::warn!(rule = %rule.name, why, receive_count, "fulfilment failed; retried");
                        return Ok(Disposition::RetryAfter(2 * receive_count));
                    }
                    Err(why) => {
                        tracing::warn!(rule = %rule.name, why, "fulfilment failed; handing off");
                        Action::HandOff {
                            reason: HandOffReason::FulfilmentFailed,
                            detail: Some(format!("{}: {why}", rule.name)),
                        }
                    }
                },
            },
        };
        let result = conn
            .transaction::<_, ActError, _>(async |conn| act(conn, &context, action).await)
            .await;
        match result {
            Ok(queued_reply) => {
                if queued_reply {
                    self.relay_wakeup.notify_one();
                }
                Ok(Disposition::Delete)
            }
            Err(ActError::AlreadyProcessed) => Ok(Disposition::Delete),
            Err(ActError::Db(error)) => Err(error),
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum ActError {
    /// Another delivery of the same message got there first: roll back.
    #[error("already processed")]
    AlreadyProcessed,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<nudge_db::DieselError> for ActError {
    fn from(error: nudge_db::DieselError) -> Self {
        ActError::Db(error.into())
    }
}

/// Applies the action and marks the message processed, inside the caller's
/// transaction. Returns whether an answer was queued.
async fn act(
    conn: &mut AsyncPgConnection,
    context: &Context,
    action: Action,
) -> Result<bool, ActError> {
    let tenant = TenantId::from_uuid(context.inbound.tenant_id);
    let consent = Consent::parse(&context.customer.consent).unwrap_or(Consent::Unknown);
    let (outcome, detail, reply) = match action {
        Action::Compliance(keyword) => {
            let target = match keyword {
                ComplianceKeyword::OptOut => Some(Consent::OptedOut),
                ComplianceKeyword::OptIn => Some(Consent::OptedIn),
                ComplianceKeyword::Help => None,
            };
            let changed = target.is_some_and(|target| target != consent);
            if let (Some(target), true) = (target, changed) {
                nudge_db::consent::record(
                    conn,
                    tenant,
                    CustomerId::from_uuid(context.customer.id),
                    target,
                    ConsentSource::Keyword,
                    json!({
                        "inbound_message_id": context.inbound.id,
                        "provider_sid": context.inbound.provider_sid,
                        "text": context.inbound.body,
                    }),
                )
                .await?;
            }
            let outcome = match keyword {
                ComplianceKeyword::OptOut => "opted_out",
                ComplianceKeyword::OptIn => "opted_in",
                ComplianceKeyword::Help => "help",
            };
            // One confirmation per change: a second STOP from someone already opted
            // out gets no further message.
            let reply = match keyword {
                ComplianceKeyword::Help => Some(
                    context
                        .shop
                        .help_text
                        .clone()
                        .unwrap_or_else(|| keyword.default_reply().to_owned()),
                ),
                _ if changed => Some(keyword.default_reply().to_owned()),
                _ => None,
            };
            (
                outcome,
                json!({ "keyword": keyword.as_str(), "consent_changed": changed }),
                reply.map(|text| (text, MessageCategory::Compliance, MessageOrigin::Compliance)),
            )
        }
        Action::ForAgent => ("for_agent", json!({}), None),
        Action::HandOff { reason, detail } => {
            let conversation = ConversationId::from_uuid(context.conversation.id);
            let changed =
                nudge_db::conversations::hand_off(conn, tenant, conversation, reason.as_str())
                    .await?;
            if changed {
                let thread = nudge_db::conversations::thread(conn, &context.conversation).await?;
                nudge_db::webhooks::emit(
                    conn,
                    tenant,
                    context.shop.id,
                    "conversation.needs_human",
                    handoff_event(context, reason, detail.as_deref(), &thread),
                )
                .await?;
            }
            (
                "handed_off",
                json!({ "reason": reason.as_str(), "detail": detail }),
                None,
            )
        }
        Action::Reply {
            rule,
            text,
            fulfilled,
        } => (
            if fulfilled { "fulfilled" } else { "bot_reply" },
            json!({ "rule": rule }),
            Some((text, MessageCategory::Transactional, MessageOrigin::Bot)),
        ),
    };
    let mut detail = detail;
    let queued = match reply {
        Some((text, category, origin)) => {
            let message_id = queue_reply(conn, context, text, category, origin).await?;
            detail["reply_message_id"] = json!(message_id);
            true
        }
        None => false,
    };
    let marked = nudge_db::inbound::mark_processed(
        conn,
        tenant,
        InboundMessageId::from_uuid(context.inbound.id),
        outcome,
        detail,
    )
    .await?;
    if !marked {
        return Err(ActError::AlreadyProcessed);
    }
    Ok(queued)
}

/// Queues an answer to the customer, from the shop's number, as a reply to the inbound
/// message.
async fn queue_reply(
    conn: &mut AsyncPgConnection,
    context: &Context,
    text: String,
    category: MessageCategory,
    origin: MessageOrigin,
) -> Result<uuid::Uuid, DbError> {
    let to = PhoneNumber::parse(&context.conversation.phone)
        .map_err(|e| DbError::Corrupt(format!("conversation phone: {e}")))?;
    let (message, outbox_row) = prepare(
        TenantId::from_uuid(context.inbound.tenant_id),
        NewOutbound {
            shop: &context.shop,
            to: &to,
            customer_id: Some(context.customer.id),
            template_id: None,
            body: text,
            category,
            send_at: None,
            campaign_id: None,
            origin,
            in_reply_to: Some(context.inbound.id),
            media_id: None,
            traceparent: nudge_telemetry::current_traceparent(),
        },
        Utc::now(),
    )?;
    let stored = nudge_db::messages::insert_accepted(conn, &message, &outbox_row).await?;
    Ok(stored.id)
}

/// The `data` of a `conversation.needs_human` event: enough for a care tool to show the
/// conversation without calling back.
fn handoff_event(
    context: &Context,
    reason: HandOffReason,
    detail: Option<&str>,
    thread: &[ThreadEntry],
) -> Value {
    let recent = &thread[thread.len().saturating_sub(HANDOFF_THREAD)..];
    json!({
        "conversation_id": context.conversation.id,
        "shop_id": context.conversation.shop_id,
        "reason": reason.as_str(),
        "detail": detail,
        "customer": {
            "id": context.customer.id,
            "phone": context.customer.phone,
            "name": context.customer.name,
            "consent": context.customer.consent,
        },
        "messages": recent.iter().map(thread_entry_json).collect::<Vec<_>>(),
    })
}

/// One thread entry as events show it.
pub fn thread_entry_json(entry: &ThreadEntry) -> Value {
    match entry {
        ThreadEntry::Inbound(inbound) => json!({
            "direction": "inbound",
            "id": inbound.id,
            "body": inbound.body,
            "at": inbound.received_at,
        }),
        ThreadEntry::Outbound(message) => json!({
            "direction": "outbound",
            "id": message.id,
            "body": message.body,
            "at": message.created_at,
            "status": message.status,
            "origin": message.origin,
        }),
    }
}
