//! `/v1/sender-numbers`: the numbers the tenant owns and may give its shops. Numbers
//! are added by an operator (docs/tenancy.md), so this resource is read-only.

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::startup::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list);
}

#[derive(Serialize, ToSchema)]
pub struct SenderNumberView {
    /// E.164.
    pub number: String,
    /// The tenant's shops that send from it.
    pub shop_ids: Vec<Uuid>,
    pub added_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct SenderNumbersView {
    pub data: Vec<SenderNumberView>,
}

#[utoipa::path(
    tag = "shops",
    summary = "List the tenant's sender numbers",
    description = "Every number the tenant owns, by number. A shop's `sender_number` must be one of these.",
    responses((status = 200, description = "The tenant's numbers", body = SenderNumbersView))
)]
#[get("/sender-numbers")]
async fn list(auth: Authenticated, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    let numbers = nudge_db::sender_numbers::list(&mut conn, Some(auth.tenant)).await?;
    Ok(HttpResponse::Ok().json(SenderNumbersView {
        data: numbers
            .into_iter()
            .map(|listed| SenderNumberView {
                number: listed.number.number,
                shop_ids: listed.shop_ids,
                added_at: listed.number.created_at,
            })
            .collect(),
    }))
}
