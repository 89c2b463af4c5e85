//! SMS consent and message categories, and the one rule that joins them: marketing
//! needs an explicit opt-in; transactional messages (order and shipping updates) need
//! only that the customer has not opted out. An opt-out always wins.

use serde::{Deserialize, Serialize};

/// A customer's SMS consent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Consent {
    OptedIn,
    OptedOut,
    Unknown,
}

/// Where a consent change came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentSource {
    /// The merchant told us through the API (checkout checkbox, account settings...).
    Api,
    /// The customer texted a keyword (STOP, START...).
    Keyword,
    /// Brought in with an existing list.
    Import,
    /// The SMS provider refused to deliver because the recipient unsubscribed there
    /// (Twilio error 21610: they texted STOP to the sender number).
    Provider,
}

/// What a message is for, which decides the consent it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageCategory {
    /// Order confirmations, shipping updates: expected by the customer.
    Transactional,
    /// Cart recovery, promotions: needs an opt-in.
    Marketing,
    /// The answers carriers require to STOP, START and HELP: sent whatever the consent
    /// (the opt-out confirmation goes to someone who just opted out). Only inbound
    /// processing creates them; the API does not accept this category.
    Compliance,
}

/// Why a message may not be sent to a customer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConsentRefusal {
    #[error("the recipient has opted out of SMS")]
    OptedOut,
    #[error("marketing messages need the recipient's opt-in (consent is '{0}')")]
    OptInRequired(&'static str),
}

macro_rules! string_enum {
    ($ty:ty { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some(Self::$variant),)+ _ => None }
            }
        }
    };
}

string_enum!(Consent { OptedIn => "opted_in", OptedOut => "opted_out", Unknown => "unknown" });
string_enum!(ConsentSource { Api => "api", Keyword => "keyword", Import => "import", Provider => "provider" });
string_enum!(MessageCategory { Transactional => "transactional", Marketing => "marketing", Compliance => "compliance" });

impl MessageCategory {
    /// Whether a message of this category may go to a recipient with `consent`.
    pub fn permitted_by(self, consent: Consent) -> Result<(), ConsentRefusal> {
        match (self, consent) {
            (MessageCategory::Compliance, _) => Ok(()),
            (_, Consent::OptedOut) => Err(ConsentRefusal::OptedOut),
            (MessageCategory::Transactional, _)
            | (MessageCategory::Marketing, Consent::OptedIn) => Ok(()),
            (MessageCategory::Marketing, other) => {
                Err(ConsentRefusal::OptInRequired(other.as_str()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_consent_rule() {
        use Consent::*;
        use MessageCategory::*;
        assert_eq!(Marketing.permitted_by(OptedIn), Ok(()));
        assert_eq!(
            Marketing.permitted_by(Unknown),
            Err(ConsentRefusal::OptInRequired("unknown"))
        );
        assert_eq!(
            Marketing.permitted_by(OptedOut),
            Err(ConsentRefusal::OptedOut)
        );
        assert_eq!(Transactional.permitted_by(OptedIn), Ok(()));
        assert_eq!(Transactional.permitted_by(Unknown), Ok(()));
        assert_eq!(
            Transactional.permitted_by(OptedOut),
            Err(ConsentRefusal::OptedOut)
        );
    }

    #[test]
    fn names_round_trip() {
        for consent in [Consent::OptedIn, Consent::OptedOut, Consent::Unknown] {
            assert_eq!(Consent::parse(consent.as_str()), Some(consent));
            assert_eq!(serde_json::to_value(consent).unwrap(), consent.as_str());
        }
        for source in [
            ConsentSource::Api,
            ConsentSource::Keyword,
            ConsentSource::Import,
            ConsentSource::Provider,
        ] {
            assert_eq!(ConsentSource::parse(source.as_str()), Some(source));
        }
        assert_eq!(
            MessageCategory::parse("marketing"),
            Some(MessageCategory::Marketing)
        );
        assert_eq!(MessageCategory::parse("promo"), None);
    }
}
