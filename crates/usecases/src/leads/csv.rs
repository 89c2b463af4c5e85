//! Leads as CSV (RFC 4180), safe to open in a spreadsheet, a page of leads at a time:
//! what `GET /v1/leads.csv` and the console's download stream.
//!
//! A lead's name, headline, company and location come from web pages anyone can write,
//! so a cell could hold a formula (`=HYPERLINK(...)`, `+cmd|...`). OWASP's rule for CSV
//! injection: a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is
//! prefixed with `'`, which spreadsheets show as text; the `csv` crate quotes cells
//! with commas, quotes or line breaks and doubles the quotes.

use futures_util::Stream;
use nudge_db::leads::LeadFilter;
use nudge_db::models::Lead;
use nudge_db::{DbPool, PageRequest};
use nudge_domain::TenantId;

use crate::Error;

/// Leads per database read while exporting.
const EXPORT_PAGE: i64 = 500;

/// The tenant's leads that match `filter`, newest first, as CSV chunks: the header, then
/// a chunk per page of leads. The first page is read before this returns, so that an
/// unavailable database is an error the caller can answer (a 503), not a cut download;
/// later pages are read as the stream is.
pub async fn export(
    pool: &DbPool,
    tenant: TenantId,
    filter: LeadFilter,
) -> Result<impl Stream<Item = Result<Vec<u8>, Error>> + 'static, Error> {
    let first = export_page(pool, tenant, &filter, None).await?;
    let header = write(&[], true).map_err(|e| Error::Internal(e.into()))?;
    let pool = pool.clone();
    let rest = futures_util::stream::try_unfold(first.1, move |next| {
        let pool = pool.clone();
        let filter = filter.clone();
        async move {
            let Some(before) = next else {
                return Ok(None);
            };
            let (bytes, next) = export_page(&pool, tenant, &filter, Some(before))
                .await
                .inspect_err(|error| tracing::error!(%error, "lead export cut short"))?;
            Ok::<_, Error>(Some((bytes, next)))
        }
    });
    let head = futures_util::stream::iter([Ok::<_, Error>(header), Ok(first.0)]);
    Ok(futures_util::StreamExt::chain(head, rest))
}

/// One page of the export as CSV lines, and the cursor of the next one.
async fn export_page(
    pool: &DbPool,
    tenant: TenantId,
    filter: &LeadFilter,
    before: Option<uuid::Uuid>,
) -> Result<(Vec<u8>, Option<uuid::Uuid>), Error> {
    let mut conn = pool.get().await.map_err(nudge_db::DbError::from)?;
    let page = nudge_db::leads::list(
        &mut conn,
        tenant,
        filter,
        PageRequest {
            limit: EXPORT_PAGE,
            before,
        },
    )
    .await?;
    let bytes = write(&page.items, false).map_err(|e| Error::Internal(e.into()))?;
    Ok((bytes, page.next))
}

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
