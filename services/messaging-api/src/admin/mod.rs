//! Operator commands (`messaging-api admin ...`): tenants and their limits here,
//! dead-letter queues in [`dlq`], sender numbers in [`numbers`], tenants' own provider
//! accounts in [`accounts`].

pub mod accounts;
pub mod dlq;
pub mod numbers;
pub mod tenants;

use nudge_db::AsyncPgConnection;
use serde_json::json;

/// Creates a tenant and its first API key, and gives it `numbers` (each checked to be
/// E.164 and nobody's, before anything is stored); the tenant starts in its sandbox
/// unless `approved`. Returns the JSON to print. The plain key is in this output and
/// nowhere else: only its hash is stored.
pub async fn create_tenant(
    conn: &mut AsyncPgConnection,
    name: &str,
    numbers: &[String],
    approved: bool,
) -> anyhow::Result<String> {
    let name = name.trim();
    anyhow::ensure!(
        !name.is_empty() && name.chars().count() <= 200,
        "--name must be 1 to 200 characters"
    );
    let mut parsed = Vec::with_capacity(numbers.len());
    for raw in numbers {
        let number = nudge_domain::PhoneNumber::parse(raw)
            .map_err(|e| anyhow::anyhow!("--number '{raw}': {e}"))?;
        if let Some(owner) = nudge_db::sender_numbers::owner(conn, number.as_str()).await? {
            anyhow::bail!("{number} already belongs to tenant {owner}");
        }
        parsed.push(number);
    }
    let issued = nudge_db::tenants::create_with_key(conn, name).await?;
    let tenant = nudge_domain::TenantId::from_uuid(issued.tenant.id);
    for number in &parsed {
        numbers::add(conn, tenant, number.as_str()).await?;
    }
    if approved {
        nudge_db::tenants::approve(conn, tenant).await?;
    }
    Ok(json!({
        "tenant_id": issued.tenant.id,
        "api_key": issued.plain_text,
        "api_key_prefix": issued.prefix,
        "sender_numbers": parsed,
        "approved": approved,
    })
    .to_string())
}

/// The console's roles, as `--role` takes them.
pub const CONSOLE_ROLES: [&str; 3] = ["owner", "marketer", "care_agent"];

/// Creates a console account in `tenant`, its address taken as confirmed; the password
/// comes from standard input (never the command line, which other users can see).
pub async fn create_console_user(
    conn: &mut AsyncPgConnection,
    tenant: nudge_domain::TenantId,
    email: &str,
    role: &str,
    password: String,
) -> anyhow::Result<String> {
    let email = nudge_console::normalize_email(email)
        .ok_or_else(|| anyhow::anyhow!("--email '{email}' is not an email address"))?;
    anyhow::ensure!(
        CONSOLE_ROLES.contains(&role),
        "--role must be one of {}, not '{role}'",
        CONSOLE_ROLES.join(", ")
    );
    nudge_console::password::check_new(&password, &email)
        .map_err(|why| anyhow::anyhow!("password: {why}"))?;
    let hash = nudge_console::password::hash(password).await?;
    let user =
        match nudge_db::console::create_confirmed_user(conn, tenant, &email, &hash, role).await {
            Ok(user) => user,
            Err(nudge_db::DbError::Conflict(_)) => {
                anyhow::bail!("{email} already has a console account")
            }
            Err(nudge_db::DbError::InUse(_)) => anyhow::bail!("no tenant {tenant}"),
            Err(other) => return Err(other.into()),
        };
    Ok(json!({ "user_id": user.id, "email": user.email, "role": user.role }).to_string())
}

/// `--lead-search-daily-queries`: a whole number of queries a day, or `default` (the
/// lead-search worker's `LEAD_SEARCH_TENANT_DAILY_QUERIES`), as `None`.
pub fn parse_budget(raw: &str) -> anyhow::Result<Option<i32>> {
    if raw.trim().eq_ignore_ascii_case("default") {
        return Ok(None);
    }
    let queries: i32 = raw.trim().parse().map_err(|_| {
        anyhow::anyhow!(
            "--lead-search-daily-queries must be a whole number or 'default', not '{raw}'"
        )
    })?;
    anyhow::ensure!(
        queries >= 0,
        "--lead-search-daily-queries must not be negative"
    );
    Ok(Some(queries))
}

#[cfg(test)]
mod tests {
    use super::parse_budget;

    #[test]
    fn a_lead_search_budget_is_a_number_or_the_default() {
        assert_eq!(parse_budget("250").unwrap(), Some(250));
        assert_eq!(parse_budget("0").unwrap(), Some(0));
        assert_eq!(parse_budget("Default").unwrap(), None);
        assert!(parse_budget("-1").is_err());
        assert!(parse_budget("lots").is_err());
    }
}
