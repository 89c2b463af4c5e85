//! Smart encoding, as Twilio's Smart Encoding does it: characters that look like GSM-7
//! ones but are not (curly quotes, long dashes, special spaces...) are replaced by their
//! GSM-7 look-alikes, so that one stray character does not turn a whole message into
//! UCS-2 and more than double its parts (160 -> 70 characters per message). Invisible
//! characters (zero-width spaces, soft hyphens, byte-order marks) are dropped. Anything
//! with no GSM-7 look-alike (emoji, non-Latin scripts) is kept: the text stays UCS-2.
//!
//! Optional per shop (`smart_encoding`), off by default: it changes what the customer
//! reads, if only by a quote's shape.

use std::borrow::Cow;

/// The look-alike of `c`: `Some("")` drops it, `None` keeps it.
fn replacement(c: char) -> Option<&'static str> {
    Some(match c {
        // Quotes and primes.
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '\u{02BC}'
        | '\u{FF07}' => "'",
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' | '\u{00AB}'
        | '\u{00BB}' | '\u{FF02}' => "\"",
        '\u{2039}' => "<",
        '\u{203A}' => ">",
        // Dashes and minus signs.
        '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2015}'
        | '\u{2212}' | '\u{FE63}' | '\u{FF0D}' => "-",
        // Spaces other than the plain one.
        '\u{00A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => " ",
        // Invisible: zero-width characters, word joiner, byte-order mark, soft hyphen.
        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}' => "",
        // Punctuation with plain equivalents.
        '\u{2026}' => "...",
        '\u{2022}' | '\u{2023}' | '\u{2043}' => "-",
        '\u{2024}' => ".",
        '\u{2044}' | '\u{2215}' => "/",
        '\u{FF0C}' => ",",
        '\u{FF1A}' => ":",
        '\u{FF1B}' => ";",
        '\u{FF01}' => "!",
        '\u{FF1F}' => "?",
        '\u{02C6}' => "^",
        '\u{02DC}' => "~",
        _ => return None,
    })
}

/// The text with look-alikes replaced; borrowed when there was nothing to replace.
pub fn smart_encode(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| replacement(c).is_some()) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match replacement(c) {
            Some(with) => out.push_str(with),
            None => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{count_segments, SmsEncoding};

    #[test]
    fn look_alikes_become_gsm7_and_the_message_shrinks() {
        let typed =
            "It\u{2019}s here \u{2014} your \u{201C}XYZ\u{201D} bag\u{2026} 20%\u{00A0}off!";
        let encoded = smart_encode(typed);
        assert_eq!(encoded, "It's here - your \"XYZ\" bag... 20% off!");
        assert_eq!(count_segments(typed).encoding, SmsEncoding::Ucs2);
        assert_eq!(count_segments(&encoded).encoding, SmsEncoding::Gsm7);
        // 100 characters: two UCS-2 parts before, one GSM-7 message after.
        let long = format!("{}\u{2019}", "a".repeat(99));
        assert_eq!(count_segments(&long).segments, 2);
        assert_eq!(count_segments(&smart_encode(&long)).segments, 1);
    }

    #[test]
    fn invisible_characters_are_dropped_and_the_rest_kept() {
        assert_eq!(smart_encode("co\u{00AD}de\u{200B}25\u{FEFF}"), "code25");
        // No look-alike for emoji or other scripts: kept, so the text stays UCS-2.
        assert_eq!(
            smart_encode("Merci \u{1F600} \u{2014} \u{0416}"),
            "Merci \u{1F600} - \u{0416}"
        );
    }

    #[test]
    fn plain_text_is_borrowed_untouched() {
        let plain = "Your order #1001 has shipped: {track} [50% off] ~ ^ | \u{20AC}";
        assert!(matches!(smart_encode(plain), Cow::Borrowed(_)));
    }

    #[test]
    fn every_replacement_is_gsm7() {
        for code in 0..=0x10FFFFu32 {
            let Some(c) = char::from_u32(code) else {
                continue;
            };
            if let Some(with) = replacement(c) {
                assert!(
                    with.is_empty() || count_segments(with).encoding == SmsEncoding::Gsm7,
                    "U+{code:04X} -> {with:?}"
                );
            }
        }
    }
}
