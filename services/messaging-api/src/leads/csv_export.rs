//! `GET /v1/leads.csv`: leads as CSV (RFC 4180), safe to open in a spreadsheet.
//!
//! A lead's name, headline, company and location come from web pages anyone can write,
//! so a cell could hold a formula (`=HYPERLINK(...)`, `+cmd|...`). OWASP's rule for CSV
//! injection: a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is
//! prefixed with `'`, which spreadsheets show as text; the `csv` crate quotes cells
//! with commas, quotes or line breaks and doubles the quotes.

use nudge_db::models::Lead;

pub const HEADER: [&str; 8] = [
    "id",
    "name",
    "headline",
    "company",
    "location",
    "profile_url",
    "first_seen_at",
    "last_seen_at",
];

/// A cell as text a spreadsheet will not run.
pub fn defuse(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// CSV lines: the header (when `header`), then one line per lead.
pub fn write(leads: &[Lead], header: bool) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    if header {
        writer.write_record(HEADER)?;
    }
    for lead in leads {
        let id = lead.id.to_string();
        let first_seen = lead.first_seen_at.to_rfc3339();
        let last_seen = lead.last_seen_at.to_rfc3339();
        let text = |value: &Option<String>| value.clone().unwrap_or_default();
        let (headline, company, location) = (
            text(&lead.headline),
            text(&lead.company),
            text(&lead.location),
        );
        let cells = [
            id.as_str(),
            &lead.name,
            &headline,
            &company,
            &location,
            &lead.profile_url,
            &first_seen,
            &last_seen,
        ];
        writer.write_record(cells.iter().map(|cell| defuse(cell).into_owned()))?;
    }
    writer.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_leading_cells_are_defused_and_others_kept() {
        for (cell, expected) in [
            ("=SUM(A1:A9)", "'=SUM(A1:A9)"),
            ("+1 555", "'+1 555"),
            ("-2+3", "'-2+3"),
            ("@cmd", "'@cmd"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("Anna = Bob", "Anna = Bob"),
            ("", ""),
            ("Zoë", "Zoë"),
        ] {
            assert_eq!(defuse(cell), expected, "{cell:?}");
        }
    }
}
