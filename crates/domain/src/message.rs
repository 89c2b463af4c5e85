//! A message's lifecycle as Nudge records it, and the events of its timeline.

use serde::{Deserialize, Serialize};

/// Where a message is. Outbound messages move `queued -> sending -> sent`, and later
/// (from the provider's status callbacks) to `delivered`, `undelivered` or `failed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Accepted, waiting for its `send_at`.
    Scheduled,
    /// Accepted and waiting for a sender.
    Queued,
    /// Claimed by a sender, provider call in progress.
    Sending,
    /// The provider accepted it.
    Sent,
    /// The carrier delivered it (a delivery receipt).
    Delivered,
    /// The carrier could not deliver it; the message's error code says why.
    Undelivered,
    /// The recipient read it (channels with read receipts; never SMS).
    Read,
    /// Will not be sent; the message's error says why.
    Failed,
    /// Cancelled by the merchant before it reached the queue.
    Cancelled,
}

impl MessageStatus {
    pub const ALL: [MessageStatus; 9] = [
        MessageStatus::Scheduled,
        MessageStatus::Queued,
        MessageStatus::Sending,
        MessageStatus::Sent,
        MessageStatus::Delivered,
        MessageStatus::Undelivered,
        MessageStatus::Read,
        MessageStatus::Failed,
        MessageStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Scheduled => "scheduled",
            MessageStatus::Queued => "queued",
            MessageStatus::Sending => "sending",
            MessageStatus::Sent => "sent",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Undelivered => "undelivered",
            MessageStatus::Read => "read",
            MessageStatus::Failed => "failed",
            MessageStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }
}

/// The kinds of entries in a message's timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageEventType {
    /// Accepted with a `send_at`; the detail holds it.
    Scheduled,
    /// Accepted by the API (or, when scheduled, its time came).
    Queued,
    /// A sender claimed it and is calling the provider (one per attempt).
    Sending,
    /// The provider accepted it; the detail holds its sid.
    Sent,
    /// An attempt failed in a way worth retrying; the detail says why and when.
    RetryScheduled,
    /// It will not be sent; the detail holds the provider's code and message.
    Failed,
    /// Cancelled before it reached the queue.
    Cancelled,
    /// A worker took over a message whose sender's lease expired (it died mid-send) and
    /// asks the provider whether it already has it before sending.
    Reconciling,
    /// A status callback from the provider (delivery receipt); the detail holds the
    /// reported status, its error code, and whether it moved the message's status.
    ProviderStatus,
}

impl MessageEventType {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageEventType::Scheduled => "scheduled",
            MessageEventType::Queued => "queued",
            MessageEventType::Sending => "sending",
            MessageEventType::Sent => "sent",
            MessageEventType::RetryScheduled => "retry_scheduled",
            MessageEventType::Failed => "failed",
            MessageEventType::Cancelled => "cancelled",
            MessageEventType::Reconciling => "reconciling",
            MessageEventType::ProviderStatus => "provider_status",
        }
    }
}

/// Who made an outbound message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageOrigin {
    /// A merchant's `POST /v1/messages` (or a batch).
    Api,
    /// A campaign's expansion.
    Campaign,
    /// Inbound processing's answer to STOP, START or HELP.
    Compliance,
    /// The shop's bot (a static reply or a fulfilment's answer).
    Bot,
    /// A care agent answering in a conversation.
    Agent,
    /// A person sending from the console's message form.
    Console,
}

impl MessageOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageOrigin::Api => "api",
            MessageOrigin::Campaign => "campaign",
            MessageOrigin::Compliance => "compliance",
            MessageOrigin::Bot => "bot",
            MessageOrigin::Agent => "agent",
            MessageOrigin::Console => "console",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_names() {
        for status in MessageStatus::ALL {
            assert_eq!(MessageStatus::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::Value::String(status.as_str().into())
            );
        }
        assert_eq!(MessageStatus::parse("lost"), None);
    }
}
