//! Resolving the references of a send request (shop, recipient, template, image)
//! within the tenant, and rendering the body. Each lookup takes a shared connection,
//! so that a send asks for all of them at once (pipelined: one round trip), and
//! answers what it found or the field error the client should hear, so that a client
//! hears about every problem at once.

use nudge_db::models::{Customer, Shop};
use nudge_db::AsyncPgConnection;
use nudge_domain::{
    CustomerId, MessageCategory, PhoneNumber, RenderError, ShopId, Template, TemplateId, TenantId,
};
use serde_json::{Map, Value};

use super::{SendRequest, MAX_RENDERED_CHARS};
use crate::{Error, FieldError};

/// What a lookup found, or what is wrong with the field that names it.
pub type Found<T> = Result<T, FieldError>;

/// Keeps what was found; adds what was not to `errors`.
pub fn collect<T>(found: Found<T>, errors: &mut Vec<FieldError>) -> Option<T> {
    found.map_err(|error| errors.push(error)).ok()
}

pub async fn find_shop(
    conn: &AsyncPgConnection,
    tenant: TenantId,
    raw: Option<&str>,
) -> Result<Found<Shop>, Error> {
    let Some(raw) = raw else {
        return Ok(Err(FieldError::new("shop_id", "is required")));
    };
    let shop = match raw.parse::<ShopId>() {
        Ok(id) => nudge_db::shops::find(conn, tenant, id).await?,
        Err(_) => None,
    };
    Ok(match shop {
        None => Err(FieldError::new("shop_id", "no such shop")),
        Some(shop) if shop.sender_number.is_none() => Err(FieldError::new(
            "shop_id",
            "the shop has no sender number: give it one of the tenant's numbers first",
        )),
        Some(shop) => Ok(shop),
    })
}

/// Exactly one of `to` and `customer_id`. A `to` that matches a customer of the
/// request's shop is linked to them, so their attributes can fill the template.
pub async fn recipient(
    conn: &AsyncPgConnection,
    tenant: TenantId,
    request: &SendRequest,
) -> Result<Found<(PhoneNumber, Option<Customer>)>, Error> {
    let shop = request
        .shop_id
        .as_deref()
        .and_then(|raw| raw.parse::<ShopId>().ok());
    match (&request.to, &request.customer_id) {
        (Some(_), Some(_)) => Ok(Err(FieldError::new(
            "to",
            "give either `to` or `customer_id`, not both",
        ))),
        (None, None) => Ok(Err(FieldError::new(
            "to",
            "`to` or `customer_id` is required",
        ))),
        (Some(raw), None) => match PhoneNumber::parse(raw) {
            Ok(phone) => {
                let customer = match shop {
                    Some(shop) => {
                        nudge_db::customers::find_by_phone(conn, tenant, shop, &phone).await?
                    }
                    None => None,
                };
                Ok(Ok((phone, customer)))
            }
            Err(e) => Ok(Err(FieldError::new("to", e.to_string()))),
        },
        (None, Some(raw)) => {
            let customer = match raw.parse::<CustomerId>() {
                Ok(id) => nudge_db::customers::find(conn, tenant, id).await?,
                Err(_) => None,
            };
            let Some(customer) = customer else {
                return Ok(Err(FieldError::new("customer_id", "no such customer")));
            };
            if shop.is_some_and(|shop| shop.as_uuid() != customer.shop_id) {
                return Ok(Err(FieldError::new(
                    "customer_id",
                    "is a customer of another shop",
                )));
            }
            match PhoneNumber::parse(&customer.phone) {
                Ok(phone) => Ok(Ok((phone, Some(customer)))),
                Err(e) => Err(Error::Internal(anyhow::anyhow!(
                    "customer {} has a stored phone that does not parse: {e}",
                    customer.id
                ))),
            }
        }
    }
}

/// The text to render: a stored template or the request's own body.
pub struct Resolved {
    pub id: Option<TemplateId>,
    pub template: Template,
    /// The template's category; a literal body is marketing unless the request says otherwise.
    pub category: MessageCategory,
    /// The template's image, if any.
    pub media_id: Option<uuid::Uuid>,
}

/// Exactly one of `template` (id or name) and `body`.
pub async fn template(
    conn: &AsyncPgConnection,
    tenant: TenantId,
    request: &SendRequest,
) -> Result<Found<Resolved>, Error> {
    match (&request.template, &request.body) {
        (Some(_), Some(_)) => Ok(Err(FieldError::new(
            "template",
            "give either `template` or `body`, not both",
        ))),
        (None, None) => Ok(Err(FieldError::new(
            "template",
            "`template` or `body` is required",
        ))),
        (None, Some(body)) => Ok(Template::parse(body)
            .map(|template| Resolved {
                id: None,
                template,
                category: MessageCategory::Marketing,
                media_id: None,
            })
            .map_err(|e| FieldError::new("body", e.to_string()))),
        (Some(reference), None) => {
            let row = match reference.parse::<TemplateId>() {
                Ok(id) => nudge_db::templates::find(conn, tenant, id).await?,
                Err(_) => nudge_db::templates::find_by_name(conn, tenant, reference).await?,
            };
            let Some(row) = row else {
                return Ok(Err(FieldError::new(
                    "template",
                    "no template with this id or name",
                )));
            };
            let template = Template::parse(&row.body).map_err(|e| {
                Error::Internal(anyhow::anyhow!(
                    "stored template {} does not parse: {e}",
                    row.id
                ))
            })?;
            let category = MessageCategory::parse(&row.category).ok_or_else(|| {
                Error::Internal(anyhow::anyhow!(
                    "template {} has category '{}'",
                    row.id,
                    row.category
                ))
            })?;
            Ok(Ok(Resolved {
                id: Some(TemplateId::from_uuid(row.id)),
                template,
                category,
                media_id: row.media_id,
            }))
        }
    }
}

/// A `media_id` field: one of the tenant's images (another tenant's is "no such image").
pub async fn media(
    conn: &AsyncPgConnection,
    tenant: TenantId,
    raw: Option<&str>,
) -> Result<Found<Option<uuid::Uuid>>, Error> {
    let Some(raw) = raw else {
        return Ok(Ok(None));
    };
    let found = match raw.parse::<uuid::Uuid>() {
        Ok(id) => nudge_db::media::find(conn, tenant, id).await?,
        Err(_) => None,
    };
    Ok(found
        .map(|media| Some(media.id))
        .ok_or_else(|| FieldError::new("media_id", "no such image")))
}

/// Renders with the request's data; a known customer is available as `customer`
/// (`{{customer.name}}`, `{{customer.phone}}`, and each attribute) unless the data
/// brings its own `customer`.
pub fn render(
    template: &Template,
    from_stored_template: bool,
    mut data: Map<String, Value>,
    customer: Option<&Customer>,
) -> Result<String, Error> {
    if let Some(customer) = customer {
        if !data.contains_key("customer") {
            let mut fields = match &customer.attributes {
                Value::Object(attributes) => attributes.clone(),
                _ => Map::new(),
            };
            fields.insert("phone".into(), Value::String(customer.phone.clone()));
            if let Some(name) = &customer.name {
                fields.insert("name".into(), Value::String(name.clone()));
            }
            data.insert("customer".into(), Value::Object(fields));
        }
    }
    let body = template.render(&data).map_err(|e| match e {
        RenderError::Missing(_) | RenderError::NotScalar(_) => {
            Error::invalid("data", e.to_string())
        }
    })?;
    let field = if from_stored_template { "data" } else { "body" };
    if body.trim().is_empty() {
        return Err(Error::invalid(field, "the rendered message is empty"));
    }
    if body.chars().count() > MAX_RENDERED_CHARS {
        return Err(Error::invalid(
            field,
            format!("the rendered message is longer than {MAX_RENDERED_CHARS} characters"),
        ));
    }
    Ok(body)
}
