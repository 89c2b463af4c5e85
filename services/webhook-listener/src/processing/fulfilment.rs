//! Bot fulfilment, the Lex + Lambda pattern over HTTPS: when a rule has a fulfilment
//! endpoint, the merchant's code computes the answer (an order's tracking link, say).
//! The call is signed like every webhook (Standard Webhooks, the rule's secret) and
//! carries the intent, the message and the conversation. The endpoint answers 2xx with
//! `{"reply": "..."}` (sent back to the customer) or `{"hand_off": true}` (a person
//! takes over).

use nudge_db::inbound::Context;
use nudge_db::models::BotRule;
use serde::Deserialize;
use serde_json::json;

use crate::merchant_http::MerchantClient;

/// What the merchant's endpoint decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fulfilled {
    Reply(String),
    HandOff,
}

#[derive(Deserialize)]
struct Answer {
    reply: Option<String>,
    #[serde(default)]
    hand_off: bool,
}

/// The longest reply we send (Twilio's limit).
const MAX_REPLY_CHARS: usize = 1_600;

/// Calls the rule's endpoint. `Err` says why it could not be used (for the log and the
/// hand-off's reason); the caller decides whether to retry.
pub async fn fulfil(
    client: &MerchantClient,
    rule: &BotRule,
    context: &Context,
) -> Result<Fulfilled, String> {
    let (Some(url), Some(secret)) = (&rule.fulfilment_url, &rule.fulfilment_secret) else {
        return Err("the rule has no fulfilment endpoint".into());
    };
    let body = json!({
        "type": "bot.fulfilment",
        "intent": rule.name,
        "rule_id": rule.id,
        "message": {
            "id": context.inbound.id,
            "body": context.inbound.body,
            "received_at": context.inbound.received_at,
        },
        "conversation": {
            "id": context.conversation.id,
            "shop_id": context.conversation.shop_id,
            "phone": context.conversation.phone,
        },
        "customer": {
            "id": context.customer.id,
            "name": context.customer.name,
            "attributes": context.customer.attributes,
        },
    });
    let bytes = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
    // The inbound message's id names the call: a retry carries the same webhook-id, so
    // the merchant can recognise it.
    let answer = client
        .post_signed(url, secret, &context.inbound.id.to_string(), bytes)
        .await
        .map_err(|e| e.to_string())?;
    if !(200..300).contains(&answer.status) {
        return Err(format!(
            "the fulfilment endpoint answered {}",
            answer.status
        ));
    }
    let parsed: Answer = serde_json::from_slice(&answer.body)
        .map_err(|_| "the fulfilment endpoint's answer is not the expected JSON".to_owned())?;
    match (parsed.reply, parsed.hand_off) {
        (_, true) => Ok(Fulfilled::HandOff),
        (Some(reply), false) => {
            let reply = reply.trim().to_owned();
            if reply.is_empty() || reply.chars().count() > MAX_REPLY_CHARS {
                Err(format!(
                    "the fulfilment reply must be 1 to {MAX_REPLY_CHARS} characters"
                ))
            } else {
                Ok(Fulfilled::Reply(reply))
            }
        }
        (None, false) => Err("the fulfilment answer has neither reply nor hand_off".into()),
    }
}
