//! `/v1/customers/{id}/consent`: a customer's SMS consent and the ledger of its changes.
//! Changes through the API have source `api` (or `import` for an existing list);
//! `keyword` changes come from the customer's own texts (STOP, START).

use actix_web::{get, post, web, HttpResponse};
use nudge_domain::{Consent, ConsentSource, CustomerId};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::auth::Authenticated;
use crate::error::{ApiError, FieldError};
use crate::extract::{check, encode_cursor, path_id, JsonBody, PageQuery};
use crate::startup::AppState;
use crate::views::{ConsentEventView, CustomerView};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(show).service(change);
}

/// A consent change as a client states it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentChange {
    state: String,
    #[serde(default = "default_source")]
    source: String,
    /// What proves it: the form, the checkbox text, an IP address... kept as given.
    #[serde(default)]
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

#[get("/customers/{id}/consent")]
async fn show(
    auth: Authenticated,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let id: CustomerId = path_id(&id, "customer")?;
    let page = query.page()?;
    let mut conn = state.conn().await?;
    let customer = nudge_db::customers::find(&mut conn, auth.tenant, id)
        .await?
        .ok_or(ApiError::NotFound("customer"))?;
    let ledger = nudge_db::consent::ledger(&mut conn, auth.tenant, id, page).await?;
    Ok(HttpResponse::Ok().json(json!({
        "customer_id": customer.id,
        "state": customer.consent,
        "data": ledger.items.into_iter().map(ConsentEventView::from).collect::<Vec<_>>(),
        "next_cursor": ledger.next.map(encode_cursor),
    })))
}

#[post("/customers/{id}/consent")]
async fn change(
    auth: Authenticated,
    state: web::Data<AppState>,
    id: web::Path<String>,
    JsonBody(body): JsonBody<ConsentChange>,
) -> Result<HttpResponse, ApiError> {
    let id: CustomerId = path_id(&id, "customer")?;
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
