//! Field checks more than one use case (or the API's resources beside them) apply. Each
//! pushes its problem onto a list, so that a request hears about all of them at once.

use chrono::{DateTime, Duration, Utc};
use nudge_domain::{MessageCategory, Template, TemplateId};

use crate::FieldError;

/// A time field that must lie in a window ahead of `now`: an RFC 3339 time from
/// `earliest` to `latest` after it. `window` says that window in words, `example` shows
/// the form; a problem is pushed onto `errors` and gives `None`.
pub struct TimeAhead<'a> {
    pub field: &'a str,
    pub earliest: Duration,
    pub latest: Duration,
    pub window: &'a str,
    pub example: &'a str,
}

impl TimeAhead<'_> {
    pub fn check(
        &self,
        raw: &str,
        now: DateTime<Utc>,
        errors: &mut Vec<FieldError>,
    ) -> Option<DateTime<Utc>> {
        let Ok(at) = DateTime::parse_from_rfc3339(raw) else {
            errors.push(FieldError::new(
                self.field,
                format!("must be an RFC 3339 time, e.g. {}", self.example),
            ));
            return None;
        };
        let at = at.with_timezone(&Utc);
        if at < now + self.earliest || at > now + self.latest {
            errors.push(FieldError::new(
                self.field,
                format!("must be from {} ahead", self.window),
            ));
            return None;
        }
        Some(at)
    }
}

/// `send_at` of a message or a campaign: from 1 minute to 35 days ahead.
pub const SEND_AT: TimeAhead<'static> = TimeAhead {
    field: "send_at",
    earliest: Duration::seconds(60),
    latest: Duration::days(35),
    window: "1 minute to 35 days",
    example: "2026-11-24T09:30:00Z",
};

/// A category a merchant may choose: transactional or marketing.
pub fn check_category(raw: &str, errors: &mut Vec<FieldError>) -> MessageCategory {
    // Compliance answers are inbound processing's alone: they bypass consent.
    MessageCategory::parse(raw)
        .filter(|category| *category != MessageCategory::Compliance)
        .unwrap_or_else(|| {
            errors.push(FieldError::new(
                "category",
                "must be transactional or marketing",
            ));
            MessageCategory::Marketing
        })
}

/// A template body longer than this could never be one SMS (Twilio's limit is 1,600).
pub const MAX_TEMPLATE_BODY_CHARS: usize = 1_600;

/// A template's name: letters, digits, `_`, `-`, `.`, and never something that reads as
/// an id (where `template` takes either, it would be ambiguous).
pub fn check_template_name(name: &str, errors: &mut Vec<FieldError>) -> String {
    let name = name.trim();
    let valid = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !valid {
        errors.push(FieldError::new(
            "name",
            "must be 1 to 100 letters, digits, '_', '-' or '.'",
        ));
    }
    if name.parse::<TemplateId>().is_ok() {
        errors.push(FieldError::new("name", "must not look like a template id"));
    }
    name.to_owned()
}

/// A template's body: short enough for one message, and a template that parses.
pub fn check_template_body(body: &str, errors: &mut Vec<FieldError>) -> String {
    if body.chars().count() > MAX_TEMPLATE_BODY_CHARS {
        errors.push(FieldError::new(
            "body",
            format!("must be at most {MAX_TEMPLATE_BODY_CHARS} characters"),
        ));
    } else if let Err(e) = Template::parse(body) {
        errors.push(FieldError::new("body", e.to_string()));
    }
    body.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_at_is_refused_outside_its_window_and_kept_inside() {
        let now = Utc::now();
        let mut errors = Vec::new();
        assert!(SEND_AT.check("tomorrow", now, &mut errors).is_none());
        let soon = (now + Duration::seconds(10)).to_rfc3339();
        assert!(SEND_AT.check(&soon, now, &mut errors).is_none());
        assert_eq!(errors.len(), 2, "{errors:?}");
        let later = now + Duration::hours(1);
        assert_eq!(
            SEND_AT.check(&later.to_rfc3339(), now, &mut errors),
            Some(later)
        );
        assert_eq!(errors.len(), 2);
    }

    #[test]
    fn a_compliance_category_is_not_the_merchants_to_choose() {
        let mut errors = Vec::new();
        check_category("compliance", &mut errors);
        assert_eq!(errors.len(), 1);
        assert_eq!(
            check_category("transactional", &mut errors),
            MessageCategory::Transactional
        );
        assert_eq!(errors.len(), 1);
    }
}
