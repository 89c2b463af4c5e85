//! The retry policy, as data: what to do after each kind of provider failure.
//!
//! [`POLICY_BY_CODE`] maps Twilio error codes to an [`Action`]; errors without a listed
//! code fall back on the HTTP status or the transport failure ([`classify`]). Every
//! retry is bounded by `SENDER_MAX_ATTEMPTS`, after which the message is `failed` with
//! its last code; the queue's redrive policy is the last net. docs/retries.md shows the
//! table (a test keeps it in step with this file).

use rand::Rng;

use crate::twilio::ProviderError;

/// What to do with a message after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// The request itself is wrong for this recipient: trying again cannot succeed.
    Permanent,
    /// Capacity or a transient fault: exponential backoff with jitter.
    RetryWithBackoff,
    /// Needs someone to act (credentials, a suspended account): retry after a long,
    /// fixed delay, so that the messages go once it is fixed, without hammering Twilio.
    RetryLater,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Permanent => "permanent",
            Action::RetryWithBackoff => "retry with backoff",
            Action::RetryLater => "retry later",
        }
    }
}

/// Twilio's "attempt to send to unsubscribed recipient": besides failing the message,
/// the recipient is opted out in the consent ledger (source `provider`).
pub const UNSUBSCRIBED: i32 = 21610;

/// Twilio error codes and what they mean for a retry (code, action, Twilio's name).
pub const POLICY_BY_CODE: &[(i32, Action, &str)] = &[
    (
        20003,
        Action::RetryLater,
        "Authentication failed (our credentials)",
    ),
    (20429, Action::RetryWithBackoff, "Too many requests"),
    (21211, Action::Permanent, "Invalid 'To' phone number"),
    (
        21408,
        Action::Permanent,
        "Permission to send to this region is not enabled",
    ),
    (21602, Action::Permanent, "Message body is required"),
    (21604, Action::Permanent, "'To' phone number is required"),
    (
        UNSUBSCRIBED,
        Action::Permanent,
        "The recipient replied STOP (unsubscribed)",
    ),
    (
        21612,
        Action::Permanent,
        "The 'To' number is not reachable from this 'From' number",
    ),
    (
        21614,
        Action::Permanent,
        "'To' number is not a valid mobile number",
    ),
    (
        21617,
        Action::Permanent,
        "The message body exceeds the 1,600 character limit",
    ),
    (30001, Action::RetryWithBackoff, "Queue overflow"),
    (30002, Action::RetryLater, "Account suspended"),
    (30003, Action::Permanent, "Unreachable destination handset"),
    (30004, Action::Permanent, "Message blocked"),
    (30005, Action::Permanent, "Unknown destination handset"),
    (30006, Action::Permanent, "Landline or unreachable carrier"),
    (30007, Action::Permanent, "Message filtered by the carrier"),
    (30008, Action::RetryWithBackoff, "Unknown error"),
];

/// Seconds before a [`Action::RetryLater`] attempt.
pub const RETRY_LATER_SECONDS: u32 = 300;

/// The action for a failure: its Twilio code if the table lists it, else by kind:
/// 429 and 5xx back off, other 4xx are permanent, no answer at all backs off, and an
/// unreadable 2xx is permanent (it may have been sent: never risk a double send).
pub fn classify(error: &ProviderError) -> Action {
    if let Some(action) = error
        .code()
        .and_then(|code| POLICY_BY_CODE.iter().find(|(c, _, _)| *c == code))
        .map(|(_, action, _)| *action)
    {
        return action;
    }
    match error {
        ProviderError::Rejected { http_status, .. }
        | ProviderError::BadResponse { http_status, .. }
            if *http_status == 429 || *http_status >= 500 =>
        {
            Action::RetryWithBackoff
        }
        ProviderError::Rejected { .. } | ProviderError::BadResponse { .. } => Action::Permanent,
        ProviderError::Unreachable(_) | ProviderError::NoAnswer(_) => Action::RetryWithBackoff,
    }
}

/// Seconds to wait before the next attempt, or `None` if there is none.
pub fn next_attempt_in(action: Action, attempt: u32) -> Option<u32> {
    match action {
        Action::Permanent => None,
        Action::RetryWithBackoff => Some(backoff_seconds(attempt)),
        Action::RetryLater => Some(RETRY_LATER_SECONDS),
    }
}

const BASE_SECONDS: u32 = 2;
const CAP_SECONDS: u32 = 300;

/// Seconds to wait before attempt `attempt + 1`, given `attempt` failures so far (>= 1):
/// a random value between half and all of `min(2 * 2^(attempt-1), 300)`.
pub fn backoff_seconds(attempt: u32) -> u32 {
    let exponent = attempt.saturating_sub(1).min(16);
    let ceiling = BASE_SECONDS.saturating_mul(1 << exponent).min(CAP_SECONDS);
    rand::rng().random_range(ceiling / 2..=ceiling)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(http_status: u16, code: Option<i32>) -> ProviderError {
        ProviderError::Rejected {
            http_status,
            code,
            message: String::new(),
            more_info: None,
        }
    }

    #[test]
    fn grows_then_caps_with_jitter_inside_bounds() {
        for _ in 0..200 {
            let first = backoff_seconds(1);
            assert!((1..=2).contains(&first), "{first}");
            let third = backoff_seconds(3);
            assert!((4..=8).contains(&third), "{third}");
            let late = backoff_seconds(30);
            assert!((150..=300).contains(&late), "{late}");
        }
    }

    #[test]
    fn listed_codes_decide_whatever_the_http_status() {
        for (code, action, _) in POLICY_BY_CODE {
            assert_eq!(classify(&rejected(400, Some(*code))), *action, "{code}");
            assert_eq!(classify(&rejected(503, Some(*code))), *action, "{code}");
        }
        assert_eq!(classify(&rejected(400, Some(21610))), Action::Permanent);
        assert_eq!(classify(&rejected(401, Some(20003))), Action::RetryLater);
        assert_eq!(
            classify(&rejected(400, Some(20429))),
            Action::RetryWithBackoff
        );
    }

    #[test]
    fn unlisted_failures_fall_back_on_their_kind() {
        assert_eq!(classify(&rejected(400, Some(21999))), Action::Permanent);
        assert_eq!(classify(&rejected(429, None)), Action::RetryWithBackoff);
        assert_eq!(
            classify(&rejected(500, Some(20500))),
            Action::RetryWithBackoff
        );
        assert_eq!(classify(&rejected(503, None)), Action::RetryWithBackoff);
        assert_eq!(
            classify(&ProviderError::NoAnswer("timed out".into())),
            Action::RetryWithBackoff
        );
        let unreadable = |http_status| ProviderError::BadResponse {
            http_status,
            detail: String::new(),
        };
        assert_eq!(
            classify(&unreadable(201)),
            Action::Permanent,
            "may have been sent"
        );
        assert_eq!(classify(&unreadable(502)), Action::RetryWithBackoff);
    }

    #[test]
    fn the_docs_show_the_whole_table() {
        let docs = include_str!("../../../docs/retries.md");
        for (code, action, _) in POLICY_BY_CODE {
            assert!(
                docs.lines()
                    .any(|line| line.starts_with(&format!("| {code} | {} |", action.as_str()))),
                "docs/retries.md lacks the row `| {code} | {} | ...`",
                action.as_str()
            );
        }
    }
}
