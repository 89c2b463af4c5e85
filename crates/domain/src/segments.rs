//! How many SMS parts a text costs. Carriers bill per part, so this is money.
//!
//! A text that fits the GSM 03.38 alphabet is sent as GSM-7: 160 septets in a single
//! message, 153 per part once it is split (the user data header takes 7). Characters of
//! the extension table (`^ { } \ [ ~ ] | €` and form feed) take two septets, and an
//! escape pair is never split across parts. Anything else forces UCS-2 for the whole
//! text: 70 UTF-16 code units in a single message, 67 per part, and a character outside
//! the Basic Multilingual Plane (most emoji) is a surrogate pair of two units that is
//! never split either.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsEncoding {
    Gsm7,
    Ucs2,
}

impl SmsEncoding {
    pub fn as_str(self) -> &'static str {
        match self {
            SmsEncoding::Gsm7 => "gsm7",
            SmsEncoding::Ucs2 => "ucs2",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "gsm7" => Some(SmsEncoding::Gsm7),
            "ucs2" => Some(SmsEncoding::Ucs2),
            _ => None,
        }
    }

    /// Code units a single, unsplit message can hold.
    const fn single_capacity(self) -> usize {
        match self {
            SmsEncoding::Gsm7 => 160,
            SmsEncoding::Ucs2 => 70,
        }
    }

    /// Code units each part of a split message can hold.
    const fn part_capacity(self) -> usize {
        match self {
            SmsEncoding::Gsm7 => 153,
            SmsEncoding::Ucs2 => 67,
        }
    }
}

/// The result of counting: the encoding a provider will choose, the code units
/// (septets or UTF-16 units) the text needs, and the number of parts it is billed as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentCount {
    pub encoding: SmsEncoding,
    pub units: usize,
    pub segments: usize,
}

/// The GSM 03.38 basic character set (one septet each).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// The GSM 03.38 extension table (an escape septet plus one: two septets each).
const GSM7_EXTENSION: &str = "\u{000C}^{}\\[~]|€";

/// Septets a character takes in GSM-7, or `None` if GSM-7 cannot carry it.
pub fn gsm7_units(c: char) -> Option<usize> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Counts the parts `text` is sent as. An empty text still costs one message.
pub fn count(text: &str) -> SegmentCount {
    let gsm_costs: Option<Vec<usize>> = text.chars().map(gsm7_units).collect();
    let (encoding, costs) = match gsm_costs {
        Some(costs) => (SmsEncoding::Gsm7, costs),
        None => (
            SmsEncoding::Ucs2,
            text.chars().map(char::len_utf16).collect(),
        ),
    };
    let units = costs.iter().sum();
    let segments = if units <= encoding.single_capacity() {
        1
    } else {
        split_parts(&costs, encoding.part_capacity())
    };
    SegmentCount {
        encoding,
        units,
        segments,
    }
}

/// Fills parts greedily; a character that does not fit whole starts the next part, as
/// handsets and providers do (escape pairs and surrogate pairs stay together).
fn split_parts(costs: &[usize], capacity: usize) -> usize {
    let mut parts = 1;
    let mut used = 0;
    for &cost in costs {
        if used + cost > capacity {
            parts += 1;
            used = 0;
        }
        used += cost;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn gsm_basic_char() -> impl Strategy<Value = char> {
        let chars: Vec<char> = GSM7_BASIC.chars().collect();
        proptest::sample::select(chars)
    }

    fn bmp_non_gsm_char() -> impl Strategy<Value = char> {
        // Cyrillic, CJK and curly quotes: in the BMP, outside GSM-7.
        prop_oneof![
            proptest::char::range('\u{0410}', '\u{044F}'),
            proptest::char::range('\u{4E00}', '\u{4FFF}'),
            Just('\u{201C}'),
        ]
    }

    fn expected_parts(units: usize, single: usize, part: usize) -> usize {
        if units <= single {
            1
        } else {
            units.div_ceil(part)
        }
    }

    #[test]
    fn boundaries_of_gsm7() {
        assert_eq!(count(&"a".repeat(160)).segments, 1);
        assert_eq!(count(&"a".repeat(161)).segments, 2);
        assert_eq!(count(&"a".repeat(306)).segments, 2);
        assert_eq!(count(&"a".repeat(307)).segments, 3);
        assert_eq!(count("").segments, 1);
    }

    #[test]
    fn extension_characters_take_two_septets_and_are_not_split() {
        let text = "€".repeat(80);
        assert_eq!(
            count(&text),
            SegmentCount {
                encoding: SmsEncoding::Gsm7,
                units: 160,
                segments: 1
            }
        );
        // 152 plain + one escape pair: 154 septets; the pair cannot straddle 153, so
        // part one holds 152 and part two the pair.
        let straddling = format!("{}€{}", "a".repeat(152), "a".repeat(10));
        assert_eq!(count(&straddling).units, 164);
        assert_eq!(count(&straddling).segments, 2);
        let straddling_at_end = format!("{}{}", "a".repeat(152), "€".repeat(77));
        // 152 + 154 = 306 septets, which fits in 2 parts by the naive count, but the
        // first € cannot start at septet 153, so it takes 3.
        assert_eq!(count(&straddling_at_end).units, 306);
        assert_eq!(count(&straddling_at_end).segments, 3);
    }

    #[test]
    fn one_non_gsm_character_makes_the_whole_text_ucs2() {
        let text = format!("{}\u{201C}", "a".repeat(69));
        assert_eq!(
            count(&text),
            SegmentCount {
                encoding: SmsEncoding::Ucs2,
                units: 70,
                segments: 1
            }
        );
        assert_eq!(count(&format!("{text}a")).segments, 2);
    }

    #[test]
    fn emoji_are_surrogate_pairs_and_are_not_split() {
        assert_eq!(count(&"😀".repeat(35)).units, 70);
        assert_eq!(count(&"😀".repeat(35)).segments, 1);
        // 36 emoji = 72 units: 67 per part, pairs kept whole -> 33 + 3 emoji.
        assert_eq!(count(&"😀".repeat(36)).segments, 2);
        // 66 units of 'ж' then an emoji: the pair cannot fill unit 67 alone.
        let text = format!("{}😀{}", "ж".repeat(66), "ж".repeat(67));
        assert_eq!(count(&text).units, 135);
        assert_eq!(count(&text).segments, 3);
    }

    proptest! {
        #[test]
        fn gsm7_basic_texts_follow_160_153(chars in proptest::collection::vec(gsm_basic_char(), 0..800)) {
            let text: String = chars.iter().collect();
            let counted = count(&text);
            prop_assert_eq!(counted.encoding, SmsEncoding::Gsm7);
            prop_assert_eq!(counted.units, chars.len());
            prop_assert_eq!(counted.segments, expected_parts(chars.len(), 160, 153));
        }

        #[test]
        fn bmp_texts_with_a_non_gsm_char_follow_70_67(
            gsm in proptest::collection::vec(gsm_basic_char(), 0..300),
            other in proptest::collection::vec(bmp_non_gsm_char(), 1..300),
        ) {
            let text: String = gsm.iter().chain(other.iter()).collect();
            let counted = count(&text);
            prop_assert_eq!(counted.encoding, SmsEncoding::Ucs2);
            let units = gsm.len() + other.len();
            prop_assert_eq!(counted.units, units);
            prop_assert_eq!(counted.segments, expected_parts(units, 70, 67));
        }

        #[test]
        fn units_match_utf16_length_for_ucs2(text in "\\PC{1,200}") {
            let counted = count(&text);
            if counted.encoding == SmsEncoding::Ucs2 {
                prop_assert_eq!(counted.units, text.encode_utf16().count());
            }
        }

        #[test]
        fn appending_never_reduces_the_count(text in "\\PC{0,300}", tail in "\\PC{1,5}") {
            let before = count(&text);
            let after = count(&format!("{text}{tail}"));
            prop_assert!(after.units >= before.units || after.encoding != before.encoding);
            prop_assert!(after.segments >= before.segments);
            prop_assert!(after.segments >= 1);
            // Each part holds at least capacity minus one pair, so parts are bounded.
            prop_assert!(after.segments <= after.units.max(1));
        }
    }
}
