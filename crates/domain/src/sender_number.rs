//! Kinds of sender numbers, which carriers and Twilio throttle differently.

/// What kind of number a message is sent from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SenderKind {
    /// An ordinary (10-digit) number: about one message segment per second.
    LongCode,
    /// A North American toll-free number (+1 800, 833, 844, 855, 866, 877, 888).
    TollFree,
    /// A 5- or 6-digit short code: high throughput.
    ShortCode,
}

/// North American toll-free area codes.
const TOLL_FREE_AREA_CODES: [&str; 7] = ["800", "833", "844", "855", "866", "877", "888"];

impl SenderKind {
    /// The kind of `number` (E.164, or the bare digits of a short code).
    pub fn of(number: &str) -> Self {
        let digits = number.trim_start_matches('+');
        if !number.starts_with('+')
            && (5..=6).contains(&digits.len())
            && digits.chars().all(|c| c.is_ascii_digit())
        {
            return SenderKind::ShortCode;
        }
        match digits.strip_prefix('1') {
            Some(rest) if digits.len() == 11 && TOLL_FREE_AREA_CODES.contains(&&rest[..3]) => {
                SenderKind::TollFree
            }
            _ => SenderKind::LongCode,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SenderKind::LongCode => "long_code",
            SenderKind::TollFree => "toll_free",
            SenderKind::ShortCode => "short_code",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_of_numbers() {
        assert_eq!(SenderKind::of("+15017122661"), SenderKind::LongCode);
        assert_eq!(SenderKind::of("+18885550100"), SenderKind::TollFree);
        assert_eq!(SenderKind::of("+18335550100"), SenderKind::TollFree);
        assert_eq!(SenderKind::of("+447700900123"), SenderKind::LongCode);
        assert_eq!(
            SenderKind::of("+448005550100"),
            SenderKind::LongCode,
            "UK 0800 is not NANP"
        );
        assert_eq!(SenderKind::of("12345"), SenderKind::ShortCode);
        assert_eq!(SenderKind::of("898211"), SenderKind::ShortCode);
    }
}
