//! Customers in the console: the list (by shop), and each customer with their consent
//! and its ledger (every change, where it came from and its evidence). Anyone of the
//! team records a change a customer asked for in person or by phone: an opt-out at
//! once, an opt-in only with a note of the evidence. Changes go through
//! `nudge_db::consent::record`, which moves the state and the ledger together.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use nudge_db::models::{ConsentEvent, Customer};
use nudge_db::PageRequest;
use nudge_domain::{Consent, ConsentSource, CustomerId, ShopId};
use serde::Deserialize;
use serde_json::json;

use super::error::ConsoleError;
use super::pages::{html, ConsentRow, CustomerPage, CustomerRow, CustomersPage, Nav};
use super::session::{check_session_form, SignedIn};
use crate::ConsoleState;

const PER_PAGE: i64 = 50;
/// Ledger entries shown (newest first).
const LEDGER: i64 = 100;

fn when(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn consent_label(state: &str) -> &'static str {
    match Consent::parse(state) {
        Some(Consent::OptedIn) => "opted in",
        Some(Consent::OptedOut) => "opted out",
        _ => "unknown",
    }
}

fn row(customer: &Customer) -> CustomerRow {
    CustomerRow {
        id: customer.id.to_string(),
        phone: customer.phone.clone(),
        name: customer.name.clone().unwrap_or_default(),
        consent: customer.consent.clone(),
        consent_label: consent_label(&customer.consent),
    }
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    shop: Option<String>,
    before: Option<uuid::Uuid>,
}

pub(super) async fn list(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let shop = match query.shop.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => Some(raw.parse::<ShopId>().map_err(|_| ConsoleError::NotFound)?),
    };
    let mut conn = state.conn().await?;
    let shops = super::shop_choices(&mut conn, signed_in.tenant()).await?;
    let page = nudge_db::customers::list(
        &mut conn,
        signed_in.tenant(),
        shop,
        PageRequest {
            limit: PER_PAGE,
            before: query.before,
        },
    )
    .await?;
    let shop_value = shop.map(|s| s.to_string()).unwrap_or_default();
    html(
        StatusCode::OK,
        &CustomersPage {
            customers: page.items.iter().map(row).collect(),
            next: page.next.map(|before| {
                if shop_value.is_empty() {
                    format!("before={before}")
                } else {
                    format!("shop={shop_value}&before={before}")
                }
            }),
            shops,
            shop: &shop_value,
            signed_in: Some(Nav::of(&signed_in)),
        },
    )
}

fn ledger_row(event: &ConsentEvent) -> ConsentRow {
    let evidence = event
        .evidence
        .as_object()
        .map(|fields| {
            fields
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| match v {
                    serde_json::Value::String(s) => format!("{k}: {s}"),
                    other => format!("{k}: {other}"),
                })
                .collect::<Vec<_>>()
                .join(" · ")
        })
        .unwrap_or_default();
    ConsentRow {
        state_label: consent_label(&event.state),
        source: event.source.clone(),
        at: when(event.at),
        evidence,
    }
}

async fn page(
    signed_in: &SignedIn,
    state: &ConsoleState,
    id: CustomerId,
    status: StatusCode,
    error: Option<&str>,
) -> Result<HttpResponse, ConsoleError> {
    let mut conn = state.conn().await?;
    // Another tenant's customer is as absent as one that never was.
    let customer = nudge_db::customers::find(&conn, signed_in.tenant(), id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let ledger = nudge_db::consent::ledger(
        &mut conn,
        signed_in.tenant(),
        id,
        PageRequest {
            limit: LEDGER,
            before: None,
        },
    )
    .await?;
    html(
        status,
        &CustomerPage {
            customer: row(&customer),
            ledger: ledger.items.iter().map(ledger_row).collect(),
            error,
            signed_in: Some(Nav::of(signed_in)),
        },
    )
}

pub(super) async fn show(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
    id: web::Path<CustomerId>,
) -> Result<HttpResponse, ConsoleError> {
    page(&signed_in, &state, id.into_inner(), StatusCode::OK, None).await
}

#[derive(Deserialize)]
pub(super) struct ConsentForm {
    csrf: String,
    state: String,
    #[serde(default)]
    note: String,
}

pub(super) async fn record(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
    id: web::Path<CustomerId>,
    form: web::Form<ConsentForm>,
) -> Result<HttpResponse, ConsoleError> {
    check_session_form(&signed_in, &form.csrf)?;
    let id = id.into_inner();
    let note = form.note.trim();
    let refused = match Consent::parse(form.state.trim()) {
        Some(Consent::OptedIn) if note.is_empty() => {
            Some("An opt-in needs a note of the evidence: where and when the customer agreed.")
        }
        Some(Consent::OptedIn | Consent::OptedOut) if note.chars().count() > 500 => {
            Some("Keep the note to 500 characters.")
        }
        Some(Consent::OptedIn | Consent::OptedOut) => None,
        _ => Some("Choose opted in or opted out."),
    };
    if let Some(message) = refused {
        return page(
            &signed_in,
            &state,
            id,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(message),
        )
        .await;
    }
    let consent = Consent::parse(form.state.trim()).unwrap_or(Consent::OptedOut);
    let evidence = json!({
        "via": "console",
        "user_id": signed_in.0.user.id,
        "note": (!note.is_empty()).then_some(note),
    });
    let mut conn = state.conn().await?;
    nudge_db::consent::record(
        &mut conn,
        signed_in.tenant(),
        id,
        consent,
        ConsentSource::Api,
        evidence,
    )
    .await?
    .ok_or(ConsoleError::NotFound)?;
    tracing::info!(customer_id = %id, user_id = %signed_in.0.user.id, consent = consent.as_str(), "consent recorded in the console");
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("/console/customers/{id}")))
        .finish())
}
