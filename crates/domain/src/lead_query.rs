//! What a merchant asks a lead search for: job titles, companies, locations and free
//! keywords, turned into one web-search query restricted to LinkedIn profiles.
//!
//! The API checks a query with [`LeadQuery::validate`] before accepting a search; the
//! worker builds the provider's `q` with [`LeadQuery::search_terms`]. Both sides use the
//! same rules, so a query the API accepted is one every provider takes.

use serde::{Deserialize, Serialize};

/// The most terms in one list.
pub const MAX_TERMS: usize = 10;
/// The longest term, in characters.
pub const MAX_TERM_CHARS: usize = 80;
/// The longest whole query. Brave's `q` takes at most 400 characters (Google CSE takes
/// more): the lowest limit of the supported providers.
pub const MAX_QUERY_CHARS: usize = 400;

/// What restricts the results to public LinkedIn profiles.
pub const PROFILE_SITE: &str = "site:linkedin.com/in";

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeadQuery {
    /// Any of these titles ("Head of Growth", "VP Marketing").
    #[serde(default)]
    pub job_titles: Vec<String>,
    /// Any of these companies.
    #[serde(default)]
    pub companies: Vec<String>,
    /// Any of these places.
    #[serde(default)]
    pub locations: Vec<String>,
    /// All of these words.
    #[serde(default)]
    pub keywords: Vec<String>,
}

/// One problem with a query: the field (`query.job_titles[2]`) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeadQueryProblem {
    pub field: String,
    pub detail: String,
}

impl LeadQuery {
    /// Trims every term and checks the query; all problems at once.
    pub fn validate(mut self) -> Result<Self, Vec<LeadQueryProblem>> {
        let mut problems = Vec::new();
        for (name, terms) in [
            ("job_titles", &mut self.job_titles),
            ("companies", &mut self.companies),
            ("locations", &mut self.locations),
            ("keywords", &mut self.keywords),
        ] {
            if terms.len() > MAX_TERMS {
                problems.push(problem(
                    format!("query.{name}"),
                    format!("at most {MAX_TERMS} terms"),
                ));
            }
            for (index, term) in terms.iter_mut().enumerate() {
                *term = term.trim().to_owned();
                if let Some(detail) = term_problem(term) {
                    problems.push(problem(format!("query.{name}[{index}]"), detail));
                }
            }
        }
        if self.job_titles.is_empty() && self.companies.is_empty() && self.keywords.is_empty() {
            problems.push(problem(
                "query",
                "needs at least one job title, company or keyword",
            ));
        }
        if problems.is_empty() && self.search_terms().chars().count() > MAX_QUERY_CHARS {
            problems.push(problem(
                "query",
                format!("is too long: the search terms must fit in {MAX_QUERY_CHARS} characters"),
            ));
        }
        if problems.is_empty() {
            Ok(self)
        } else {
            Err(problems)
        }
    }

    /// The web-search query: `site:linkedin.com/in ("a" OR "b") ("c") "d"`. Each list is
    /// a group of alternatives; keywords must all appear.
    pub fn search_terms(&self) -> String {
        let mut parts = vec![PROFILE_SITE.to_owned()];
        for group in [&self.job_titles, &self.companies, &self.locations] {
            match group.as_slice() {
                [] => {}
                [one] => parts.push(quoted(one)),
                many => parts.push(format!(
                    "({})",
                    many.iter()
                        .map(|t| quoted(t))
                        .collect::<Vec<_>>()
                        .join(" OR ")
                )),
            }
        }
        parts.extend(self.keywords.iter().map(|k| quoted(k)));
        parts.join(" ")
    }
}

fn problem(field: impl Into<String>, detail: impl Into<String>) -> LeadQueryProblem {
    LeadQueryProblem {
        field: field.into(),
        detail: detail.into(),
    }
}

fn term_problem(term: &str) -> Option<String> {
    if term.is_empty() {
        return Some("must not be empty".into());
    }
    if term.chars().count() > MAX_TERM_CHARS {
        return Some(format!("must be at most {MAX_TERM_CHARS} characters"));
    }
    // A quote would end the phrase early and let the term rewrite the query.
    if term.contains('"') || term.chars().any(char::is_control) {
        return Some("must not contain double quotes or control characters".into());
    }
    None
}

fn quoted(term: &str) -> String {
    format!("\"{term}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(
        titles: &[&str],
        companies: &[&str],
        locations: &[&str],
        keywords: &[&str],
    ) -> LeadQuery {
        let own = |terms: &[&str]| terms.iter().map(|t| (*t).to_owned()).collect();
        LeadQuery {
            job_titles: own(titles),
            companies: own(companies),
            locations: own(locations),
            keywords: own(keywords),
        }
    }

    #[test]
    fn builds_a_profile_query_with_groups_of_alternatives() {
        let q = query(
            &["Head of Growth", " VP Marketing "],
            &["Acme"],
            &["Berlin", "München"],
            &["ecommerce"],
        )
        .validate()
        .unwrap();
        assert_eq!(
            q.search_terms(),
            r#"site:linkedin.com/in ("Head of Growth" OR "VP Marketing") "Acme" ("Berlin" OR "München") "ecommerce""#
        );
    }

    #[test]
    fn refuses_empty_quoted_and_oversized_queries() {
        let problems = query(&[], &[], &["Berlin"], &[]).validate().unwrap_err();
        assert_eq!(problems[0].field, "query");

        let problems = query(&["CEO\" OR \"x"], &[" "], &[], &[])
            .validate()
            .unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["query.job_titles[0]", "query.companies[0]"]);

        let many: Vec<&str> = vec!["a"; MAX_TERMS + 1];
        let problems = query(&many, &[], &[], &[]).validate().unwrap_err();
        assert_eq!(problems[0].field, "query.job_titles");

        let long = "x".repeat(MAX_TERM_CHARS);
        let terms: Vec<&str> = vec![long.as_str(); 6];
        let problems = query(&terms, &[], &[], &[]).validate().unwrap_err();
        assert!(problems[0].detail.contains("too long"), "{problems:?}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let parsed = serde_json::from_str::<LeadQuery>(r#"{"titles": ["CEO"]}"#);
        assert!(parsed.is_err());
    }
}
