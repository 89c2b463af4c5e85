//! Where a tenant may send, decided before anything is stored or costs anything.
//!
//! - **Destinations**: a tenant texts only numbers whose country calling code it is
//!   allowed (by default the codes of its own sender numbers; an operator widens or
//!   narrows the list). SMS pumping, texting premium ranges abroad at the platform's
//!   cost, needs foreign destinations.
//! - **The sandbox**: a tenant an operator has not approved yet, as a Twilio trial
//!   account, texts only numbers it has verified with a code, and at most
//!   [`SANDBOX_DAILY_MESSAGES`] a day.

use std::collections::HashSet;

use crate::PhoneNumber;

/// Messages a day a tenant may send before an operator approves it.
pub const SANDBOX_DAILY_MESSAGES: i32 = 50;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendingRules {
    pub approved: bool,
    /// Allowed country calling codes (`1`, `44`...).
    pub calling_codes: Vec<String>,
    /// The numbers the tenant verified (only consulted in the sandbox).
    pub verified: HashSet<String>,
}

/// Why a recipient is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationRefusal {
    #[error("texts to +{0} numbers are not enabled for this account; an operator can enable the country")]
    CountryNotAllowed(String),
    #[error("the account is in its sandbox until an operator approves it: it may text only numbers it has verified (POST /v1/verified-numbers)")]
    NotVerified,
}

impl SendingRules {
    pub fn check(&self, to: &PhoneNumber) -> Result<(), DestinationRefusal> {
        let code = to.calling_code();
        if !self.calling_codes.iter().any(|allowed| allowed == code) {
            return Err(DestinationRefusal::CountryNotAllowed(code.to_owned()));
        }
        if !self.approved && !self.verified.contains(to.as_str()) {
            return Err(DestinationRefusal::NotVerified);
        }
        Ok(())
    }

    /// The tenant's daily cap as it applies now: the sandbox's at most.
    pub fn daily_cap(approved: bool, configured: i32) -> i32 {
        if approved {
            configured
        } else {
            configured.min(SANDBOX_DAILY_MESSAGES)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phone(raw: &str) -> PhoneNumber {
        PhoneNumber::parse(raw).unwrap()
    }

    #[test]
    fn a_sandbox_tenant_texts_only_verified_numbers_in_its_countries() {
        let rules = SendingRules {
            approved: false,
            calling_codes: vec!["1".into()],
            verified: ["+14155550100".to_owned()].into(),
        };
        assert_eq!(rules.check(&phone("+14155550100")), Ok(()));
        assert_eq!(
            rules.check(&phone("+14155550199")),
            Err(DestinationRefusal::NotVerified)
        );
        assert_eq!(
            rules.check(&phone("+447700900123")),
            Err(DestinationRefusal::CountryNotAllowed("44".into()))
        );
        let approved = SendingRules {
            approved: true,
            ..rules
        };
        assert_eq!(approved.check(&phone("+14155550199")), Ok(()));
        assert!(approved.check(&phone("+2348031234567")).is_err());
        assert_eq!(
            SendingRules::daily_cap(false, 10_000),
            SANDBOX_DAILY_MESSAGES
        );
        assert_eq!(SendingRules::daily_cap(false, 10), 10);
        assert_eq!(SendingRules::daily_cap(true, 10_000), 10_000);
    }
}
