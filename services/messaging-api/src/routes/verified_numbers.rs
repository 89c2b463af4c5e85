//! `/v1/verified-numbers`: the numbers a tenant in its sandbox may text. A tenant asks
//! for a code; the person holding the number texts it to one of the tenant's sender
//! numbers; the listener marks the number verified when that text arrives
//! (docs/tenancy.md). The proof sends nothing, so it costs nothing and can text no one.

use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use nudge_db::verified_numbers::Issued;
use nudge_domain::PhoneNumber;
use rand::Rng;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::Authenticated;
use crate::error::{ApiError, Problem};
use crate::extract::JsonBody;
use crate::startup::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(start).service(list);
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StartVerification {
    /// The number to verify (E.164).
    phone: String,
}

#[derive(Serialize, ToSchema)]
pub struct VerifiedNumberView {
    pub phone: String,
    /// `pending` (waiting for its code) or `verified`.
    pub status: String,
    /// Pending only: the code the number's holder texts to one of `text_to`. Shown in
    /// this answer only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Pending only: the tenant's sender numbers the code may be texted to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_to: Option<Vec<String>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub verified_at: Option<DateTime<Utc>>,
}

impl From<nudge_db::models::VerifiedNumber> for VerifiedNumberView {
    /// As stored: never with the code (only its hash is kept).
    fn from(row: nudge_db::models::VerifiedNumber) -> Self {
        VerifiedNumberView {
            status: if row.verified_at.is_some() {
                "verified"
            } else {
                "pending"
            }
            .into(),
            phone: row.phone,
            code: None,
            text_to: None,
            expires_at: row.code_expires_at,
            verified_at: row.verified_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct VerifiedNumbersView {
    pub data: Vec<VerifiedNumberView>,
}

#[utoipa::path(
    tag = "shops",
    summary = "Start verifying a number",
    description = "Answers with a code that the number's holder texts to one of the tenant's sender numbers within 30 minutes; the number is then verified. A tenant in its sandbox may text only verified numbers. A new request replaces the code.",
    request_body = StartVerification,
    responses(
        (status = 201, description = "Pending: the code to text back", body = VerifiedNumberView),
        (status = 200, description = "Already verified", body = VerifiedNumberView),
        (status = 409, description = "`conflict`: 20 numbers are waiting for their codes already", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/verified-numbers")]
async fn start(
    auth: Authenticated,
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<StartVerification>,
) -> Result<HttpResponse, ApiError> {
    let phone =
        PhoneNumber::parse(&body.phone).map_err(|e| ApiError::invalid("phone", e.to_string()))?;
    let mut conn = state.conn().await?;
    let text_to: Vec<String> = nudge_db::sender_numbers::list(&mut conn, Some(auth.tenant))
        .await?
        .into_iter()
        .map(|listed| listed.number.number)
        .collect();
    if text_to.is_empty() {
        return Err(ApiError::invalid(
            "phone",
            "the tenant has no sender number to text the code to yet; an operator adds numbers",
        ));
    }
    let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
    match nudge_db::verified_numbers::issue(&mut conn, auth.tenant, &phone, &code).await? {
        Issued::Pending(expires_at) => Ok(HttpResponse::Created().json(VerifiedNumberView {
            phone: phone.to_string(),
            status: "pending".into(),
            code: Some(code),
            text_to: Some(text_to),
            expires_at: Some(expires_at),
            verified_at: None,
        })),
        Issued::AlreadyVerified(row) => Ok(HttpResponse::Ok().json(VerifiedNumberView::from(row))),
        Issued::TooManyPending => Err(ApiError::Conflict(format!(
            "{} numbers are waiting for their codes already; wait for them or for their codes to expire",
            nudge_db::verified_numbers::MAX_PENDING
        ))),
    }
}

#[utoipa::path(
    tag = "shops",
    summary = "List verified and pending numbers",
    responses((status = 200, description = "By phone; never the codes", body = VerifiedNumbersView))
)]
#[get("/verified-numbers")]
async fn list(auth: Authenticated, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    let rows = nudge_db::verified_numbers::list(&mut conn, auth.tenant).await?;
    Ok(HttpResponse::Ok().json(VerifiedNumbersView {
        data: rows.into_iter().map(VerifiedNumberView::from).collect(),
    }))
}
