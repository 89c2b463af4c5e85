//! `/v1/webhook-endpoints`: where a merchant wants to hear about events
//! (`message.sent`, `message.delivered`, `message.failed`, `message.received`,
//! `conversation.needs_human`, the care hand-off). Deliveries are signed with the
//! Standard Webhooks scheme using the endpoint's secret (shown once, at creation),
//! retried with backoff, and logged per endpoint with every attempt.

use actix_web::{delete, get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use nudge_db::models::{WebhookAttempt, WebhookEndpoint};
use nudge_db::webhooks::{DeliveryLog, EVENT_TYPES};
use nudge_domain::{ShopId, WebhookEndpointId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::auth::Authenticated;
use crate::error::{ApiError, FieldError, Problem};
use crate::extract::{check, JsonBody, PageQuery, PathId};
use crate::startup::AppState;
use crate::views::ListView;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(show)
        .service(remove)
        .service(deliveries);
}

#[derive(Serialize, ToSchema)]
pub struct WebhookEndpointView {
    pub id: Uuid,
    /// `null`: every shop of the tenant.
    pub shop_id: Option<Uuid>,
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
    /// Only in the creation's answer: the `whsec_` signing secret. Store it; it is not
    /// shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl WebhookEndpointView {
    fn new(endpoint: WebhookEndpoint, show_secret: bool) -> Self {
        WebhookEndpointView {
            id: endpoint.id,
            shop_id: endpoint.shop_id,
            url: endpoint.url,
            events: serde_json::from_value(endpoint.events).unwrap_or_default(),
            description: endpoint.description,
            secret: show_secret.then_some(endpoint.secret),
            created_at: endpoint.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryView {
    /// Also the `webhook-id` header: the same on every attempt.
    pub id: Uuid,
    pub event_type: String,
    /// The body as posted.
    #[schema(value_type = Object)]
    pub payload: Value,
    /// `pending` (more attempts to come), `delivered` or `failed` (gave up).
    pub status: String,
    pub attempts: Vec<AttemptView>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct AttemptView {
    pub at: DateTime<Utc>,
    /// The endpoint's HTTP status; `null` when it did not answer (see `error`).
    pub response_status: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i32,
}

impl From<WebhookAttempt> for AttemptView {
    fn from(attempt: WebhookAttempt) -> Self {
        AttemptView {
            at: attempt.at,
            response_status: attempt.response_status,
            error: attempt.error,
            duration_ms: attempt.duration_ms,
        }
    }
}

impl From<DeliveryLog> for DeliveryView {
    fn from(log: DeliveryLog) -> Self {
        let delivery = log.delivery;
        DeliveryView {
            id: delivery.id,
            event_type: delivery.event_type,
            payload: delivery.payload,
            next_attempt_at: (delivery.status == "pending").then_some(delivery.next_attempt_at),
            status: delivery.status,
            attempts: log.attempts.into_iter().map(AttemptView::from).collect(),
            last_error: delivery.last_error,
            created_at: delivery.created_at,
            delivered_at: delivery.delivered_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateEndpoint {
    /// https, to a public address (development may allow more: `WEBHOOK_TARGETS`).
    url: String,
    /// Event types to receive.
    events: Vec<String>,
    /// Only this shop's events; default every shop's.
    shop_id: Option<String>,
    description: Option<String>,
}

#[utoipa::path(
    tag = "webhooks",
    summary = "Subscribe an endpoint to events",
    description = "A tenant has at most 20 endpoints.",
    request_body = CreateEndpoint,
    responses(
        (status = 201, description = "The endpoint, with its signing secret (once)", body = WebhookEndpointView),
        (status = 409, description = "`conflict`: the tenant has 20 endpoints already", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/webhook-endpoints")]
async fn create(
    auth: Authenticated,
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<CreateEndpoint>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let url = match state.webhook_policy.check_url(&body.url) {
        Ok(url) => url.to_string(),
        Err(refusal) => {
            errors.push(FieldError::new("url", refusal.to_string()));
            String::new()
        }
    };
    let mut events: Vec<String> = Vec::new();
    for event in &body.events {
        if !EVENT_TYPES.contains(&event.as_str()) {
            errors.push(FieldError::new(
                "events",
                format!("'{event}' is not one of {}", EVENT_TYPES.join(", ")),
            ));
        } else if !events.contains(event) {
            events.push(event.clone());
        }
    }
    if body.events.is_empty() {
        errors.push(FieldError::new("events", "subscribe to at least one event"));
    }
    let shop = body.shop_id.as_deref().and_then(|raw| {
        raw.parse::<ShopId>()
            .map_err(|_| errors.push(FieldError::new("shop_id", "must be a shop id")))
            .ok()
    });
    let description = body.description.map(|d| d.trim().to_owned());
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 200)
    {
        errors.push(FieldError::new(
            "description",
            "must be at most 200 characters",
        ));
    }
    check(errors)?;
    let mut conn = state.conn().await?;
    if let Some(shop) = shop {
        nudge_db::shops::find(&conn, auth.tenant, shop)
            .await?
            .ok_or_else(|| ApiError::invalid("shop_id", "no such shop"))?;
    }
    let endpoint = nudge_db::webhooks::insert_endpoint(
        &mut conn,
        &WebhookEndpoint {
            id: WebhookEndpointId::new().as_uuid(),
            tenant_id: auth.tenant.as_uuid(),
            shop_id: shop.map(|s| s.as_uuid()),
            url,
            events: serde_json::json!(events),
            secret: nudge_domain::standard_webhooks::new_secret(),
            description,
            created_at: Utc::now(),
        },
    )
    .await?
    .ok_or_else(|| {
        ApiError::Conflict(format!(
            "the tenant has {} endpoints already, the most it may have; delete one first",
            nudge_db::webhooks::MAX_ENDPOINTS_PER_TENANT
        ))
    })?;
    Ok(HttpResponse::Created().json(WebhookEndpointView::new(endpoint, true)))
}

#[utoipa::path(
    tag = "webhooks",
    summary = "List webhook endpoints",
    params(PageQuery),
    responses((status = 200, description = "A page of endpoints, newest first", body = ListView<WebhookEndpointView>))
)]
#[get("/webhook-endpoints")]
async fn list(
    auth: Authenticated,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let mut conn = state.conn().await?;
    let page = nudge_db::webhooks::list_endpoints(&mut conn, auth.tenant, None, page).await?;
    Ok(HttpResponse::Ok().json(ListView::from_page(page, |e| {
        WebhookEndpointView::new(e, false)
    })))
}

#[utoipa::path(
    tag = "webhooks",
    summary = "Show a webhook endpoint",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    responses((status = 200, description = "The endpoint", body = WebhookEndpointView))
)]
#[get("/webhook-endpoints/{id}")]
async fn show(
    auth: Authenticated,
    state: web::Data<AppState>,
    PathId(id): PathId<WebhookEndpointId>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    let endpoint = nudge_db::webhooks::find_endpoint(&mut conn, auth.tenant, id)
        .await?
        .ok_or(ApiError::NotFound("webhook endpoint"))?;
    Ok(HttpResponse::Ok().json(WebhookEndpointView::new(endpoint, false)))
}

#[utoipa::path(
    tag = "webhooks",
    summary = "Delete a webhook endpoint and its log",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    responses((status = 204, description = "Deleted"))
)]
#[delete("/webhook-endpoints/{id}")]
async fn remove(
    auth: Authenticated,
    state: web::Data<AppState>,
    PathId(id): PathId<WebhookEndpointId>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    if nudge_db::webhooks::delete_endpoint(&mut conn, auth.tenant, id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound("webhook endpoint"))
    }
}

#[utoipa::path(
    tag = "webhooks",
    summary = "The endpoint's delivery log",
    params(("id" = Uuid, Path, description = "The endpoint's id"), PageQuery),
    responses((status = 200, description = "A page of deliveries, newest first, each with its attempts", body = ListView<DeliveryView>))
)]
#[get("/webhook-endpoints/{id}/deliveries")]
async fn deliveries(
    auth: Authenticated,
    state: web::Data<AppState>,
    PathId(id): PathId<WebhookEndpointId>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let mut conn = state.conn().await?;
    nudge_db::webhooks::find_endpoint(&mut conn, auth.tenant, id)
        .await?
        .ok_or(ApiError::NotFound("webhook endpoint"))?;
    let page = nudge_db::webhooks::deliveries(&mut conn, auth.tenant, id, page).await?;
    Ok(HttpResponse::Ok().json(ListView::from_page(page, DeliveryView::from)))
}
