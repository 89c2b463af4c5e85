//! `messaging-api admin numbers add|list|remove`: the operator's registry of sender
//! numbers. A number belongs to one tenant; only an operator, who has checked that the
//! merchant holds it at the provider, gives it (docs/tenancy.md).

use nudge_db::sender_numbers::{Added, Removed};
use nudge_db::AsyncPgConnection;
use nudge_domain::{PhoneNumber, TenantId};
use serde_json::json;

fn parse(raw: &str) -> anyhow::Result<PhoneNumber> {
    PhoneNumber::parse(raw).map_err(|e| anyhow::anyhow!("--number '{raw}': {e}"))
}

/// Gives a number to a tenant; prints what happened as JSON.
pub async fn add(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    raw: &str,
) -> anyhow::Result<String> {
    let number = parse(raw)?;
    match nudge_db::sender_numbers::add(conn, tenant, &number).await? {
        Added::Added(row) => Ok(json!({ "number": row.number, "tenant_id": row.tenant_id, "added": true }).to_string()),
        Added::AlreadyTheirs(row) => Ok(json!({ "number": row.number, "tenant_id": row.tenant_id, "added": false }).to_string()),
        Added::OwnedByAnother(owner) => anyhow::bail!(
            "{number} already belongs to tenant {owner}; remove it there first (`admin numbers remove`)"
        ),
        Added::NoSuchTenant => anyhow::bail!("no tenant {tenant}"),
    }
}

/// Every number (or one tenant's), one JSON object per line.
pub async fn list(
    conn: &mut AsyncPgConnection,
    tenant: Option<TenantId>,
) -> anyhow::Result<String> {
    let numbers = nudge_db::sender_numbers::list(conn, tenant).await?;
    Ok(numbers
        .iter()
        .map(|listed| {
            json!({
                "number": listed.number.number,
                "tenant_id": listed.number.tenant_id,
                "shop_ids": listed.shop_ids,
                "added_at": listed.number.created_at,
            })
            .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n"))
}

/// Takes a number away from its tenant, if no shop uses it and nothing from it waits.
pub async fn remove(conn: &mut AsyncPgConnection, raw: &str) -> anyhow::Result<String> {
    let number = parse(raw)?;
    match nudge_db::sender_numbers::remove(conn, number.as_str()).await? {
        Removed::Removed(tenant) => Ok(
            json!({ "number": number.as_str(), "tenant_id": tenant, "removed": true }).to_string(),
        ),
        Removed::NotFound => anyhow::bail!("{number} is nobody's sender number"),
        Removed::UsedByShops(count) => anyhow::bail!(
            "{number} is the sender number of {count} shop(s); give them another number first"
        ),
        Removed::MessagesWaiting(count) => anyhow::bail!(
            "{count} message(s) from {number} are still waiting to be sent; remove it once they are"
        ),
    }
}
