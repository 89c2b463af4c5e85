//! `/v1/customers/{id}/consent`: a customer's SMS consent and the ledger of its changes.
//! Changes through the API have source `api` (or `import` for an existing list);
//! `keyword` changes come from the customer's own texts (STOP, START).

use actix_web::{get, post, web, HttpResponse};
use nudge_domain::{Consent, ConsentSource, CustomerId};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::Authenticated;
use crate::error::{ApiError, FieldError};
use crate::extract::{check, encode_cursor, JsonBody, PageQuery, PathId};
use crate::startup::AppState;
use crate::views::{ConsentEventView, ConsentLedgerView, CustomerView};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(show).service(change);
}

/// A consent change as a client states it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentChange {
    /// `opted_in`, `opted_out` or `unknown`.
    state: String,
    /// `api` (the default) or `import`; `keyword` is for texted keywords only.
    #[serde(default = "default_source")]
    source: String,
    /// What proves it: the form, the checkbox text, an IP address... kept as given.
    #[serde(default)]
    #[schema(value_type = Object)]
    evidence: Map<String, Value>,
}

fn default_source() -> String {
    ConsentSource::Api.as_str().to_owned()
}

impl ConsentChange {
    /// The parsed change; problems go to `errors` (under `consent.`).
    pub fn check(self, errors: &mut Vec<FieldError>) -> (Consent, ConsentSource, Value) {
        let state = Consent::parse(&self.state).unwrap_or_else(|| {
            errors.push(FieldError::new(
                "consent.state",
                "must be opted_in, opted_out or unknown",
            ));
            Consent::Unknown
        });
        let source = match ConsentSource::parse(&self.source) {
            Some(source @ (ConsentSource::Api | ConsentSource::Import)) => source,
            _ => {
                errors.push(FieldError::new(
                    "consent.source",
                    "must be api or import (keyword changes come from the customer's texts)",
                ));
                ConsentSource::Api
            }
        };
        (state, source, Value::Object(self.evidence))
    }
}

#[utoipa::path(
    tag = "customers",
    summary = "A customer's consent and its ledger",
    params(("id" = Uuid, Path, description = "The customer's id"), PageQuery),
    responses((status = 200, description = "The current state and the ledger, newest first", body = ConsentLedgerView))
)]
#[get("/customers/{id}/consent")]
async fn show(
    auth: Authenticated,
    state: web::Data<AppState>,
    PathId(id): PathId<CustomerId>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let mut conn = state.conn().await?;
    let customer = nudge_db::customers::find(&conn, auth.tenant, id)
        .await?
        .ok_or(ApiError::NotFound("customer"))?;
    let ledger = nudge_db::consent::ledger(&mut conn, auth.tenant, id, page).await?;
    Ok(HttpResponse::Ok().json(ConsentLedgerView {
        customer_id: customer.id,
        state: customer.consent,
        data: ledger
            .items
            .into_iter()
            .map(ConsentEventView::from)
            .collect(),
        next_cursor: ledger.next.map(encode_cursor),
    }))
}

#[utoipa::path(
    tag = "customers",
    summary = "Record a consent change",
    params(("id" = Uuid, Path, description = "The customer's id")),
    request_body = ConsentChange,
    responses((status = 201, description = "The customer with the new state", body = CustomerView))
)]
#[post("/customers/{id}/consent")]
async fn change(
    auth: Authenticated,
    state: web::Data<AppState>,
    PathId(id): PathId<CustomerId>,
    JsonBody(body): JsonBody<ConsentChange>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let (consent, source, evidence) = body.check(&mut errors);
    check(errors)?;
    let mut conn = state.conn().await?;
    let (customer, _) =
        nudge_db::consent::record(&mut conn, auth.tenant, id, consent, source, evidence)
            .await?
            .ok_or(ApiError::NotFound("customer"))?;
    Ok(HttpResponse::Created().json(CustomerView::from(customer)))
}
