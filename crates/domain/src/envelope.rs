//! The queue message envelope every service speaks:
//! `{ "type": "outbound_sms.v1", "id", "tenant_id", "created_at", "payload": {...} }`.
//!
//! The `type` names the payload and its version; a consumer that meets a type it does
//! not know treats the message as poison rather than guessing. Each type has a JSON
//! Schema in `proto-schemas/` and a test that holds this code to it.

use chrono::{DateTime, SubsecRound, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::{ConversationId, InboundMessageId, LeadSearchId, MessageId, ShopId, TenantId};
use crate::phone::PhoneNumber;

/// A payload type that travels in an envelope.
pub trait MessageKind: Serialize + DeserializeOwned {
    /// The envelope's `type`, e.g. `outbound_sms.v1`.
    const TYPE: &'static str;
}

/// An envelope whose payload has been decoded as `P`.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope<P> {
    /// Unique per envelope: a consumer can use it to spot a redelivery.
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub created_at: DateTime<Utc>,
    pub payload: P,
}

/// The wire form: what is on the queue before we know the payload's type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnvelope {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub created_at: DateTime<Utc>,
    pub payload: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("not a valid envelope: {0}")]
    Malformed(#[source] serde_json::Error),
    #[error("unknown message type '{found}', expected '{expected}'")]
    UnexpectedType {
        expected: &'static str,
        found: String,
    },
    #[error("payload of '{kind}' is invalid: {source}")]
    Payload {
        kind: String,
        #[source]
        source: serde_json::Error,
    },
}

impl<P: MessageKind> Envelope<P> {
    /// A new envelope with a fresh id, stamped now (to the microsecond, as Postgres keeps it).
    pub fn new(tenant_id: TenantId, payload: P) -> Self {
        Self {
            id: Uuid::now_v7(),
            tenant_id,
            created_at: Utc::now().trunc_subsecs(6),
            payload,
        }
    }

    pub fn to_raw(&self) -> Result<RawEnvelope, serde_json::Error> {
        Ok(RawEnvelope {
            kind: P::TYPE.to_owned(),
            id: self.id,
            tenant_id: self.tenant_id,
            created_at: self.created_at,
            payload: serde_json::to_value(&self.payload)?,
        })
    }

    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(&self.to_raw()?)
    }

    /// Parses a queue message body, insisting on the type `P` stands for.
    pub fn from_json(body: &str) -> Result<Self, EnvelopeError> {
        let raw: RawEnvelope = serde_json::from_str(body).map_err(EnvelopeError::Malformed)?;
        Self::from_raw(raw)
    }

    pub fn from_raw(raw: RawEnvelope) -> Result<Self, EnvelopeError> {
        if raw.kind != P::TYPE {
            return Err(EnvelopeError::UnexpectedType {
                expected: P::TYPE,
                found: raw.kind,
            });
        }
        let payload =
            serde_json::from_value(raw.payload).map_err(|source| EnvelopeError::Payload {
                kind: raw.kind.clone(),
                source,
            })?;
        Ok(Self {
            id: raw.id,
            tenant_id: raw.tenant_id,
            created_at: raw.created_at,
            payload,
        })
    }
}

/// `outbound_sms.v1`: a message accepted by the API and waiting to be delivered. The
/// database row is the source of truth (body, sender, status); the payload names it and
/// carries what an operator needs to recognise it in a queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundSmsV1 {
    pub message_id: MessageId,
    pub shop_id: ShopId,
    pub to: PhoneNumber,
}

impl MessageKind for OutboundSmsV1 {
    const TYPE: &'static str = "outbound_sms.v1";
}

/// `inbound_sms.v1`: an SMS a customer sent, stored by the webhook listener in its
/// conversation and waiting for inbound processing (compliance keywords, the shop's bot,
/// hand-off to care). The stored inbound message is the source of truth; its body is not
/// repeated here, so a queue holds no message text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundSmsV1 {
    pub inbound_message_id: InboundMessageId,
    pub conversation_id: ConversationId,
    pub shop_id: ShopId,
    pub from: PhoneNumber,
}

impl MessageKind for InboundSmsV1 {
    const TYPE: &'static str = "inbound_sms.v1";
}

/// `lead_searches.v1`: a lead search to work (or to go on with, after a wait). The
/// search's row holds the query and the progress; the payload only names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeadSearchV1 {
    pub lead_search_id: LeadSearchId,
}

impl MessageKind for LeadSearchV1 {
    const TYPE: &'static str = "lead_search.v1";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Envelope<OutboundSmsV1> {
        Envelope::new(
            TenantId::new(),
            OutboundSmsV1 {
                message_id: MessageId::new(),
                shop_id: ShopId::new(),
                to: PhoneNumber::parse("+14155550123").unwrap(),
            },
        )
    }

    #[test]
    fn round_trips() {
        let envelope = sample();
        let json = envelope.to_json().unwrap();
        assert!(json.contains("\"type\":\"outbound_sms.v1\""));
        assert_eq!(
            Envelope::<OutboundSmsV1>::from_json(&json).unwrap(),
            envelope
        );
    }

    #[test]
    fn refuses_other_types_and_bad_payloads() {
        let mut raw = sample().to_raw().unwrap();
        raw.kind = "outbound_sms.v9".into();
        assert!(matches!(
            Envelope::<OutboundSmsV1>::from_raw(raw),
            Err(EnvelopeError::UnexpectedType { .. })
        ));

        let mut raw = sample().to_raw().unwrap();
        raw.payload["to"] = "12".into();
        assert!(matches!(
            Envelope::<OutboundSmsV1>::from_raw(raw),
            Err(EnvelopeError::Payload { .. })
        ));

        assert!(matches!(
            Envelope::<OutboundSmsV1>::from_json("{not json"),
            Err(EnvelopeError::Malformed(_))
        ));
    }
}

/// Queue messages are outside input (anyone with the queue's send permission, a
/// redrive, a bug elsewhere): any body parses to an envelope of the right type or to
/// an error, never a panic, and a parsed envelope says the same when written again.
#[cfg(test)]
mod arbitrary_bodies {
    use proptest::prelude::*;

    use super::*;

    fn check<P: MessageKind + PartialEq + std::fmt::Debug>(
        body: &str,
    ) -> Result<(), TestCaseError> {
        if let Ok(envelope) = Envelope::<P>::from_json(body) {
            let again = Envelope::<P>::from_json(&envelope.to_json().unwrap());
            prop_assert_eq!(again.ok(), Some(envelope));
        }
        Ok(())
    }

    /// A real envelope with one field replaced by an arbitrary JSON value.
    fn mutated() -> impl Strategy<Value = String> {
        let field = prop::sample::select(vec![
            "type",
            "id",
            "tenant_id",
            "created_at",
            "payload",
            "message_id",
            "shop_id",
            "to",
        ]);
        let value = prop_oneof![
            any::<String>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            Just(serde_json::Value::Null),
            Just(serde_json::json!({})),
        ];
        (field, value).prop_map(|(field, value)| {
            let envelope = Envelope::new(
                TenantId::new(),
                OutboundSmsV1 {
                    message_id: MessageId::new(),
                    shop_id: ShopId::new(),
                    to: PhoneNumber::parse("+14155550123").unwrap(),
                },
            );
            let mut raw = serde_json::to_value(envelope.to_raw().unwrap()).unwrap();
            if raw.get(field).is_some() {
                raw[field] = value;
            } else {
                raw["payload"][field] = value;
            }
            raw.to_string()
        })
    }

    proptest! {
        #[test]
        fn any_string_is_an_envelope_or_an_error(body in any::<String>()) {
            check::<OutboundSmsV1>(&body)?;
            check::<InboundSmsV1>(&body)?;
            check::<LeadSearchV1>(&body)?;
        }

        #[test]
        fn any_bytes_read_as_text_are_an_envelope_or_an_error(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            check::<OutboundSmsV1>(&String::from_utf8_lossy(&bytes))?;
        }

        #[test]
        fn a_damaged_envelope_is_refused_or_still_whole(body in mutated()) {
            check::<OutboundSmsV1>(&body)?;
            check::<InboundSmsV1>(&body)?;
        }
    }
}
