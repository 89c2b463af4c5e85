//! A campaign's audience: which of a shop's customers it goes to.
//!
//! Attributes match by JSON containment (Postgres's `@>`): `{"tier": "gold"}` matches
//! customers whose `tier` is `"gold"`, `{"tags": ["vip"]}` those whose `tags` array holds
//! `"vip"`, and nested objects match part of an object. An empty segment is every
//! customer of the shop. Consent is applied per recipient whatever the segment says; the
//! `consent` filter only narrows the audience (and so the skipped counts).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Consent;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// Customers whose attributes contain this object.
    #[serde(default)]
    pub attributes: Map<String, Value>,
    /// Customers in one of these consent states; empty: any.
    #[serde(default)]
    pub consent: Vec<Consent>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    #[error("`consent` lists '{0}' twice")]
    RepeatedConsent(&'static str),
    #[error("`attributes` may nest at most {MAX_DEPTH} levels")]
    TooDeep,
}

/// Deep enough for real attribute documents, shallow enough to keep queries cheap.
const MAX_DEPTH: usize = 4;

impl Segment {
    /// Checks what serde cannot: no repeated consent state, bounded nesting.
    pub fn validate(&self) -> Result<(), SegmentError> {
        for (i, state) in self.consent.iter().enumerate() {
            if self.consent[..i].contains(state) {
                return Err(SegmentError::RepeatedConsent(state.as_str()));
            }
        }
        if self.attributes.values().any(|v| depth(v) > MAX_DEPTH) {
            return Err(SegmentError::TooDeep);
        }
        Ok(())
    }

    /// The containment rule of Postgres's `jsonb @>`, for code that filters in memory.
    pub fn matches(&self, consent: Consent, attributes: &Value) -> bool {
        let consent_ok = self.consent.is_empty() || self.consent.contains(&consent);
        let attributes_ok = match attributes {
            Value::Object(have) => self
                .attributes
                .iter()
                .all(|(key, want)| have.get(key).is_some_and(|v| contains(v, want))),
            _ => self.attributes.is_empty(),
        };
        consent_ok && attributes_ok
    }
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(fields) => 1 + fields.values().map(depth).max().unwrap_or(0),
        _ => 1,
    }
}

/// `have @> want`: scalars equal, every wanted array element contained in some element
/// of the array, every wanted field contained in the object's field. (Postgres also
/// lets an array contain a bare scalar at the top level; segments never need that.)
fn contains(have: &Value, want: &Value) -> bool {
    match (have, want) {
        (Value::Object(have), Value::Object(want)) => want
            .iter()
            .all(|(key, w)| have.get(key).is_some_and(|h| contains(h, w))),
        (Value::Array(have), Value::Array(want)) => {
            want.iter().all(|w| have.iter().any(|h| contains(h, w)))
        }
        (have, want) => have == want,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn segment(value: Value) -> Segment {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn an_empty_segment_is_everyone() {
        let all = Segment::default();
        assert!(all.matches(Consent::Unknown, &json!({})));
        assert!(all.matches(Consent::OptedOut, &json!({"tier": "gold"})));
    }

    #[test]
    fn attributes_match_by_containment() {
        let gold_vips = segment(json!({"attributes": {"tier": "gold", "tags": ["vip"]}}));
        assert!(gold_vips.matches(
            Consent::OptedIn,
            &json!({"tier": "gold", "tags": ["new", "vip"], "city": "Lyon"})
        ));
        assert!(!gold_vips.matches(Consent::OptedIn, &json!({"tier": "gold", "tags": ["new"]})));
        assert!(!gold_vips.matches(
            Consent::OptedIn,
            &json!({"tier": "silver", "tags": ["vip"]})
        ));
        assert!(!gold_vips.matches(Consent::OptedIn, &json!({"tags": ["vip"]})));
        let nested = segment(json!({"attributes": {"address": {"country": "FR"}}}));
        assert!(nested.matches(
            Consent::OptedIn,
            &json!({"address": {"country": "FR", "city": "Paris"}})
        ));
        assert!(!nested.matches(Consent::OptedIn, &json!({"address": {"country": "DE"}})));
    }

    #[test]
    fn consent_narrows_the_audience() {
        let opted_in = segment(json!({"consent": ["opted_in"]}));
        assert!(opted_in.matches(Consent::OptedIn, &json!({})));
        assert!(!opted_in.matches(Consent::Unknown, &json!({})));
    }

    #[test]
    fn bad_segments_are_refused() {
        assert!(serde_json::from_value::<Segment>(json!({"consent": ["maybe"]})).is_err());
        assert!(serde_json::from_value::<Segment>(json!({"tier": "gold"})).is_err());
        assert_eq!(
            segment(json!({"consent": ["opted_in", "opted_in"]})).validate(),
            Err(SegmentError::RepeatedConsent("opted_in"))
        );
        assert_eq!(
            segment(json!({"attributes": {"a": {"b": {"c": {"d": {"e": 1}}}}}})).validate(),
            Err(SegmentError::TooDeep)
        );
        assert_eq!(
            segment(json!({"attributes": {"a": [1, 2]}})).validate(),
            Ok(())
        );
    }
}
