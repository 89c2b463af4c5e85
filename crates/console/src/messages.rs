//! The message log: filters (status, recipient, shop, dates), newest first, a page at
//! a time; and each message with its timeline, which updates itself while the message
//! can still change (`static/live.js` reloads the timeline's fragment). Every role may
//! read it; every read goes through the session's tenant.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use nudge_db::messages::MessageFilter;
use nudge_db::models::{Message, MessageEvent};
use nudge_db::PageRequest;
use nudge_domain::{MessageId, MessageStatus, PhoneNumber, ShopId};
use serde::Deserialize;

use super::error::ConsoleError;
use super::pages::{
    html, EventRow, FieldError, MessagePage, MessageRow, MessagesPage, Nav, TimelineFragment,
};
use super::roles::Permission;
use super::session::SignedIn;
use crate::ConsoleState;

/// Messages per page of the log.
const PER_PAGE: i64 = 50;

/// The filter form, as typed: empty fields mean "any".
#[derive(Deserialize, Default)]
pub(super) struct LogQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    shop: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    before: String,
}

fn given(raw: &str) -> Option<&str> {
    Some(raw.trim()).filter(|s| !s.is_empty())
}

/// Midnight UTC starting a `YYYY-MM-DD` day (what `<input type="date">` sends).
fn day_start(raw: &str) -> Option<DateTime<Utc>> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

impl LogQuery {
    /// The filter, or what is wrong with each field.
    fn filter(&self) -> (MessageFilter, PageRequest, Vec<FieldError>) {
        let mut errors = Vec::new();
        let mut filter = MessageFilter::default();
        if let Some(raw) = given(&self.status) {
            filter.status = MessageStatus::parse(raw);
            if filter.status.is_none() {
                errors.push(FieldError {
                    field: "status",
                    message: "Choose a status from the list.",
                });
            }
        }
        if let Some(raw) = given(&self.to) {
            match PhoneNumber::parse(raw) {
                Ok(phone) => filter.to = Some(phone.to_string()),
                Err(_) => errors.push(FieldError {
                    field: "to",
                    message: "Enter a phone number in international form, like +14155550100.",
                }),
            }
        }
        if let Some(raw) = given(&self.shop) {
            filter.shop_id = raw.parse::<ShopId>().ok();
            if filter.shop_id.is_none() {
                errors.push(FieldError {
                    field: "shop",
                    message: "Choose a shop from the list.",
                });
            }
        }
        if let Some(raw) = given(&self.since) {
            filter.since = day_start(raw);
            if filter.since.is_none() {
                errors.push(FieldError {
                    field: "since",
                    message: "Enter the first day as YYYY-MM-DD.",
                });
            }
        }
        if let Some(raw) = given(&self.until) {
            // The last day is included: up to the next midnight.
            filter.until = day_start(raw).map(|t| t + chrono::Duration::days(1));
            if filter.until.is_none() {
                errors.push(FieldError {
                    field: "until",
                    message: "Enter the last day as YYYY-MM-DD.",
                });
            }
        }
        let before = given(&self.before).and_then(|raw| raw.parse::<uuid::Uuid>().ok());
        if given(&self.before).is_some() && before.is_none() {
            errors.push(FieldError {
                field: "before",
                message: "That page of the log does not exist; start again from the first page.",
            });
        }
        let page = PageRequest {
            limit: PER_PAGE,
            before,
        };
        (filter, page, errors)
    }

    /// The query string of the next page: these filters, older messages.
    fn next_page(&self, before: uuid::Uuid) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("status", &self.status),
            ("to", &self.to),
            ("shop", &self.shop),
            ("since", &self.since),
            ("until", &self.until),
        ] {
            if let Some(value) = given(value) {
                query.append_pair(name, value);
            }
        }
        query.append_pair("before", &before.to_string());
        query.finish()
    }
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn row(message: &Message) -> MessageRow {
    let preview: String = message.body.chars().take(80).collect();
    MessageRow {
        id: message.id.to_string(),
        to: message.to_number.clone(),
        status: message.status.clone(),
        created: when(message.created_at),
        truncated: preview.len() < message.body.len(),
        preview,
    }
}

pub(super) async fn log(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
    query: web::Query<LogQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let (filter, page, errors) = query.filter();
    let mut conn = state.conn().await?;
    let shops = super::shop_choices(&mut conn, signed_in.tenant()).await?;
    let (status, messages, next) = if errors.is_empty() {
        let found = nudge_db::messages::list(&mut conn, signed_in.tenant(), &filter, page).await?;
        let next = found.next.map(|before| query.next_page(before));
        (StatusCode::OK, found.items.iter().map(row).collect(), next)
    } else {
        (StatusCode::UNPROCESSABLE_ENTITY, Vec::new(), None)
    };
    html(
        status,
        &MessagesPage {
            messages,
            next,
            statuses: MessageStatus::ALL.iter().map(|s| s.as_str()).collect(),
            shops,
            status: query.status.trim(),
            to: query.to.trim(),
            shop: query.shop.trim(),
            since: query.since.trim(),
            until: query.until.trim(),
            filtered: [
                &query.status,
                &query.to,
                &query.shop,
                &query.since,
                &query.until,
            ]
            .iter()
            .any(|v| given(v).is_some()),
            can_send: signed_in
                .role()
                .is_some_and(|role| role.may(Permission::SendMessages)),
            errors,
            signed_in: Some(Nav::of(&signed_in)),
        },
    )
}

/// Whether a message can still change (its timeline is then kept up to date).
fn settled(status: &str) -> bool {
    matches!(
        MessageStatus::parse(status),
        Some(
            MessageStatus::Delivered
                | MessageStatus::Undelivered
                | MessageStatus::Read
                | MessageStatus::Failed
                | MessageStatus::Cancelled
        )
    )
}

/// An event's detail as `name: value` lines (top-level fields; nulls left out).
fn detail_lines(event: &MessageEvent) -> Vec<(String, String)> {
    let Some(fields) = event.detail.as_object() else {
        return Vec::new();
    };
    fields
        .iter()
        .filter(|(_, value)| !value.is_null())
        .map(|(name, value)| {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (name.replace('_', " "), text)
        })
        .collect()
}

async fn load(
    signed_in: &SignedIn,
    state: &ConsoleState,
    id: MessageId,
) -> Result<(Message, Vec<MessageEvent>), ConsoleError> {
    let mut conn = state.conn().await?;
    // Another tenant's message is as absent as one that never was.
    let message = nudge_db::messages::find(&mut conn, signed_in.tenant(), id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let events = nudge_db::messages::events(&mut conn, signed_in.tenant(), id).await?;
    Ok((message, events))
}

fn timeline<'a>(message: &'a Message, events: &[MessageEvent]) -> TimelineFragment<'a> {
    TimelineFragment {
        id: message.id.to_string(),
        status: &message.status,
        live: !settled(&message.status),
        events: events
            .iter()
            .map(|event| EventRow {
                kind: event.event_type.replace('_', " "),
                at: when(event.at),
                details: detail_lines(event),
            })
            .collect(),
    }
}

pub(super) async fn show(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
    id: web::Path<MessageId>,
) -> Result<HttpResponse, ConsoleError> {
    let (message, events) = load(&signed_in, &state, id.into_inner()).await?;
    html(
        StatusCode::OK,
        &MessagePage {
            message: &message,
            created: when(message.created_at),
            error: message.error_message.as_deref(),
            timeline: timeline(&message, &events),
            signed_in: Some(Nav::of(&signed_in)),
        },
    )
}

/// The timeline alone, for `live.js` to swap in while the message can still change.
pub(super) async fn timeline_fragment(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
    id: web::Path<MessageId>,
) -> Result<HttpResponse, ConsoleError> {
    let (message, events) = load(&signed_in, &state, id.into_inner()).await?;
    html(StatusCode::OK, &timeline(&message, &events))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_fields_filter_nothing_and_days_cover_whole_days() {
        let query = LogQuery {
            since: "2026-11-30".into(),
            until: "2026-11-30".into(),
            ..LogQuery::default()
        };
        let (filter, page, errors) = query.filter();
        assert!(errors.is_empty());
        assert!(filter.status.is_none() && filter.to.is_none() && page.before.is_none());
        assert_eq!(
            filter.until.unwrap() - filter.since.unwrap(),
            chrono::Duration::days(1)
        );
    }

    #[test]
    fn each_bad_field_is_named() {
        let query = LogQuery {
            status: "lost".into(),
            to: "555".into(),
            shop: "x".into(),
            since: "30/11/2026".into(),
            until: "tomorrow".into(),
            before: "nope".into(),
        };
        let (_, _, errors) = query.filter();
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["status", "to", "shop", "since", "until", "before"]);
    }

    #[test]
    fn the_next_page_keeps_the_filters() {
        let query = LogQuery {
            status: "delivered".into(),
            to: "+14155550100".into(),
            ..LogQuery::default()
        };
        let next = query.next_page(uuid::Uuid::nil());
        assert_eq!(
            next,
            "status=delivered&to=%2B14155550100&before=00000000-0000-0000-0000-000000000000"
        );
    }
}
