//! `/v1/messages`: send one message (202: accepted, delivery follows) and the log.

use crate::error::Problem;
use actix_web::ResponseError;
use actix_web::{get, post, web, HttpMessage, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use nudge_db::messages::{Cancel, MessageFilter};
use nudge_domain::{CampaignId, MessageId, MessageStatus, PhoneNumber, ShopId};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::Authenticated;
use crate::error::{ApiError, FieldError};
use crate::extract::{check, parse_json, JsonBody, PageQuery, PathId};
use crate::idempotency::IdempotentRequest;
use crate::startup::AppState;
use crate::views::{BatchItemView, BatchView, ListView, MessageView};
use nudge_db::messages::RequestKey;
use nudge_usecases::send::{accept_batch, accept_once, SendRequest, Sender};
use nudge_usecases::Error as UseCaseError;

pub fn configure(cfg: &mut ServiceConfig) {
    // The batch route before `/messages/{id}` routes: literal segments first.
    cfg.service(send_batch)
        .service(send)
        .service(list)
        .service(show)
        .service(cancel);
}

#[utoipa::path(
    tag = "messages",
    summary = "Send one message",
    description = "Accepted (`202`) means stored with its outbox row: delivery follows. Give `to` or `customer_id`, and `template` or `body`.",
    request_body = SendRequest,
    responses(
        (status = 202, description = "Accepted: the message, `queued` or `scheduled`, with its first event", body = MessageView),
        (status = 422, description = "`validation`, `recipient-opted-out`, `consent-required`, `frequency-cap-exceeded` or `idempotency-key-reused`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate-limited`, or `daily-message-cap-reached`", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
#[post("/messages")]
#[tracing::instrument(skip_all, fields(message_id))]
async fn send(
    auth: Authenticated,
    state: web::Data<AppState>,
    http: HttpRequest,
    JsonBody(request): JsonBody<SendRequest>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    let traceparent = nudge_telemetry::current_traceparent();
    let once = http.extensions().get::<IdempotentRequest>().cloned();
    let sender = Sender::api(&auth.owner, &state.daily_counts);
    let once = once.as_ref().map(|once| RequestKey {
        key: &once.key,
        hash: &once.hash,
    });
    let accepted = accept_once(
        &mut conn,
        sender,
        request,
        traceparent,
        once.as_ref(),
        state.group_commit.as_ref(),
    )
    .await?;
    let message = accepted.message;
    tracing::Span::current().record("message_id", tracing::field::display(message.id));
    tracing::info!(segments = message.segments, "message accepted");
    state.relay_wakeup.notify_one();
    // The first event is known: only a retry's answer reads the timeline back.
    let events = match accepted.first_event {
        Some(first) => vec![first],
        None => {
            let id = MessageId::from_uuid(message.id);
            nudge_db::messages::events(&mut conn, auth.tenant, id).await?
        }
    };
    Ok(HttpResponse::Accepted().json(MessageView::new(message, Some(events))))
}

/// Most recipients one batch may carry.
const MAX_BATCH: usize = 1_000;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BatchRequest {
    /// Each item is a complete send request (1 to 1,000 items).
    #[schema(value_type = Vec<SendRequest>)]
    messages: Vec<serde_json::Value>,
}

/// Up to 1,000 sends in one call. Each item is accepted or refused on its own, with one
/// result per item in order: partial success is normal.
#[utoipa::path(
    tag = "messages",
    summary = "Send up to 1,000 messages",
    description = "Each item is accepted or refused on its own; one result per item, in order.",
    request_body = BatchRequest,
    responses((status = 200, description = "One result per item", body = BatchView))
)]
#[post("/messages/batch")]
#[tracing::instrument(skip_all, fields(items))]
async fn send_batch(
    auth: Authenticated,
    state: web::Data<AppState>,
    JsonBody(batch): JsonBody<BatchRequest>,
) -> Result<HttpResponse, ApiError> {
    if batch.messages.is_empty() || batch.messages.len() > MAX_BATCH {
        return Err(ApiError::invalid(
            "messages",
            format!(
                "must hold 1 to {MAX_BATCH} items, has {}",
                batch.messages.len()
            ),
        ));
    }
    tracing::Span::current().record("items", batch.messages.len());
    let traceparent = nudge_telemetry::current_traceparent();
    // Parsed like a single send's body, so that errors name the item's field.
    let mut parsed = Vec::with_capacity(batch.messages.len());
    let items: Vec<Result<(), ApiError>> = batch
        .messages
        .into_iter()
        .map(|item| {
            parse_json::<SendRequest>(item.to_string().as_bytes())
                .map(|request| parsed.push(request))
        })
        .collect();
    let mut conn = state.conn().await?;
    let sender = Sender::api(&auth.owner, &state.daily_counts);
    let outcomes = accept_batch(&mut conn, sender, parsed, traceparent).await?;
    let mut outcomes = outcomes.into_iter();
    let mut accepted = 0;
    let results: Vec<BatchItemView> = items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let outcome = item.and_then(|_| {
                outcomes
                    .next()
                    .unwrap_or_else(|| Err(UseCaseError::Internal(anyhow::anyhow!("no outcome"))))
                    .map_err(ApiError::from)
            });
            if outcome.is_ok() {
                accepted += 1;
            }
            BatchItemView::of(index, outcome)
        })
        .collect();
    if accepted > 0 {
        state.relay_wakeup.notify_one();
    }
    let refused = results.len() - accepted;
    Ok(HttpResponse::Ok().json(BatchView {
        accepted,
        refused,
        results,
    }))
}

impl BatchItemView {
    fn of(index: usize, outcome: Result<nudge_db::models::Message, ApiError>) -> Self {
        match outcome {
            Ok(message) => BatchItemView {
                index,
                status: 202,
                message: Some(MessageView::new(message, None)),
                problem: None,
            },
            Err(error) => {
                if error.status_code().is_server_error() {
                    tracing::warn!(index, error = ?error, "batch item failed on our side");
                }
                BatchItemView {
                    index,
                    status: error.status_code().as_u16(),
                    message: None,
                    problem: Some(error.problem()),
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct LogQuery {
    shop_id: Option<String>,
    campaign_id: Option<String>,
    status: Option<String>,
    to: Option<String>,
    since: Option<String>,
    until: Option<String>,
    #[serde(flatten)]
    page: PageQuery,
}

fn parse_time(
    field: &str,
    raw: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Option<DateTime<Utc>> {
    let raw = raw?;
    match DateTime::parse_from_rfc3339(raw) {
        Ok(time) => Some(time.with_timezone(&Utc)),
        Err(_) => {
            errors.push(FieldError::new(
                field,
                "must be an RFC 3339 time, e.g. 2026-11-23T10:00:00Z",
            ));
            None
        }
    }
}

impl LogQuery {
    fn filter(&self, errors: &mut Vec<FieldError>) -> MessageFilter {
        let shop_id = self.shop_id.as_deref().and_then(|raw| {
            let parsed = raw.parse::<ShopId>().ok();
            if parsed.is_none() {
                errors.push(FieldError::new("shop_id", "is not a shop id"));
            }
            parsed
        });
        let campaign_id = self.campaign_id.as_deref().and_then(|raw| {
            let parsed = raw.parse::<CampaignId>().ok();
            if parsed.is_none() {
                errors.push(FieldError::new("campaign_id", "is not a campaign id"));
            }
            parsed
        });
        let status = self.status.as_deref().and_then(|raw| {
            let parsed = MessageStatus::parse(raw);
            if parsed.is_none() {
                let known: Vec<_> = MessageStatus::ALL.iter().map(|s| s.as_str()).collect();
                errors.push(FieldError::new(
                    "status",
                    format!("must be one of {}", known.join(", ")),
                ));
            }
            parsed
        });
        let to = self
            .to
            .as_deref()
            .and_then(|raw| match PhoneNumber::parse(raw) {
                Ok(phone) => Some(phone.to_string()),
                Err(e) => {
                    errors.push(FieldError::new("to", e.to_string()));
                    None
                }
            });
        MessageFilter {
            shop_id,
            campaign_id,
            status,
            to,
            since: parse_time("since", self.since.as_deref(), errors),
            until: parse_time("until", self.until.as_deref(), errors),
        }
    }
}

#[utoipa::path(
    tag = "messages",
    summary = "The message log",
    params(
        ("shop_id" = Option<Uuid>, Query, description = "Only this shop's messages"),
        ("campaign_id" = Option<Uuid>, Query, description = "Only this campaign's messages"),
        ("status" = Option<String>, Query, description = "Only messages in this status"),
        ("to" = Option<String>, Query, description = "Only messages to this E.164 number"),
        ("since" = Option<DateTime<Utc>>, Query, description = "Accepted at or after (RFC 3339)"),
        ("until" = Option<DateTime<Utc>>, Query, description = "Accepted before (RFC 3339)"),
        PageQuery,
    ),
    responses((status = 200, description = "A page of messages, newest first", body = ListView<MessageView>))
)]
#[get("/messages")]
async fn list(
    auth: Authenticated,
    state: web::Data<AppState>,
    query: web::Query<LogQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let filter = query.filter(&mut errors);
    let page = query.page.to_request(&mut errors);
    check(errors)?;
    let mut conn = state.conn().await?;
    let page = nudge_db::messages::list(&mut conn, auth.tenant, &filter, page).await?;
    Ok(HttpResponse::Ok().json(ListView::from_page(page, |m| MessageView::new(m, None))))
}

#[utoipa::path(
    tag = "messages",
    summary = "Show a message with its timeline",
    params(("id" = Uuid, Path, description = "The message's id")),
    responses((status = 200, description = "The message and its events, oldest first", body = MessageView))
)]
#[get("/messages/{id}")]
async fn show(
    auth: Authenticated,
    state: web::Data<AppState>,
    PathId(id): PathId<MessageId>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    let message = nudge_db::messages::find(&mut conn, auth.tenant, id)
        .await?
        .ok_or(ApiError::NotFound("message"))?;
    let events = nudge_db::messages::events(&mut conn, auth.tenant, id).await?;
    Ok(HttpResponse::Ok().json(MessageView::new(message, Some(events))))
}

/// Cancels a message that has not gone to the queue (scheduled, or accepted while the
/// queue was unreachable).
#[utoipa::path(
    tag = "messages",
    summary = "Cancel a message that has not gone to the queue",
    params(("id" = Uuid, Path, description = "The message's id")),
    responses(
        (status = 200, description = "The cancelled message", body = MessageView),
        (status = 409, description = "`not-cancellable`: it has gone to the queue", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/messages/{id}/cancel")]
async fn cancel(
    auth: Authenticated,
    state: web::Data<AppState>,
    PathId(id): PathId<MessageId>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    match nudge_db::messages::cancel(&mut conn, auth.tenant, id).await? {
        Cancel::Cancelled(message) => {
            let events = nudge_db::messages::events(&mut conn, auth.tenant, id).await?;
            Ok(HttpResponse::Ok().json(MessageView::new(*message, Some(events))))
        }
        Cancel::TooLate(status) => Err(ApiError::NotCancellable(format!(
            "the message is {} and has gone to the queue; it can no longer be cancelled",
            status.as_str()
        ))),
        Cancel::Missing => Err(ApiError::NotFound("message")),
    }
}
