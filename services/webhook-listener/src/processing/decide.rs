//! What to do with a customer's SMS, decided without side effects, in the order the
//! rules demand:
//!
//! 1. compliance keywords (STOP, START, HELP and the shop's own), always first: a STOP
//!    wins over everything, even a conversation a person is handling;
//! 2. a conversation already with a person stays with them (the bot keeps quiet);
//! 3. a customer who opted out gets no bot answers: a person decides;
//! 4. a customer asking for a person gets one;
//! 5. the shop's bot rules (a keyword beats an intent; then the better intent match;
//!    then the rule's priority);
//! 6. otherwise, a person.

use nudge_db::models::BotRule;
use nudge_domain::{intent, ComplianceKeyword, ComplianceKeywords, Consent};

#[derive(Debug, Clone, PartialEq)]
pub enum Decision<'a> {
    Compliance(ComplianceKeyword),
    /// The conversation is with a person already: store, tell care, no answer.
    ForAgent,
    HandOff(HandOffReason),
    /// A bot rule matched: answer with its reply or its fulfilment.
    Rule(&'a BotRule),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandOffReason {
    AskedForPerson,
    OptedOut,
    NoRuleMatched,
    FulfilmentFailed,
    FulfilmentAsked,
}

impl HandOffReason {
    pub fn as_str(self) -> &'static str {
        match self {
            HandOffReason::AskedForPerson => "asked_for_person",
            HandOffReason::OptedOut => "customer_opted_out",
            HandOffReason::NoRuleMatched => "no_rule_matched",
            HandOffReason::FulfilmentFailed => "fulfilment_failed",
            HandOffReason::FulfilmentAsked => "fulfilment_asked",
        }
    }
}

pub struct Situation<'a> {
    pub body: &'a str,
    pub keywords: &'a ComplianceKeywords,
    pub needs_human: bool,
    pub consent: Consent,
    pub rules: &'a [BotRule],
}

pub fn decide<'a>(situation: &Situation<'a>) -> Decision<'a> {
    if let Some(keyword) = situation.keywords.classify(situation.body) {
        return Decision::Compliance(keyword);
    }
    if situation.needs_human {
        return Decision::ForAgent;
    }
    if situation.consent == Consent::OptedOut {
        return Decision::HandOff(HandOffReason::OptedOut);
    }
    if intent::wants_human(situation.body) {
        return Decision::HandOff(HandOffReason::AskedForPerson);
    }
    best_rule(situation.body, situation.rules).map_or(
        Decision::HandOff(HandOffReason::NoRuleMatched),
        Decision::Rule,
    )
}

/// The best-matching rule; `rules` come in priority order, so on equal scores the
/// earlier (higher-priority) rule wins.
fn best_rule<'a>(body: &str, rules: &'a [BotRule]) -> Option<&'a BotRule> {
    let mut best: Option<(&BotRule, f32)> = None;
    for rule in rules {
        let Some(score) = intent::score(body, &strings(&rule.keywords), &strings(&rule.examples))
        else {
            continue;
        };
        if best.is_none_or(|(_, top)| score > top) {
            best = Some((rule, score));
        }
    }
    best.map(|(rule, _)| rule)
}

/// A JSON array of strings as stored; anything else reads as empty.
pub fn strings(value: &serde_json::Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;
    use uuid::Uuid;

    fn rule(name: &str, keywords: &[&str], examples: &[&str], priority: i32) -> BotRule {
        BotRule {
            id: Uuid::now_v7(),
            tenant_id: Uuid::now_v7(),
            shop_id: Uuid::now_v7(),
            name: name.into(),
            keywords: json!(keywords),
            examples: json!(examples),
            reply: Some(format!("{name} answer")),
            fulfilment_url: None,
            fulfilment_secret: None,
            priority,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn situation<'a>(
        body: &'a str,
        rules: &'a [BotRule],
        keywords: &'a ComplianceKeywords,
    ) -> Situation<'a> {
        Situation {
            body,
            keywords,
            needs_human: false,
            consent: Consent::Unknown,
            rules,
        }
    }

    #[test]
    fn the_order_of_the_rules() {
        let rules = vec![
            rule("hours", &["hours"], &["opening hours"], 10),
            rule("order_status", &[], &["where is my order"], 20),
        ];
        let keywords = ComplianceKeywords::default();
        let decide_for = |body: &'static str| decide(&situation(body, &rules, &keywords));

        assert_eq!(
            decide_for("STOP"),
            Decision::Compliance(ComplianceKeyword::OptOut)
        );
        assert_eq!(
            decide_for("help"),
            Decision::Compliance(ComplianceKeyword::Help)
        );
        assert_eq!(decide_for("wheres my package"), Decision::Rule(&rules[1]));
        assert_eq!(decide_for("HOURS"), Decision::Rule(&rules[0]));
        assert_eq!(decide_for("when do you open"), Decision::Rule(&rules[0]));
        assert_eq!(
            decide_for("can I talk to a human about my order"),
            Decision::HandOff(HandOffReason::AskedForPerson)
        );
        assert_eq!(
            decide_for("do you sell gift cards"),
            Decision::HandOff(HandOffReason::NoRuleMatched)
        );

        let mut with_person = situation("where is my order", &rules, &keywords);
        with_person.needs_human = true;
        assert_eq!(decide(&with_person), Decision::ForAgent);
        with_person.body = "stop";
        assert_eq!(
            decide(&with_person),
            Decision::Compliance(ComplianceKeyword::OptOut)
        );

        let mut opted_out = situation("where is my order", &rules, &keywords);
        opted_out.consent = Consent::OptedOut;
        assert_eq!(
            decide(&opted_out),
            Decision::HandOff(HandOffReason::OptedOut)
        );
        opted_out.body = "start";
        assert_eq!(
            decide(&opted_out),
            Decision::Compliance(ComplianceKeyword::OptIn)
        );
    }

    #[test]
    fn priority_breaks_ties() {
        let rules = vec![
            rule("first", &[], &["refund"], 1),
            rule("second", &[], &["refund"], 2),
        ];
        let keywords = ComplianceKeywords::default();
        assert_eq!(
            decide(&situation("I want a refund", &rules, &keywords)),
            Decision::Rule(&rules[0])
        );
    }
}
