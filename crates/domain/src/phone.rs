//! Phone numbers in E.164, the only form providers accept: `+`, a country code that does
//! not start with 0, and at most 15 digits in all.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A phone number in E.164 form, e.g. `+14155550123`. Only `parse` makes one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneNumberError {
    #[error("must start with '+' and a country code (E.164), e.g. +14155550123")]
    MissingPlus,
    #[error(
        "may contain only digits after the '+' (spaces, dashes, dots and parentheses are ignored)"
    )]
    NotDigits,
    #[error("country code cannot start with 0")]
    LeadingZero,
    #[error("must have between 7 and 15 digits, has {0}")]
    Length(usize),
}

impl PhoneNumber {
    /// Parses a number written in E.164, tolerating the visual separators people type
    /// (`+1 (415) 555-0123`). Anything else is refused rather than guessed at: a number
    /// without its country code is ambiguous.
    pub fn parse(input: &str) -> Result<Self, PhoneNumberError> {
        let trimmed = input.trim();
        let rest = trimmed
            .strip_prefix('+')
            .ok_or(PhoneNumberError::MissingPlus)?;
        let mut digits = String::with_capacity(rest.len());
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(PhoneNumberError::NotDigits),
            }
        }
        if digits.starts_with('0') {
            return Err(PhoneNumberError::LeadingZero);
        }
        if !(7..=15).contains(&digits.len()) {
            return Err(PhoneNumberError::Length(digits.len()));
        }
        Ok(Self(format!("+{digits}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The country calling code (ITU-T E.164), without `+`: `1` for the North American
    /// plan (the US, Canada, much of the Caribbean), `44`, `33`, `971`... The codes are
    /// prefix-free, and their length follows from their first digits: 1 and 7 are one
    /// digit, [`TWO_DIGIT_CODES`] two, every other code three.
    pub fn calling_code(&self) -> &str {
        let digits = &self.0[1..];
        let length = if digits.starts_with('1') || digits.starts_with('7') {
            1
        } else if TWO_DIGIT_CODES.contains(&&digits[..2]) {
            2
        } else {
            3
        };
        &digits[..length]
    }
}

/// The two-digit country calling codes (ITU-T E.164 assignments).
const TWO_DIGIT_CODES: [&str; 44] = [
    "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47",
    "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65",
    "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
];

/// Is `raw` a country calling code as [`PhoneNumber::calling_code`] gives them?
pub fn is_calling_code(raw: &str) -> bool {
    let Ok(number) = PhoneNumber::parse(&format!("+{raw}0000000")) else {
        return false;
    };
    number.calling_code() == raw
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for PhoneNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PhoneNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        PhoneNumber::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_numbers_calling_code_is_its_countrys() {
        let code = |raw: &str| PhoneNumber::parse(raw).unwrap().calling_code().to_owned();
        assert_eq!(code("+14155550123"), "1");
        assert_eq!(code("+79161234567"), "7");
        assert_eq!(code("+447700900123"), "44");
        assert_eq!(code("+33612345678"), "33");
        assert_eq!(code("+919876543210"), "91");
        assert_eq!(code("+971501234567"), "971");
        assert_eq!(code("+353851234567"), "353");
        assert_eq!(code("+2348031234567"), "234");
        assert!(is_calling_code("44") && is_calling_code("1") && is_calling_code("971"));
        assert!(!is_calling_code("4") && !is_calling_code("447") && !is_calling_code("x"));
        assert!(!is_calling_code("0") && !is_calling_code(""));
    }

    #[test]
    fn accepts_e164_and_strips_separators() {
        assert_eq!(
            PhoneNumber::parse(" +1 (415) 555-0123 ").map(|p| p.to_string()),
            Ok("+14155550123".to_owned())
        );
        assert!(PhoneNumber::parse("+447700900123").is_ok());
    }

    #[test]
    fn refuses_what_is_not_e164() {
        assert_eq!(
            PhoneNumber::parse("4155550123"),
            Err(PhoneNumberError::MissingPlus)
        );
        assert_eq!(
            PhoneNumber::parse("+1415abc0123"),
            Err(PhoneNumberError::NotDigits)
        );
        assert_eq!(
            PhoneNumber::parse("+0415550123"),
            Err(PhoneNumberError::LeadingZero)
        );
        assert_eq!(
            PhoneNumber::parse("+12345"),
            Err(PhoneNumberError::Length(5))
        );
        assert_eq!(
            PhoneNumber::parse("+1234567890123456"),
            Err(PhoneNumberError::Length(16))
        );
        assert_eq!(PhoneNumber::parse(""), Err(PhoneNumberError::MissingPlus));
    }

    #[test]
    fn deserializing_validates() {
        let ok: Result<PhoneNumber, _> = serde_json::from_str("\"+14155550123\"");
        assert!(ok.is_ok());
        let bad: Result<PhoneNumber, _> = serde_json::from_str("\"555-0123\"");
        assert!(bad.is_err());
    }
}
