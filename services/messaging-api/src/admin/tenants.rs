//! `messaging-api admin tenants approve|set-destinations`: taking a tenant out of its
//! sandbox, and the countries it may text (docs/tenancy.md).

use nudge_db::AsyncPgConnection;
use nudge_domain::TenantId;
use serde_json::json;

/// Approves a tenant: it may then text any number in its countries, up to its own cap.
pub async fn approve(conn: &mut AsyncPgConnection, tenant: TenantId) -> anyhow::Result<String> {
    anyhow::ensure!(
        nudge_db::tenants::approve(conn, tenant).await?,
        "no tenant {tenant}"
    );
    Ok(json!({ "tenant_id": tenant, "approved": true }).to_string())
}

/// `--calling-codes 1,44` (country calling codes, without `+`), or `default` for the
/// codes of the tenant's own numbers.
pub fn parse_calling_codes(raw: &str) -> anyhow::Result<Option<Vec<String>>> {
    if raw.trim().eq_ignore_ascii_case("default") {
        return Ok(None);
    }
    let mut codes = Vec::new();
    for code in raw.split(',').map(|c| c.trim().trim_start_matches('+')) {
        anyhow::ensure!(
            nudge_domain::phone::is_calling_code(code),
            "--calling-codes: '{code}' is not a country calling code (1, 44, 971...)"
        );
        if !codes.iter().any(|known| known == code) {
            codes.push(code.to_owned());
        }
    }
    Ok(Some(codes))
}

/// Sets the countries a tenant may text.
pub async fn set_destinations(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    raw: &str,
) -> anyhow::Result<String> {
    let codes = parse_calling_codes(raw)?;
    anyhow::ensure!(
        nudge_db::tenants::set_destinations(conn, tenant, codes.clone()).await?,
        "no tenant {tenant}"
    );
    let effective = nudge_db::tenants::sending_rules(conn, tenant).await?;
    Ok(json!({
        "tenant_id": tenant,
        "destination_calling_codes": codes,
        "in_effect": effective.calling_codes,
    })
    .to_string())
}

#[cfg(test)]
mod tests {
    use super::parse_calling_codes;

    #[test]
    fn calling_codes_are_checked() {
        assert_eq!(
            parse_calling_codes("1, +44,44").unwrap(),
            Some(vec!["1".to_owned(), "44".to_owned()])
        );
        assert_eq!(parse_calling_codes("default").unwrap(), None);
        assert!(parse_calling_codes("1,4").is_err());
        assert!(parse_calling_codes("").is_err());
    }
}
