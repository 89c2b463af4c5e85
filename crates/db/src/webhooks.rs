//! Merchants' webhook endpoints and what is owed to them. An event becomes one
//! *delivery* per subscribed endpoint, written in the transaction that made the event
//! happen (so an event is never announced for a change that rolled back, and never
//! lost for one that committed). The dispatcher leases due deliveries, posts them, and
//! records each *attempt*; the endpoint's log is those two tables.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use nudge_domain::{ShopId, TenantId, WebhookEndpointId};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::models::{WebhookAttempt, WebhookDelivery, WebhookEndpoint};
use crate::schema::{webhook_attempts, webhook_deliveries, webhook_endpoints};
use crate::scope::OfTenant;
use crate::{DbError, Page, PageRequest};

/// The events an endpoint can subscribe to.
pub const EVENT_TYPES: &[&str] = &[
    "message.sent",
    "message.delivered",
    "message.failed",
    "message.received",
    "conversation.needs_human",
];

/// Queues `event_type` with `data` for every endpoint of the tenant subscribed to it
/// (all shops', or this shop's). The body follows the Standard Webhooks shape:
/// `{"type", "timestamp", "data"}`. Returns how many deliveries were queued.
pub async fn emit(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    shop: Uuid,
    event_type: &str,
    data: Value,
) -> Result<usize, DbError> {
    let endpoints = subscribed(conn, tenant, shop, event_type).await?;
    queue_deliveries(conn, deliveries_of(tenant, &endpoints, event_type, data)).await
}

/// The tenant's endpoints subscribed to `event_type` for `shop` (theirs, or all shops').
pub(crate) async fn subscribed(
    mut conn: &AsyncPgConnection,
    tenant: TenantId,
    shop: Uuid,
    event_type: &str,
) -> Result<Vec<Uuid>, DbError> {
    Ok(webhook_endpoints::table
        .of(tenant)
        .filter(
            webhook_endpoints::shop_id
                .is_null()
                .or(webhook_endpoints::shop_id.eq(shop)),
        )
        .filter(webhook_endpoints::events.has_key(event_type))
        .select(webhook_endpoints::id)
        .load(&mut conn)
        .await?)
}

pub(crate) async fn queue_deliveries(
    conn: &mut AsyncPgConnection,
    rows: Vec<WebhookDelivery>,
) -> Result<usize, DbError> {
    if rows.is_empty() {
        return Ok(0);
    }
    Ok(diesel::insert_into(webhook_deliveries::table)
        .values(&rows)
        .execute(conn)
        .await?)
}

/// One event's deliveries, one per endpoint.
pub(crate) fn deliveries_of(
    tenant: TenantId,
    endpoints: &[Uuid],
    event_type: &str,
    data: Value,
) -> Vec<WebhookDelivery> {
    let now = Utc::now();
    let payload = json!({ "type": event_type, "timestamp": now, "data": data });
    endpoints
        .iter()
        .map(|&endpoint_id| WebhookDelivery {
            id: Uuid::now_v7(),
            tenant_id: tenant.as_uuid(),
            endpoint_id,
            event_type: event_type.to_owned(),
            payload: payload.clone(),
            status: "pending".into(),
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            created_at: now,
            delivered_at: None,
        })
        .collect()
}

/// The `data` of a `message.*` event.
pub fn message_event_data(
    message: &crate::models::Message,
    status: &str,
    error_code: Option<i32>,
) -> Value {
    json!({
        "message_id": message.id,
        "shop_id": message.shop_id,
        "customer_id": message.customer_id,
        "to": message.to_number,
        "from": message.from_number,
        "status": status,
        "error_code": error_code,
        "provider_sid": message.provider_sid,
        "origin": message.origin,
        "in_reply_to": message.in_reply_to,
    })
}

/// The merchant event a message's new status means, if any.
pub(crate) fn message_status_event(status: nudge_domain::MessageStatus) -> Option<&'static str> {
    use nudge_domain::MessageStatus;
    match status {
        MessageStatus::Sent => Some("message.sent"),
        MessageStatus::Delivered => Some("message.delivered"),
        MessageStatus::Failed | MessageStatus::Undelivered => Some("message.failed"),
        _ => None,
    }
}

/// Emits the event a message's new status means, if any: `message.sent`,
/// `message.delivered`, or `message.failed` (failed and undelivered alike).
pub async fn emit_message_status(
    conn: &mut AsyncPgConnection,
    message: &crate::models::Message,
    status: nudge_domain::MessageStatus,
    error_code: Option<i32>,
) -> Result<usize, DbError> {
    let Some(event) = message_status_event(status) else {
        return Ok(0);
    };
    emit(
        conn,
        TenantId::from_uuid(message.tenant_id),
        message.shop_id,
        event,
        message_event_data(message, status.as_str(), error_code),
    )
    .await
}

/// Endpoints a tenant may have: every delivery is a call the dispatcher makes, so the
/// number of endpoints is a share of a worker the tenants share (docs/tenancy.md).
pub const MAX_ENDPOINTS_PER_TENANT: i64 = 20;

/// Stores an endpoint, unless its tenant has [`MAX_ENDPOINTS_PER_TENANT`] already
/// (`None`); the count and the insert are serialised per tenant.
pub async fn insert_endpoint(
    conn: &mut AsyncPgConnection,
    endpoint: &WebhookEndpoint,
) -> Result<Option<WebhookEndpoint>, DbError> {
    conn.transaction::<_, DbError, _>(async |conn| {
        crate::locks::transaction_lock(conn, &format!("endpoints:{}", endpoint.tenant_id)).await?;
        let existing: i64 = webhook_endpoints::table
            .filter(webhook_endpoints::tenant_id.eq(endpoint.tenant_id))
            .count()
            .get_result(conn)
            .await?;
        if existing >= MAX_ENDPOINTS_PER_TENANT {
            return Ok(None);
        }
        Ok(Some(
            diesel::insert_into(webhook_endpoints::table)
                .values(endpoint)
                .returning(WebhookEndpoint::as_returning())
                .get_result(conn)
                .await?,
        ))
    })
    .await
}

pub async fn find_endpoint(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: WebhookEndpointId,
) -> Result<Option<WebhookEndpoint>, DbError> {
    Ok(webhook_endpoints::table
        .of(tenant)
        .filter(webhook_endpoints::id.eq(id.as_uuid()))
        .select(WebhookEndpoint::as_select())
        .first(conn)
        .await
        .optional()?)
}

pub async fn list_endpoints(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    shop: Option<ShopId>,
    page: PageRequest,
) -> Result<Page<WebhookEndpoint>, DbError> {
    let mut query = webhook_endpoints::table
        .of(tenant)
        .select(WebhookEndpoint::as_select())
        .order(webhook_endpoints::id.desc())
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(shop) = shop {
        query = query.filter(webhook_endpoints::shop_id.eq(shop.as_uuid()));
    }
    if let Some(before) = page.before {
        query = query.filter(webhook_endpoints::id.lt(before));
    }
    let rows = query.load(conn).await?;
    Ok(Page::from_overfetch(rows, page, |row| row.id))
}

/// Deletes an endpoint and its log; `false` if the tenant has no such endpoint.
pub async fn delete_endpoint(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: WebhookEndpointId,
) -> Result<bool, DbError> {
    let deleted = diesel::delete(
        webhook_endpoints::table
            .of(tenant)
            .filter(webhook_endpoints::id.eq(id.as_uuid())),
    )
    .execute(conn)
    .await?;
    Ok(deleted > 0)
}

/// A delivery with its attempts, oldest attempt first.
pub struct DeliveryLog {
    pub delivery: WebhookDelivery,
    pub attempts: Vec<WebhookAttempt>,
}

/// An endpoint's deliveries, newest first, each with its attempts.
pub async fn deliveries(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    endpoint: WebhookEndpointId,
    page: PageRequest,
) -> Result<Page<DeliveryLog>, DbError> {
    let mut query = webhook_deliveries::table
        .of(tenant)
        .filter(webhook_deliveries::endpoint_id.eq(endpoint.as_uuid()))
        .select(WebhookDelivery::as_select())
        .order(webhook_deliveries::id.desc())
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(before) = page.before {
        query = query.filter(webhook_deliveries::id.lt(before));
    }
    let page = Page::from_overfetch(query.load(conn).await?, page, |row| row.id);
    let ids: Vec<Uuid> = page.items.iter().map(|d| d.id).collect();
    let mut attempts: Vec<WebhookAttempt> = webhook_attempts::table
        .of(tenant)
        .filter(webhook_attempts::delivery_id.eq_any(&ids))
        .select(WebhookAttempt::as_select())
        .order((webhook_attempts::at.asc(), webhook_attempts::id.asc()))
        .load(conn)
        .await?;
    Ok(page.map(|delivery| {
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut attempts)
            .into_iter()
            .partition(|a| a.delivery_id == delivery.id);
        attempts = rest;
        DeliveryLog {
            delivery,
            attempts: mine,
        }
    }))
}

/// A due delivery and where it goes.
pub struct Due {
    pub delivery: WebhookDelivery,
    pub endpoint: WebhookEndpoint,
}

/// Picks the due deliveries a round may take: each tenant's oldest first, at most
/// `per_tenant` of a tenant's in flight at once (counting the `in_flight` it already
/// has with this dispatcher), and the tenants' turns interleaved (every tenant's first
/// before anyone's second), so a tenant with a backlog cannot crowd another out.
const PICK_DUE: &str = "\
WITH used AS (
    SELECT * FROM unnest($3::uuid[], $4::int[]) AS u(tenant_id, n)
), due AS (
    SELECT d.id, d.tenant_id, d.next_attempt_at,
           row_number() OVER (PARTITION BY d.tenant_id ORDER BY d.next_attempt_at, d.id) AS turn
    FROM webhook_deliveries d
    WHERE d.status = 'pending' AND d.next_attempt_at <= now()
)
SELECT due.id FROM due LEFT JOIN used USING (tenant_id)
WHERE due.turn <= $2 - coalesce(used.n, 0)
ORDER BY due.turn, due.next_attempt_at, due.id
LIMIT $1";

#[derive(QueryableByName)]
struct Picked {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
}

/// Leases up to `limit` due deliveries for `lease` (pushes their next attempt past the
/// lease, so no other dispatcher takes them meanwhile; a dispatcher that dies leaves
/// them to be retried when the lease ends). Across tenants, fairly: see [`PICK_DUE`];
/// `in_flight` is what each tenant already has in this dispatcher's hands.
pub async fn lease_due(
    conn: &mut AsyncPgConnection,
    limit: i64,
    lease: Duration,
    per_tenant: i32,
    in_flight: &[(Uuid, i32)],
) -> Result<Vec<Due>, DbError> {
    use diesel::sql_types::{Array, BigInt, Integer, Uuid as SqlUuid};
    let tenants: Vec<Uuid> = in_flight.iter().map(|(tenant, _)| *tenant).collect();
    let counts: Vec<i32> = in_flight.iter().map(|(_, n)| *n).collect();
    let leased: Vec<WebhookDelivery> = conn
        .transaction::<_, DbError, _>(async |conn| {
            let picked: Vec<Picked> = crate::prepared::prepared(
                PICK_DUE,
                vec![
                    Box::new(crate::prepared::bind::<BigInt, _>(limit)),
                    Box::new(crate::prepared::bind::<Integer, _>(per_tenant)),
                    Box::new(crate::prepared::bind::<Array<SqlUuid>, _>(&tenants)),
                    Box::new(crate::prepared::bind::<Array<Integer>, _>(&counts)),
                ],
            )
            .load(conn)
            .await?;
            let picked: Vec<Uuid> = picked.into_iter().map(|p| p.id).collect();
            if picked.is_empty() {
                return Ok(Vec::new());
            }
            // Another dispatcher may hold some of them: lock what is still free and due.
            let ids: Vec<Uuid> = webhook_deliveries::table
                .filter(webhook_deliveries::id.eq_any(&picked))
                .filter(webhook_deliveries::status.eq("pending"))
                .filter(webhook_deliveries::next_attempt_at.le(diesel::dsl::now))
                .select(webhook_deliveries::id)
                .for_update()
                .skip_locked()
                .load(conn)
                .await?;
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            Ok(diesel::update(webhook_deliveries::table)
                .filter(webhook_deliveries::id.eq_any(&ids))
                .set(webhook_deliveries::next_attempt_at.eq(Utc::now() + lease))
                .returning(WebhookDelivery::as_returning())
                .get_results(conn)
                .await?)
        })
        .await?;
    if leased.is_empty() {
        return Ok(Vec::new());
    }
    let endpoint_ids: Vec<Uuid> = leased.iter().map(|d| d.endpoint_id).collect();
    let endpoints: Vec<WebhookEndpoint> = webhook_endpoints::table
        .filter(webhook_endpoints::id.eq_any(&endpoint_ids))
        .select(WebhookEndpoint::as_select())
        .load(conn)
        .await?;
    Ok(leased
        .into_iter()
        .filter_map(|delivery| {
            let endpoint = endpoints
                .iter()
                .find(|e| e.id == delivery.endpoint_id && e.tenant_id == delivery.tenant_id)?
                .clone();
            Some(Due { delivery, endpoint })
        })
        .collect())
}

/// How one attempt went.
pub struct AttemptResult {
    pub at: DateTime<Utc>,
    pub response_status: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i32,
    /// 2xx: the receiver has it.
    pub succeeded: bool,
}

/// Records an attempt and moves the delivery on: delivered, retried at `retry_at`, or
/// failed for good when `retry_at` is `None`.
pub async fn record_attempt(
    conn: &mut AsyncPgConnection,
    delivery: &WebhookDelivery,
    result: &AttemptResult,
    retry_at: Option<DateTime<Utc>>,
) -> Result<(), DbError> {
    conn.transaction::<_, DbError, _>(async |conn| {
        diesel::insert_into(webhook_attempts::table)
            .values(&WebhookAttempt {
                id: Uuid::now_v7(),
                tenant_id: delivery.tenant_id,
                delivery_id: delivery.id,
                at: result.at,
                response_status: result.response_status,
                error: result.error.clone(),
                duration_ms: result.duration_ms,
            })
            .execute(conn)
            .await?;
        let target = webhook_deliveries::table
            .filter(webhook_deliveries::id.eq(delivery.id))
            .filter(webhook_deliveries::tenant_id.eq(delivery.tenant_id));
        let attempts = webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1);
        if result.succeeded {
            diesel::update(target)
                .set((
                    attempts,
                    webhook_deliveries::status.eq("delivered"),
                    webhook_deliveries::delivered_at.eq(result.at),
                    webhook_deliveries::last_error.eq(None::<String>),
                ))
                .execute(conn)
                .await?;
        } else {
            let error = result.error.clone().or_else(|| {
                result
                    .response_status
                    .map(|status| format!("the endpoint answered {status}"))
            });
            let status = if retry_at.is_some() {
                "pending"
            } else {
                "failed"
            };
            diesel::update(target)
                .set((
                    attempts,
                    webhook_deliveries::status.eq(status),
                    webhook_deliveries::next_attempt_at.eq(retry_at.unwrap_or(result.at)),
                    webhook_deliveries::last_error.eq(error),
                ))
                .execute(conn)
                .await?;
        }
        Ok(())
    })
    .await
}
