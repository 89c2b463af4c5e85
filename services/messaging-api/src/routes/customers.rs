//! `/v1/customers`: a shop's customers, one per phone number, with free-form attributes.

use crate::error::Problem;
use actix_web::{delete, get, patch, post, web, HttpResponse};
use chrono::Utc;
use nudge_db::models::{Customer, CustomerChanges};
use nudge_db::DbError;
use nudge_domain::{Consent, CustomerId, PhoneNumber, ShopId};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::Authenticated;
use crate::error::{ApiError, FieldError};
use crate::extract::{check, present, JsonBody, PageQuery, PathId};
use crate::routes::consent::ConsentChange;
use crate::startup::AppState;
use crate::views::{CustomerView, ListView};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(show)
        .service(update)
        .service(remove);
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateCustomer {
    shop_id: String,
    phone: String,
    name: Option<String>,
    /// Free-form, for templates (`{{customer.tier}}`) and campaign segments.
    #[serde(default)]
    #[schema(value_type = Object)]
    attributes: Map<String, Value>,
    /// The consent the customer gave when they were collected (checkout checkbox...).
    consent: Option<ConsentChange>,
    /// IANA time zone, for quiet hours.
    time_zone: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateCustomer {
    phone: Option<String>,
    /// Absent: unchanged; `null`: cleared.
    #[serde(default, deserialize_with = "present")]
    name: Option<Option<String>>,
    /// Replaces the attributes.
    #[schema(value_type = Option<Object>)]
    attributes: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "present")]
    time_zone: Option<Option<String>>,
}

#[derive(Deserialize)]
struct ListQuery {
    shop_id: Option<String>,
    #[serde(flatten)]
    page: PageQuery,
}

fn check_phone(raw: &str, errors: &mut Vec<FieldError>) -> String {
    PhoneNumber::parse(raw)
        .map(|p| p.to_string())
        .unwrap_or_else(|e| {
            errors.push(FieldError::new("phone", e.to_string()));
            String::new()
        })
}

fn check_time_zone(zone: Option<String>, errors: &mut Vec<FieldError>) -> Option<String> {
    let zone = zone?;
    if zone.parse::<chrono_tz::Tz>().is_err() {
        errors.push(FieldError::new(
            "time_zone",
            "must be an IANA time zone name, e.g. Europe/Paris",
        ));
    }
    Some(zone)
}

fn check_name(name: Option<String>, errors: &mut Vec<FieldError>) -> Option<String> {
    let name = name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    if name.as_ref().is_some_and(|n| n.chars().count() > 200) {
        errors.push(FieldError::new("name", "must be at most 200 characters"));
    }
    name
}

fn conflict(error: DbError) -> ApiError {
    match error {
        DbError::Conflict(_) => {
            ApiError::Conflict("the shop already has a customer with this phone number".into())
        }
        other => other.into(),
    }
}

#[utoipa::path(
    tag = "customers",
    summary = "Create a customer",
    request_body = CreateCustomer,
    responses(
        (status = 201, description = "The customer", body = CustomerView),
        (status = 409, description = "`conflict`: the shop already has a customer with this phone", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/customers")]
async fn create(
    auth: Authenticated,
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<CreateCustomer>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let shop_id = body.shop_id.parse::<ShopId>().ok();
    let phone = check_phone(&body.phone, &mut errors);
    let name = check_name(body.name, &mut errors);
    let consent = body.consent.map(|change| change.check(&mut errors));
    let time_zone = check_time_zone(body.time_zone, &mut errors);
    let mut conn = state.conn().await?;
    let shop = match shop_id {
        Some(id) => nudge_db::shops::find(&conn, auth.tenant, id).await?,
        None => None,
    };
    if shop.is_none() {
        errors.push(FieldError::new("shop_id", "no such shop"));
    }
    check(errors)?;
    let now = Utc::now();
    let customer = Customer {
        id: CustomerId::new().as_uuid(),
        tenant_id: auth.tenant.as_uuid(),
        shop_id: shop.map(|s| s.id).unwrap_or_default(),
        phone,
        name,
        attributes: Value::Object(body.attributes),
        created_at: now,
        updated_at: now,
        consent: Consent::Unknown.as_str().to_owned(),
        time_zone,
    };
    let customer = nudge_db::consent::create_customer(&mut conn, &customer, consent)
        .await
        .map_err(conflict)?;
    Ok(HttpResponse::Created().json(CustomerView::from(customer)))
}

#[utoipa::path(
    tag = "customers",
    summary = "List customers",
    params(PageQuery, ("shop_id" = Option<Uuid>, Query, description = "Only this shop's customers")),
    responses((status = 200, description = "A page of customers, newest first", body = ListView<CustomerView>))
)]
#[get("/customers")]
async fn list(
    auth: Authenticated,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let page = query.page.to_request(&mut errors);
    let shop = match query.shop_id.as_deref().map(str::parse::<ShopId>) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            errors.push(FieldError::new("shop_id", "is not a shop id"));
            None
        }
    };
    check(errors)?;
    let mut conn = state.conn().await?;
    let page = nudge_db::customers::list(&mut conn, auth.tenant, shop, page).await?;
    Ok(HttpResponse::Ok().json(ListView::from_page(page, CustomerView::from)))
}

#[utoipa::path(
    tag = "customers",
    summary = "Show a customer",
    params(("id" = Uuid, Path, description = "The customer's id")),
    responses((status = 200, description = "The customer", body = CustomerView))
)]
#[get("/customers/{id}")]
async fn show(
    auth: Authenticated,
    state: web::Data<AppState>,
    PathId(id): PathId<CustomerId>,
) -> Result<HttpResponse, ApiError> {
    let conn = state.conn().await?;
    let customer = nudge_db::customers::find(&conn, auth.tenant, id)
        .await?
        .ok_or(ApiError::NotFound("customer"))?;
    Ok(HttpResponse::Ok().json(CustomerView::from(customer)))
}

#[utoipa::path(
    tag = "customers",
    summary = "Change a customer",
    description = "Consent is changed through `/consent`, which keeps the ledger.",
    params(("id" = Uuid, Path, description = "The customer's id")),
    request_body = UpdateCustomer,
    responses(
        (status = 200, description = "The changed customer", body = CustomerView),
        (status = 409, description = "`conflict`: the shop already has a customer with this phone", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/customers/{id}")]
async fn update(
    auth: Authenticated,
    state: web::Data<AppState>,
    PathId(id): PathId<CustomerId>,
    JsonBody(body): JsonBody<UpdateCustomer>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let changes = CustomerChanges {
        phone: body.phone.as_deref().map(|p| check_phone(p, &mut errors)),
        name: body.name.map(|n| check_name(n, &mut errors)),
        attributes: body.attributes.map(Value::Object),
        time_zone: body.time_zone.map(|z| check_time_zone(z, &mut errors)),
    };
    check(errors)?;
    let mut conn = state.conn().await?;
    let customer =
        if changes.phone.is_none() && changes.name.is_none() && changes.attributes.is_none() {
            nudge_db::customers::find(&conn, auth.tenant, id).await?
        } else {
            nudge_db::customers::update(&mut conn, auth.tenant, id, &changes)
                .await
                .map_err(conflict)?
        };
    let customer = customer.ok_or(ApiError::NotFound("customer"))?;
    Ok(HttpResponse::Ok().json(CustomerView::from(customer)))
}

#[utoipa::path(
    tag = "customers",
    summary = "Delete a customer",
    description = "Their messages stay in the log.",
    params(("id" = Uuid, Path, description = "The customer's id")),
    responses((status = 204, description = "Deleted"))
)]
#[delete("/customers/{id}")]
async fn remove(
    auth: Authenticated,
    state: web::Data<AppState>,
    PathId(id): PathId<CustomerId>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    if nudge_db::customers::delete(&mut conn, auth.tenant, id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound("customer"))
    }
}
