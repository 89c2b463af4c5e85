//! Operator commands (`messaging-api admin ...`): tenants and their limits here,
//! dead-letter queues in [`dlq`].

pub mod dlq;

use nudge_db::AsyncPgConnection;
use serde_json::json;

/// Creates a tenant and its first API key; returns the JSON to print. The plain key is
/// in this output and nowhere else: only its hash is stored.
pub async fn create_tenant(conn: &mut AsyncPgConnection, name: &str) -> anyhow::Result<String> {
    let name = name.trim();
    anyhow::ensure!(
        !name.is_empty() && name.chars().count() <= 200,
        "--name must be 1 to 200 characters"
    );
    let issued = nudge_db::tenants::create_with_key(conn, name).await?;
    Ok(json!({
        "tenant_id": issued.tenant.id,
        "api_key": issued.plain_text,
        "api_key_prefix": issued.prefix,
    })
    .to_string())
}
