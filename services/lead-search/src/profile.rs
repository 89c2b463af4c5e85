//! From a search result to a lead: the canonical profile URL, and the name, headline,
//! company and location read from the result's title and snippet.
//!
//! Result titles of LinkedIn profiles follow LinkedIn's page title, as the search
//! engines show it: `Name - Headline - Company | LinkedIn`, or `Name - Company |
//! LinkedIn` when there is no headline, with `-`, `–` or `—` between the parts and a
//! trailing `...` when the engine cut it. Snippets carry labelled facts separated by
//! `·`: `Location: Berlin · Experience: Acme · 500+ connections on LinkedIn`.

use nudge_db::lead_searches::FoundLead;
use url::Url;

/// The longest name, headline, company or location kept (longer ones are cut).
const MAX_FIELD_CHARS: usize = 200;

/// `https://www.linkedin.com/in/<slug>` for any form of a public profile's URL: locale
/// subdomains (`de.linkedin.com`), `http`, tracking parameters, fragments, trailing
/// slashes and extra path segments (`/in/jane/de`) removed; the slug lowercased and
/// percent-encoded one way. `None`: not a profile (a company page, a post, a job).
pub fn canonical_profile_url(raw: &str) -> Option<String> {
    let url = Url::parse(raw.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let host = url.host_str()?.to_ascii_lowercase();
    let host = host.strip_suffix('.').unwrap_or(&host);
    if host != "linkedin.com" && !host.ends_with(".linkedin.com") {
        return None;
    }
    let mut segments = url.path_segments()?;
    if segments.next()? != "in" {
        return None;
    }
    let slug = segments.next()?;
    let slug = percent_encoding::percent_decode_str(slug)
        .decode_utf8()
        .ok()?
        .to_lowercase();
    if slug.is_empty() || slug.chars().count() > 100 {
        return None;
    }
    if slug
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "/?#%".contains(c))
    {
        return None;
    }
    let mut canonical = Url::parse("https://www.linkedin.com/in/").ok()?;
    canonical.path_segments_mut().ok()?.pop().push(&slug);
    Some(canonical.into())
}

/// One result as a provider gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchHit {
    pub title: String,
    pub url: String,
    pub snippet: String,
}

/// The lead in a result, or `None` when the result is not a person's profile.
pub fn parse_hit(hit: &SearchHit) -> Option<FoundLead> {
    let profile_url = canonical_profile_url(&hit.url)?;
    let title = parse_title(&hit.title)?;
    let facts = parse_snippet(&hit.snippet);
    Some(FoundLead {
        profile_url,
        name: title.name,
        headline: title.headline,
        company: title.company.or(facts.company),
        location: facts.location,
    })
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Title {
    name: String,
    headline: Option<String>,
    company: Option<String>,
}

fn parse_title(raw: &str) -> Option<Title> {
    let mut text = raw.trim();
    let mut cut = false;
    for ellipsis in ["...", "…"] {
        if let Some(rest) = text.strip_suffix(ellipsis) {
            text = rest.trim_end();
            cut = true;
        }
    }
    // Drop the site's name: `| LinkedIn`, `| LinkedIn Deutschland`, or a cut `| Link`.
    if let Some((before, site)) = text.rsplit_once(" | ") {
        let site = site.trim();
        if "LinkedIn".starts_with(site) || site.starts_with("LinkedIn") {
            text = before.trim_end();
            cut = false; // the cut was in the site's name; the parts are whole
        }
    }
    let parts: Vec<&str> = split_parts(text);
    // A part the engine cut short is dropped: better no value than a wrong one.
    let whole = if cut { parts.len() - 1 } else { parts.len() };
    let name = clean(parts.first().filter(|_| whole >= 1)?)?;
    if name.to_lowercase().contains("linkedin") {
        return None;
    }
    let (headline, company) = match parts.len() {
        0 | 1 => (None, None),
        2 => (None, clean(parts[1]).filter(|_| whole == 2)),
        n => (
            clean(&parts[1..n - 1].join(" - ")),
            clean(parts[n - 1]).filter(|_| whole == n),
        ),
    };
    Some(Title {
        name,
        headline,
        company,
    })
}

/// The title's parts, split at ` - `, ` – ` and ` — ` (hyphens inside names stay).
fn split_parts(text: &str) -> Vec<&str> {
    let mut parts = vec![text];
    for separator in [" - ", " – ", " — "] {
        parts = parts
            .into_iter()
            .flat_map(|part| part.split(separator))
            .collect();
    }
    parts.into_iter().map(str::trim).collect()
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Facts {
    location: Option<String>,
    company: Option<String>,
}

/// Labels of the snippet's facts, in the languages LinkedIn shows most.
const LOCATION_LABELS: [&str; 6] = [
    "location",
    "standort",
    "ort",
    "lieu",
    "ubicación",
    "localização",
];
const COMPANY_LABELS: [&str; 5] = [
    "experience",
    "berufserfahrung",
    "expérience",
    "experiencia",
    "experiência",
];

fn parse_snippet(snippet: &str) -> Facts {
    let mut facts = Facts::default();
    for fact in snippet.split(['·', '•']) {
        let Some((label, value)) = fact.split_once(':') else {
            continue;
        };
        let label = label.trim().to_lowercase();
        let value = value.trim().trim_end_matches('.');
        if facts.location.is_none() && LOCATION_LABELS.contains(&label.as_str()) {
            facts.location = clean(value);
        } else if facts.company.is_none() && COMPANY_LABELS.contains(&label.as_str()) {
            facts.company = clean(value);
        }
    }
    facts
}

/// A field as stored: trimmed, without empties, cut to a sane length.
fn clean(value: &str) -> Option<String> {
    let value = value.trim().trim_matches(['|', ',']).trim();
    if value.is_empty() {
        return None;
    }
    Some(value.chars().take(MAX_FIELD_CHARS).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_urls_become_canonical() {
        for (raw, expected) in [
            (
                "https://www.linkedin.com/in/janedoe",
                Some("https://www.linkedin.com/in/janedoe"),
            ),
            (
                "https://de.linkedin.com/in/jane-doe-12345/",
                Some("https://www.linkedin.com/in/jane-doe-12345"),
            ),
            (
                "http://uk.linkedin.com/in/JaneDoe?trk=public_profile&originalSubdomain=uk#top",
                Some("https://www.linkedin.com/in/janedoe"),
            ),
            (
                "https://linkedin.com/in/jane-doe/de",
                Some("https://www.linkedin.com/in/jane-doe"),
            ),
            (
                "https://www.linkedin.com/in/%E6%9D%8E%E6%98%8E-a1b2",
                Some("https://www.linkedin.com/in/%E6%9D%8E%E6%98%8E-a1b2"),
            ),
            (
                "https://cn.linkedin.com/in/李明-a1b2",
                Some("https://www.linkedin.com/in/%E6%9D%8E%E6%98%8E-a1b2"),
            ),
            ("https://www.linkedin.com/company/acme", None),
            ("https://www.linkedin.com/posts/jane_activity-1", None),
            ("https://www.linkedin.com/in/", None),
            ("https://linkedin.com.evil.example/in/jane", None),
            ("https://notlinkedin.com/in/jane", None),
            ("ftp://www.linkedin.com/in/jane", None),
            ("not a url", None),
        ] {
            assert_eq!(canonical_profile_url(raw).as_deref(), expected, "{raw}");
        }
    }

    fn title(name: &str, headline: Option<&str>, company: Option<&str>) -> Option<Title> {
        Some(Title {
            name: name.into(),
            headline: headline.map(Into::into),
            company: company.map(Into::into),
        })
    }

    #[test]
    fn titles_give_name_headline_and_company() {
        for (raw, expected) in [
            (
                "Jane Doe - Head of Growth - Acme Corp | LinkedIn",
                title("Jane Doe", Some("Head of Growth"), Some("Acme Corp")),
            ),
            (
                "Jane Doe – Acme Corp | LinkedIn",
                title("Jane Doe", None, Some("Acme Corp")),
            ),
            ("Jane Doe | LinkedIn", title("Jane Doe", None, None)),
            // Names with commas stay whole.
            (
                "Doe, Jane - VP Marketing - Globex | LinkedIn",
                title("Doe, Jane", Some("VP Marketing"), Some("Globex")),
            ),
            (
                "Jane Doe, PhD — Research Scientist — Initech | LinkedIn",
                title("Jane Doe, PhD", Some("Research Scientist"), Some("Initech")),
            ),
            // Hyphenated names and headlines with their own dashes.
            (
                "Anne-Marie Lévy - Co-founder - Growth - Soylent | LinkedIn",
                title(
                    "Anne-Marie Lévy",
                    Some("Co-founder - Growth"),
                    Some("Soylent"),
                ),
            ),
            // Non-Latin scripts.
            (
                "李明 - 软件工程师 - 腾讯 | LinkedIn",
                title("李明", Some("软件工程师"), Some("腾讯")),
            ),
            (
                "Алексей Смирнов - Яндекс | LinkedIn",
                title("Алексей Смирнов", None, Some("Яндекс")),
            ),
            (
                "محمد علي - مدير تسويق - أرامكو | LinkedIn",
                title("محمد علي", Some("مدير تسويق"), Some("أرامكو")),
            ),
            // Cut by the engine: the cut part is dropped, not kept half.
            (
                "Jane Doe - Head of Growth - Acme Corpor...",
                title("Jane Doe", Some("Head of Growth"), None),
            ),
            (
                "Jane Doe - Head of Growth - Acme | Linked…",
                title("Jane Doe", Some("Head of Growth"), Some("Acme")),
            ),
            // A localized site name.
            (
                "Max Mustermann - Vertrieb - Siemens | LinkedIn Deutschland",
                title("Max Mustermann", Some("Vertrieb"), Some("Siemens")),
            ),
            ("LinkedIn", None),
            ("  | LinkedIn", None),
        ] {
            assert_eq!(parse_title(raw), expected, "{raw}");
        }
    }

    #[test]
    fn snippets_give_location_and_company() {
        for (raw, location, company) in [
            (
                "Location: Berlin · 500+ connections on LinkedIn. View Jane Doe's profile",
                Some("Berlin"),
                None,
            ),
            (
                "Head of Growth at Acme · Experience: Acme Corp · Location: San Francisco Bay Area",
                Some("San Francisco Bay Area"),
                Some("Acme Corp"),
            ),
            (
                "Berufserfahrung: Siemens · Ort: München, Bayern, Deutschland · 500+ Kontakte",
                Some("München, Bayern, Deutschland"),
                Some("Siemens"),
            ),
            (
                "View Jane Doe's profile on LinkedIn, the world's largest",
                None,
                None,
            ),
            ("", None, None),
        ] {
            let facts = parse_snippet(raw);
            assert_eq!(facts.location.as_deref(), location, "{raw}");
            assert_eq!(facts.company.as_deref(), company, "{raw}");
        }
    }

    #[test]
    fn a_hit_becomes_a_lead_and_the_snippet_fills_a_missing_company() {
        let hit = SearchHit {
            title: "Jane Doe | LinkedIn".into(),
            url: "https://fr.linkedin.com/in/janedoe/".into(),
            snippet: "Experience: Acme · Location: Paris".into(),
        };
        assert_eq!(
            parse_hit(&hit),
            Some(FoundLead {
                profile_url: "https://www.linkedin.com/in/janedoe".into(),
                name: "Jane Doe".into(),
                headline: None,
                company: Some("Acme".into()),
                location: Some("Paris".into()),
            })
        );
        let company_page = SearchHit {
            url: "https://www.linkedin.com/company/acme".into(),
            ..hit
        };
        assert_eq!(parse_hit(&company_page), None);
    }
}
