//! Resolving the references of a send request (shop, recipient, template) within the
//! tenant, and rendering the body. Problems are collected as field errors, so that a
//! client hears about all of them at once.

use nudge_db::models::{Customer, Shop};
use nudge_db::AsyncPgConnection;
use nudge_domain::{
    CustomerId, MessageCategory, PhoneNumber, RenderError, ShopId, Template, TemplateId, TenantId,
};
use serde_json::{Map, Value};

use super::{SendRequest, MAX_RENDERED_CHARS};
use crate::{Error, FieldError};

pub async fn find_shop(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    raw: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Result<Option<Shop>, Error> {
    let Some(raw) = raw else {
        errors.push(FieldError::new("shop_id", "is required"));
        return Ok(None);
    };
    let shop = match raw.parse::<ShopId>() {
        Ok(id) => nudge_db::shops::find(conn, tenant, id).await?,
        Err(_) => None,
    };
    match &shop {
        None => errors.push(FieldError::new("shop_id", "no such shop")),
        Some(shop) if shop.sender_number.is_none() => errors.push(FieldError::new(
            "shop_id",
            "the shop has no sender number: give it one of the tenant's numbers first",
        )),
        Some(_) => {}
    }
    Ok(shop)
}

/// Exactly one of `to` and `customer_id`. A `to` that matches a customer of the shop
/// is linked to them, so their attributes can fill the template.
pub async fn recipient(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    shop: Option<&Shop>,
    request: &SendRequest,
    errors: &mut Vec<FieldError>,
) -> Result<(Option<PhoneNumber>, Option<Customer>), Error> {
    match (&request.to, &request.customer_id) {
        (Some(_), Some(_)) => {
            errors.push(FieldError::new(
                "to",
                "give either `to` or `customer_id`, not both",
            ));
            Ok((None, None))
        }
        (None, None) => {
            errors.push(FieldError::new("to", "`to` or `customer_id` is required"));
            Ok((None, None))
        }
        (Some(raw), None) => match PhoneNumber::parse(raw) {
            Ok(phone) => {
                let customer = match shop {
                    Some(shop) => {
                        nudge_db::customers::find_by_phone(
                            conn,
                            tenant,
                            ShopId::from_uuid(shop.id),
                            &phone,
                        )
                        .await?
                    }
                    None => None,
                };
                Ok((Some(phone), customer))
            }
            Err(e) => {
                errors.push(FieldError::new("to", e.to_string()));
                Ok((None, None))
            }
        },
        (None, Some(raw)) => {
            let customer = match raw.parse::<CustomerId>() {
                Ok(id) => nudge_db::customers::find(conn, tenant, id).await?,
                Err(_) => None,
            };
            let Some(customer) = customer else {
                errors.push(FieldError::new("customer_id", "no such customer"));
                return Ok((None, None));
            };
            if shop.is_some_and(|shop| shop.id != customer.shop_id) {
                errors.push(FieldError::new(
                    "customer_id",
                    "is a customer of another shop",
                ));
                return Ok((None, None));
            }
            match PhoneNumber::parse(&customer.phone) {
                Ok(phone) => Ok((Some(phone), Some(customer))),
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
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    request: &SendRequest,
    errors: &mut Vec<FieldError>,
) -> Result<Option<Resolved>, Error> {
    match (&request.template, &request.body) {
        (Some(_), Some(_)) => {
            errors.push(FieldError::new(
                "template",
                "give either `template` or `body`, not both",
            ));
            Ok(None)
        }
        (None, None) => {
            errors.push(FieldError::new(
                "template",
                "`template` or `body` is required",
            ));
            Ok(None)
        }
        (None, Some(body)) => match Template::parse(body) {
            Ok(template) => Ok(Some(Resolved {
                id: None,
                template,
                category: MessageCategory::Marketing,
                media_id: None,
            })),
            Err(e) => {
                errors.push(FieldError::new("body", e.to_string()));
                Ok(None)
            }
        },
        (Some(reference), None) => {
            let row = match reference.parse::<TemplateId>() {
                Ok(id) => nudge_db::templates::find(conn, tenant, id).await?,
                Err(_) => nudge_db::templates::find_by_name(conn, tenant, reference).await?,
            };
            let Some(row) = row else {
                errors.push(FieldError::new(
                    "template",
                    "no template with this id or name",
                ));
                return Ok(None);
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
            Ok(Some(Resolved {
                id: Some(TemplateId::from_uuid(row.id)),
                template,
                category,
                media_id: row.media_id,
            }))
        }
    }
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
