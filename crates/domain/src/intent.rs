//! The help-desk bot's matching: does a customer's text mean what one of a shop's rules
//! is about? Two ways, as Lex bots do with utterances:
//!
//! - **keywords**: the whole message is the word ("HOURS", "order?"), case and trailing
//!   punctuation aside;
//! - **intent examples**: phrases such as "where is my order". A text matches when it
//!   carries the example's *concepts*, whatever its wording: words are lower-cased,
//!   contractions and plurals undone, filler words dropped, small typos forgiven, and
//!   e-commerce synonyms folded into one concept ("package", "parcel", "shipment" are
//!   all `order`; "where", "track", "status" are all `locate`). So "wheres my package"
//!   and "can u track my parcel pls" both match "where is my order".
//!
//! Deterministic and explainable on purpose: a merchant can see why a rule fired, and a
//! test can pin it. A statistical model can replace [`concepts`] later without touching
//! the callers.

use std::collections::BTreeSet;

/// A keyword match outranks any intent match.
pub const KEYWORD_SCORE: f32 = 2.0;
/// The share of an example's concepts a text must carry to match it.
pub const INTENT_THRESHOLD: f32 = 0.75;

/// Words that carry no meaning for matching.
const FILLER: &[&str] = &[
    "a", "an", "the", "is", "are", "am", "was", "were", "be", "been", "my", "me", "i", "im", "to",
    "of", "for", "please", "pls", "plz", "can", "could", "would", "will", "you", "u", "your", "ur",
    "do", "does", "did", "it", "its", "this", "that", "on", "in", "at", "with", "about", "some",
    "any", "just", "want", "like", "know", "tell", "hi", "hello", "hey", "so", "yet", "still",
    "and", "or", "there", "here", "what", "whats", "now", "get", "got", "need", "we", "our", "us",
    "has", "have", "had", "again", "one",
];

/// Words folded into one concept (the first word of each group names it).
const SYNONYMS: &[&[&str]] = &[
    &[
        "order", "package", "parcel", "shipment", "delivery", "purchase", "item", "stuff", "box",
    ],
    &[
        "locate",
        "where",
        "wheres",
        "track",
        "tracking",
        "status",
        "whereabouts",
        "location",
    ],
    &[
        "arrive", "arrival", "come", "coming", "eta", "when", "late", "delayed", "delay",
    ],
    &["return", "refund", "exchange", "reimburse", "money"],
    &["cancel", "cancellation", "cancelled", "canceled"],
    &[
        "human",
        "agent",
        "person",
        "representative",
        "rep",
        "someone",
        "operator",
        "staff",
        "real",
    ],
    &["hours", "open", "opening", "close", "closing", "closed"],
    &[
        "ship",
        "shipping",
        "deliver",
        "delivered",
        "delivering",
        "send",
        "sent",
    ],
    &["price", "cost", "costs", "much", "expensive"],
    &["discount", "coupon", "code", "promo", "voucher", "sale"],
    &["size", "sizes", "sizing", "fit", "fits"],
];

/// The concepts a text carries, in a stable order.
pub fn concepts(text: &str) -> BTreeSet<String> {
    let lowered = text.to_lowercase().replace(['\'', '\u{2019}'], "");
    lowered
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .filter(|word| !FILLER.contains(word))
        .map(concept_of)
        .collect()
}

/// Whether the text asks for a person ("can I talk to a human", "agent").
pub fn wants_human(text: &str) -> bool {
    concepts(text).contains("human")
}

/// How well `body` matches a rule: [`KEYWORD_SCORE`] for a keyword, the share of the
/// best example's concepts otherwise, `None` under [`INTENT_THRESHOLD`].
pub fn score(body: &str, keywords: &[String], examples: &[String]) -> Option<f32> {
    let whole = normalise_keyword(body);
    if keywords.iter().any(|k| normalise_keyword(k) == whole) {
        return Some(KEYWORD_SCORE);
    }
    let said = concepts(body);
    examples
        .iter()
        .filter_map(|example| {
            let wanted = concepts(example);
            if wanted.is_empty() {
                return None;
            }
            let found = wanted.iter().filter(|c| said.contains(*c)).count();
            #[allow(clippy::cast_precision_loss, reason = "a handful of words")]
            let share = found as f32 / wanted.len() as f32;
            (share >= INTENT_THRESHOLD).then_some(share)
        })
        .max_by(f32::total_cmp)
}

/// A keyword as compared: trimmed, upper-cased, trailing punctuation dropped.
pub fn normalise_keyword(text: &str) -> String {
    text.trim()
        .trim_end_matches(['.', '!', '?', ','])
        .trim()
        .to_uppercase()
}

fn singular(word: &str) -> String {
    let long = word.chars().count() > 3;
    if long && word.ends_with("ies") {
        format!("{}y", &word[..word.len() - 3])
    } else if long
        && word.ends_with("es")
        && ["s", "x", "ch", "sh"]
            .iter()
            .any(|end| word[..word.len() - 2].ends_with(end))
    {
        word[..word.len() - 2].to_owned()
    } else if long && word.ends_with('s') && !word.ends_with("ss") {
        word[..word.len() - 1].to_owned()
    } else {
        word.to_owned()
    }
}

/// The concept a word belongs to: as written or in the singular, or with one typo for
/// words of five letters or more; a word in no group is its own concept (singular).
fn concept_of(word: &str) -> String {
    let single = singular(word);
    let exact = |candidate: &str| {
        SYNONYMS
            .iter()
            .find(|group| group.contains(&candidate))
            .map(|group| group[0].to_owned())
    };
    if let Some(concept) = exact(word).or_else(|| exact(&single)) {
        return concept;
    }
    if word.chars().count() >= 5 {
        for group in SYNONYMS {
            if group
                .iter()
                .any(|known| known.len() >= 5 && within_one_edit(word, known))
            {
                return group[0].to_owned();
            }
        }
    }
    single
}

/// Levenshtein distance at most one (one insertion, deletion or substitution).
fn within_one_edit(a: &str, b: &str) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    if a.len() == b.len() {
        return a.iter().zip(&b).filter(|(x, y)| x != y).count() <= 1;
    }
    let (short, long) = if a.len() < b.len() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    let prefix = short
        .iter()
        .zip(long.iter())
        .take_while(|(x, y)| x == y)
        .count();
    short[prefix..] == long[prefix + 1..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn examples(list: &[&str]) -> Vec<String> {
        list.iter().map(|e| (*e).to_owned()).collect()
    }

    #[test]
    fn wording_does_not_matter_meaning_does() {
        let order_status = examples(&["where is my order"]);
        for text in [
            "where is my order",
            "Where's my order?",
            "wheres my package",
            "can u track my parcel pls",
            "hi, what's the status of my shipment",
            "where is my pakage",
            "WHERE ARE MY ORDERS",
        ] {
            assert!(score(text, &[], &order_status).is_some(), "{text}");
        }
        for text in [
            "do you have this in blue",
            "I want a refund",
            "where is your shop",
            "hello",
        ] {
            assert_eq!(score(text, &[], &order_status), None, "{text}");
        }
    }

    #[test]
    fn keywords_are_the_whole_message_and_outrank_intents() {
        let keywords = examples(&["hours"]);
        assert_eq!(score("HOURS", &keywords, &[]), Some(KEYWORD_SCORE));
        assert_eq!(score(" hours? ", &keywords, &[]), Some(KEYWORD_SCORE));
        assert_eq!(score("what are your hours", &keywords, &[]), None);
        // An intent over the same words still catches the sentence.
        assert!(score(
            "what are your hours",
            &keywords,
            &examples(&["opening hours"])
        )
        .is_some());
    }

    #[test]
    fn asking_for_a_person() {
        for text in [
            "can I talk to a human",
            "AGENT",
            "I need a real person",
            "representative please",
        ] {
            assert!(wants_human(text), "{text}");
        }
        for text in ["where is my order", "stop", "thanks"] {
            assert!(!wants_human(text), "{text}");
        }
    }

    #[test]
    fn one_edit_at_most() {
        assert!(within_one_edit("package", "pakage"));
        assert!(within_one_edit("package", "packagg"));
        assert!(within_one_edit("package", "packages"));
        assert!(within_one_edit("parcel", "parcel"));
        assert!(!within_one_edit("package", "pckage2"));
        assert!(!within_one_edit("refund", "return"));
    }

    #[test]
    fn plurals_fold() {
        assert_eq!(singular("orders"), "order");
        assert_eq!(singular("boxes"), "box");
        assert_eq!(singular("deliveries"), "delivery");
        assert_eq!(singular("address"), "address");
        assert_eq!(singular("its"), "its");
    }
}
