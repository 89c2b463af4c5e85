//! Typed ids. Every id is a UUIDv7 (time-ordered, so newest-first is id order), shown to
//! API clients as an opaque string. Distinct types keep a shop id from being passed
//! where a customer id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }
    };
}

typed_id!(
    /// A merchant account: the unit of isolation.
    TenantId
);
typed_id!(
    /// A tenant's API key (its secret is never kept, only a hash).
    ApiKeyId
);
typed_id!(
    /// A shop of a tenant, with its sender number and time zone.
    ShopId
);
typed_id!(
    /// A shop's customer (one per shop and phone number).
    CustomerId
);
typed_id!(
    /// A message template of a tenant.
    TemplateId
);
typed_id!(
    /// One outbound or inbound message.
    MessageId
);
typed_id!(
    /// A lead search: a job worked by `lead-search`.
    LeadSearchId
);
typed_id!(
    /// A person found by lead searches, once per tenant and profile URL.
    LeadId
);
typed_id!(
    /// A template sent to a segment of a shop's customers.
    CampaignId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_time_ordered() {
        let first = MessageId::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = MessageId::new();
        assert!(first < second);
    }

    #[test]
    fn ids_round_trip_through_strings() {
        let id = ShopId::new();
        assert_eq!(id.to_string().parse::<ShopId>().ok(), Some(id));
        assert!("not-an-id".parse::<ShopId>().is_err());
    }
}
typed_id!(
    /// A shop's SMS thread with one customer phone number.
    ConversationId
);
typed_id!(
    /// One SMS a customer sent to a shop.
    InboundMessageId
);
typed_id!(
    /// One of a shop's bot rules (keywords or an intent, and its answer).
    BotRuleId
);
typed_id!(
    /// A merchant's endpoint subscribed to event webhooks.
    WebhookEndpointId
);
typed_id!(
    /// An image of a tenant's (MMS), stored in S3.
    MediaId
);
typed_id!(
    /// A person's console account, in one tenant.
    ConsoleUserId
);
typed_id!(
    /// An invitation to join a tenant's console team.
    InvitationId
);
