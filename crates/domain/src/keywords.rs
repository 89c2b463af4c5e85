//! Compliance keywords: the words a customer texts to opt out, opt back in or ask for
//! help, which carriers require every sender to honour. The defaults are Twilio's
//! Advanced Opt-Out lists and answers; a shop may add words of its own (never take one
//! away, and never give a word two meanings).
//!
//! Like Twilio, a keyword is the whole message: "STOP" and " stop! " opt out, "please
//! stop texting me about shoes" does not (the bot and care see that one).

use std::fmt;

/// What a compliance keyword asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ComplianceKeyword {
    OptOut,
    OptIn,
    Help,
}

impl ComplianceKeyword {
    pub fn as_str(self) -> &'static str {
        match self {
            ComplianceKeyword::OptOut => "opt_out",
            ComplianceKeyword::OptIn => "opt_in",
            ComplianceKeyword::Help => "help",
        }
    }

    /// Twilio's default answer, used unless the shop set its own help text.
    pub fn default_reply(self) -> &'static str {
        match self {
            ComplianceKeyword::OptOut => {
                "You have successfully been unsubscribed. You will not receive any more messages from this number. Reply START to resubscribe."
            }
            ComplianceKeyword::OptIn => {
                "You have successfully been re-subscribed to messages from this number. Reply HELP for help. Reply STOP to unsubscribe. Msg&Data Rates May Apply."
            }
            ComplianceKeyword::Help => "Reply STOP to unsubscribe. Msg&Data Rates May Apply.",
        }
    }
}

impl fmt::Display for ComplianceKeyword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Twilio's Advanced Opt-Out defaults.
pub const DEFAULT_OPT_OUT: &[&str] = &["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"];
pub const DEFAULT_OPT_IN: &[&str] = &["START", "YES", "UNSTOP"];
pub const DEFAULT_HELP: &[&str] = &["HELP", "INFO"];

/// The longest keyword a shop may add.
pub const MAX_KEYWORD_CHARS: usize = 20;

/// A shop's keywords: the defaults plus its own additions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ComplianceKeywords {
    pub opt_out: Vec<String>,
    pub opt_in: Vec<String>,
    pub help: Vec<String>,
}

/// Why a shop's keyword list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeywordError {
    #[error("'{0}' is not a keyword: use one word of 1 to 20 letters or digits")]
    Malformed(String),
    #[error("'{0}' cannot mean two things")]
    Ambiguous(String),
}

impl ComplianceKeywords {
    /// Checks a shop's additions (normalised to upper case): single words, and none
    /// that already means something else, default or added.
    pub fn new(
        opt_out: &[String],
        opt_in: &[String],
        help: &[String],
    ) -> Result<Self, KeywordError> {
        let normalise = |words: &[String]| -> Result<Vec<String>, KeywordError> {
            let mut out = Vec::new();
            for word in words {
                let upper = word.trim().to_uppercase();
                let valid = !upper.is_empty()
                    && upper.chars().count() <= MAX_KEYWORD_CHARS
                    && upper.chars().all(char::is_alphanumeric);
                if !valid {
                    return Err(KeywordError::Malformed(word.clone()));
                }
                if !out.contains(&upper) {
                    out.push(upper);
                }
            }
            Ok(out)
        };
        let keywords = Self {
            opt_out: normalise(opt_out)?,
            opt_in: normalise(opt_in)?,
            help: normalise(help)?,
        };
        let lists = [
            (
                ComplianceKeyword::OptOut,
                DEFAULT_OPT_OUT,
                &keywords.opt_out,
            ),
            (ComplianceKeyword::OptIn, DEFAULT_OPT_IN, &keywords.opt_in),
            (ComplianceKeyword::Help, DEFAULT_HELP, &keywords.help),
        ];
        for (meaning, _, added) in &lists {
            for word in added.iter() {
                let other = lists.iter().any(|(other, defaults, other_added)| {
                    other != meaning
                        && (defaults.contains(&word.as_str()) || other_added.contains(word))
                });
                if other {
                    return Err(KeywordError::Ambiguous(word.clone()));
                }
            }
        }
        Ok(keywords)
    }

    /// Which keyword the whole message is, if any: trimmed, case-insensitive, trailing
    /// punctuation ignored.
    pub fn classify(&self, body: &str) -> Option<ComplianceKeyword> {
        let word = body
            .trim()
            .trim_end_matches(['.', '!', '?', ','])
            .trim()
            .to_uppercase();
        let is = |defaults: &[&str], added: &[String]| {
            defaults.contains(&word.as_str()) || added.contains(&word)
        };
        if is(DEFAULT_OPT_OUT, &self.opt_out) {
            Some(ComplianceKeyword::OptOut)
        } else if is(DEFAULT_OPT_IN, &self.opt_in) {
            Some(ComplianceKeyword::OptIn)
        } else if is(DEFAULT_HELP, &self.help) {
            Some(ComplianceKeyword::Help)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn twilio_defaults_in_any_case_and_trimmed() {
        let keywords = ComplianceKeywords::default();
        for body in [
            "STOP",
            "stop",
            " Stop ",
            "stop!",
            "UNSUBSCRIBE.",
            "quit",
            "End",
            "cancel",
            "stopall",
        ] {
            assert_eq!(
                keywords.classify(body),
                Some(ComplianceKeyword::OptOut),
                "{body}"
            );
        }
        for body in ["START", "yes", "Unstop"] {
            assert_eq!(
                keywords.classify(body),
                Some(ComplianceKeyword::OptIn),
                "{body}"
            );
        }
        for body in ["HELP", "info", "help?"] {
            assert_eq!(
                keywords.classify(body),
                Some(ComplianceKeyword::Help),
                "{body}"
            );
        }
        for body in [
            "please stop",
            "stop it now",
            "",
            "where is my order",
            "S T O P",
        ] {
            assert_eq!(keywords.classify(body), None, "{body}");
        }
    }

    #[test]
    fn shops_add_their_own_words() {
        let keywords = ComplianceKeywords::new(
            &words(&["arret"]),
            &words(&["Subscribe"]),
            &words(&["aide"]),
        )
        .unwrap();
        assert_eq!(keywords.classify("ARRET"), Some(ComplianceKeyword::OptOut));
        assert_eq!(
            keywords.classify("subscribe"),
            Some(ComplianceKeyword::OptIn)
        );
        assert_eq!(keywords.classify("Aide"), Some(ComplianceKeyword::Help));
        // The defaults still hold.
        assert_eq!(keywords.classify("stop"), Some(ComplianceKeyword::OptOut));
    }

    #[test]
    fn a_word_cannot_mean_two_things_or_be_a_sentence() {
        assert_eq!(
            ComplianceKeywords::new(&[], &words(&["stop"]), &[]),
            Err(KeywordError::Ambiguous("STOP".into()))
        );
        assert_eq!(
            ComplianceKeywords::new(&words(&["halt"]), &[], &words(&["halt"])),
            Err(KeywordError::Ambiguous("HALT".into()))
        );
        for bad in ["two words", "", "stop!", "averyveryverylongkeyword"] {
            assert!(matches!(
                ComplianceKeywords::new(&words(&[bad]), &[], &[]),
                Err(KeywordError::Malformed(_))
            ));
        }
    }
}
