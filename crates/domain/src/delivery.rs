//! Delivery receipts: the statuses a provider reports for a message after accepting it,
//! and the one rule for applying them: a message's status only moves forward.
//!
//! Callbacks arrive out of order and more than once (Twilio retries, and its `sent` and
//! `delivered` can cross on the way), so each report is compared with where the message
//! already is; a report that would move it backwards is kept in the timeline and
//! changes nothing.

use crate::MessageStatus;

/// A status in a provider's status callback (Twilio's `MessageStatus` parameter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProviderStatus {
    Accepted,
    Scheduled,
    Queued,
    Sending,
    Sent,
    Delivered,
    Undelivered,
    Failed,
    /// Read receipts (WhatsApp, RCS); SMS has none.
    Read,
    Canceled,
    /// Inbound message states; they never apply to an outbound message.
    Receiving,
    Received,
}

impl ProviderStatus {
    pub const ALL: [ProviderStatus; 12] = [
        ProviderStatus::Accepted,
        ProviderStatus::Scheduled,
        ProviderStatus::Queued,
        ProviderStatus::Sending,
        ProviderStatus::Sent,
        ProviderStatus::Delivered,
        ProviderStatus::Undelivered,
        ProviderStatus::Failed,
        ProviderStatus::Read,
        ProviderStatus::Canceled,
        ProviderStatus::Receiving,
        ProviderStatus::Received,
    ];

    /// Twilio's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderStatus::Accepted => "accepted",
            ProviderStatus::Scheduled => "scheduled",
            ProviderStatus::Queued => "queued",
            ProviderStatus::Sending => "sending",
            ProviderStatus::Sent => "sent",
            ProviderStatus::Delivered => "delivered",
            ProviderStatus::Undelivered => "undelivered",
            ProviderStatus::Failed => "failed",
            ProviderStatus::Read => "read",
            ProviderStatus::Canceled => "canceled",
            ProviderStatus::Receiving => "receiving",
            ProviderStatus::Received => "received",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// The message status this report stands for, if it stands for one. Everything
    /// before the carrier has it is, for Nudge, `sent` (the provider has it).
    fn as_message_status(self) -> Option<MessageStatus> {
        match self {
            ProviderStatus::Accepted
            | ProviderStatus::Scheduled
            | ProviderStatus::Queued
            | ProviderStatus::Sending
            | ProviderStatus::Sent => Some(MessageStatus::Sent),
            ProviderStatus::Delivered => Some(MessageStatus::Delivered),
            ProviderStatus::Undelivered => Some(MessageStatus::Undelivered),
            ProviderStatus::Failed => Some(MessageStatus::Failed),
            ProviderStatus::Read => Some(MessageStatus::Read),
            ProviderStatus::Canceled | ProviderStatus::Receiving | ProviderStatus::Received => None,
        }
    }
}

/// How far along its life a message is. Terminal outcomes share a rank, so the first
/// one reported stands; only `read` comes after one (after `delivered`).
fn rank(status: MessageStatus) -> u8 {
    match status {
        MessageStatus::Scheduled => 0,
        MessageStatus::Queued => 1,
        MessageStatus::Sending => 2,
        MessageStatus::Sent => 3,
        MessageStatus::Delivered
        | MessageStatus::Undelivered
        | MessageStatus::Failed
        | MessageStatus::Cancelled => 4,
        MessageStatus::Read => 5,
    }
}

/// The status a message moves to when the provider reports `reported`, or `None` when
/// the report changes nothing (late, repeated, or not about an outbound message).
pub fn next_status(current: MessageStatus, reported: ProviderStatus) -> Option<MessageStatus> {
    let target = reported.as_message_status()?;
    let other_outcome =
        rank(current) == rank(MessageStatus::Delivered) && current != MessageStatus::Delivered;
    if target == MessageStatus::Read && other_outcome {
        // Only a delivered message can be read; an undelivered one stays undelivered.
        return None;
    }
    (rank(target) > rank(current)).then_some(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn status() -> impl Strategy<Value = MessageStatus> {
        proptest::sample::select(MessageStatus::ALL.to_vec())
    }

    fn reported() -> impl Strategy<Value = ProviderStatus> {
        proptest::sample::select(ProviderStatus::ALL.to_vec())
    }

    #[test]
    fn the_usual_life_moves_forward() {
        use MessageStatus as M;
        use ProviderStatus as P;
        assert_eq!(next_status(M::Sending, P::Queued), Some(M::Sent));
        assert_eq!(next_status(M::Sent, P::Sent), None);
        assert_eq!(next_status(M::Sent, P::Delivered), Some(M::Delivered));
        assert_eq!(next_status(M::Sent, P::Undelivered), Some(M::Undelivered));
        assert_eq!(next_status(M::Sent, P::Failed), Some(M::Failed));
        assert_eq!(next_status(M::Delivered, P::Read), Some(M::Read));
    }

    #[test]
    fn late_and_conflicting_reports_change_nothing() {
        use MessageStatus as M;
        use ProviderStatus as P;
        assert_eq!(next_status(M::Delivered, P::Sent), None);
        assert_eq!(next_status(M::Delivered, P::Undelivered), None);
        assert_eq!(next_status(M::Undelivered, P::Delivered), None);
        assert_eq!(next_status(M::Read, P::Delivered), None);
        assert_eq!(next_status(M::Cancelled, P::Sent), None);
        assert_eq!(next_status(M::Undelivered, P::Read), None);
        assert_eq!(next_status(M::Sent, P::Received), None);
        assert_eq!(next_status(M::Sent, P::Canceled), None);
    }

    #[test]
    fn names_round_trip() {
        for status in ProviderStatus::ALL {
            assert_eq!(ProviderStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(ProviderStatus::parse("Delivered"), None);
    }

    proptest! {
        /// Whatever order reports arrive in, a message never goes backwards, and the
        /// same reports in any order end in a status one of them stands for.
        #[test]
        fn a_message_never_moves_backwards(start in status(), reports in proptest::collection::vec(reported(), 0..12)) {
            let mut current = start;
            for report in &reports {
                if let Some(next) = next_status(current, *report) {
                    prop_assert!(rank(next) > rank(current));
                    current = next;
                }
            }
            prop_assert!(rank(current) >= rank(start));
        }

        #[test]
        fn applying_a_report_twice_is_applying_it_once(start in status(), report in reported()) {
            let once = next_status(start, report).unwrap_or(start);
            prop_assert_eq!(next_status(once, report), None);
        }
    }
}
