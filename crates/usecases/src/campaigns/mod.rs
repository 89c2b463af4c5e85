//! Campaigns: a stored template sent to a segment of a shop's customers.
//!
//! `POST /v1/campaigns` validates and stores the campaign only (202); the [`expander`]
//! turns it into messages in the background, a page of customers at a time, applying
//! each recipient's consent, the shop's frequency cap and quiet hours exactly as a
//! single send does (the same `send::ready`; a page stored together). See docs/campaigns.md.

pub mod expander;

use chrono::Utc;
use nudge_db::models::Campaign;
use nudge_db::AsyncPgConnection;
use nudge_domain::{CampaignId, Segment, ShopId, Template, TemplateId, TenantId};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::fields::{check_category, SEND_AT};
use crate::{check, Error, FieldError};

/// `POST /v1/campaigns`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCampaign {
    pub shop_id: Option<String>,
    pub name: Option<String>,
    /// A stored template's id or name.
    pub template: Option<String>,
    /// Data shared by every recipient; each also gets `customer`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: Map<String, Value>,
    /// Default: the template's category.
    pub category: Option<String>,
    /// Default: every customer of the shop.
    #[serde(default)]
    #[schema(value_type = Option<SegmentSchema>)]
    pub segment: Option<Value>,
    /// RFC 3339, from 1 minute to 35 days ahead; default: now.
    pub send_at: Option<String>,
}

/// The audience of a campaign (documentation of `nudge_domain::Segment`, which the
/// domain crate keeps free of web concerns).
#[derive(ToSchema)]
#[allow(dead_code, reason = "read by the OpenAPI description only")]
pub struct SegmentSchema {
    /// Customers whose attributes contain this object (JSON containment, `@>`).
    #[schema(value_type = Object)]
    attributes: Option<Value>,
    /// Customers in one of these consent states; empty or absent: any.
    #[schema(value_type = Option<Vec<String>>, example = json!(["opted_in"]))]
    consent: Option<Vec<String>>,
}

const MAX_NAME_CHARS: usize = 200;

/// Validates a campaign request and stores the campaign, ready for the expander.
pub async fn create(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    request: CreateCampaign,
) -> Result<Campaign, Error> {
    let mut errors = Vec::new();
    let now = Utc::now();
    let shop = crate::send::collect(
        crate::send::find_shop(conn, tenant, request.shop_id.as_deref()).await?,
        &mut errors,
    );
    let name = match request.name.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() && name.chars().count() <= MAX_NAME_CHARS => {
            Some(name.to_owned())
        }
        _ => {
            errors.push(FieldError::new(
                "name",
                format!("is required, 1 to {MAX_NAME_CHARS} characters"),
            ));
            None
        }
    };
    let template = match request.template.as_deref() {
        None => {
            errors.push(FieldError::new("template", "is required (an id or a name)"));
            None
        }
        Some(reference) => {
            let row = match reference.parse::<TemplateId>() {
                Ok(id) => nudge_db::templates::find(conn, tenant, id).await?,
                Err(_) => nudge_db::templates::find_by_name(conn, tenant, reference).await?,
            };
            if row.is_none() {
                errors.push(FieldError::new(
                    "template",
                    "no template with this id or name",
                ));
            }
            row
        }
    };
    if let Some(row) = &template {
        check_shared_variables(&row.body, &request.data, &mut errors);
    }
    let category = request
        .category
        .as_deref()
        .map(|raw| check_category(raw, &mut errors));
    let segment = parse_segment(request.segment, &mut errors);
    let send_at = request
        .send_at
        .as_deref()
        .and_then(|raw| SEND_AT.check(raw, now, &mut errors));
    check(errors)?;
    let (Some(shop), Some(name), Some(template), Some(segment)) = (shop, name, template, segment)
    else {
        return Err(Error::invalid("body", "incomplete request"));
    };
    let category = category.unwrap_or_else(|| {
        nudge_domain::MessageCategory::parse(&template.category)
            .unwrap_or(nudge_domain::MessageCategory::Marketing)
    });
    let audience =
        nudge_db::campaigns::count_audience(conn, tenant, ShopId::from_uuid(shop.id), &segment)
            .await?;
    let campaign = Campaign {
        id: CampaignId::new().as_uuid(),
        tenant_id: tenant.as_uuid(),
        shop_id: shop.id,
        template_id: template.id,
        name,
        category: category.as_str().to_owned(),
        segment: serde_json::to_value(&segment).map_err(|e| Error::Internal(e.into()))?,
        data: Value::Object(request.data),
        send_at,
        status: nudge_db::campaigns::EXPANDING.to_owned(),
        cursor: None,
        available_at: now,
        waiting_reason: None,
        audience_estimate: i32::try_from(audience).unwrap_or(i32::MAX),
        recipients: 0,
        queued: 0,
        scheduled: 0,
        skipped: Value::Object(Map::new()),
        created_at: now,
        updated_at: now,
        expanded_at: None,
        cancelled_at: None,
    };
    Ok(nudge_db::campaigns::insert(conn, &campaign).await?)
}

/// Variables outside `customer` are the same for every recipient: a missing one would
/// fail every message, so it is refused now rather than skipped thousands of times.
fn check_shared_variables(body: &str, data: &Map<String, Value>, errors: &mut Vec<FieldError>) {
    let Ok(template) = Template::parse(body) else {
        return; // stored templates parse; the send path reports it if not
    };
    let missing: Vec<&str> = template
        .variables()
        .into_iter()
        .filter(|name| *name != "customer" && !name.starts_with("customer."))
        .filter(|name| lookup(data, name).is_none())
        .collect();
    if !missing.is_empty() {
        errors.push(FieldError::new(
            "data",
            format!("the template needs {}", missing.join(", ")),
        ));
    }
}

fn lookup<'a>(data: &'a Map<String, Value>, dotted: &str) -> Option<&'a Value> {
    let mut parts = dotted.split('.');
    let mut value = data.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

fn parse_segment(raw: Option<Value>, errors: &mut Vec<FieldError>) -> Option<Segment> {
    let Some(raw) = raw else {
        return Some(Segment::default());
    };
    match serde_json::from_value::<Segment>(raw) {
        Ok(segment) => match segment.validate() {
            Ok(()) => Some(segment),
            Err(e) => {
                errors.push(FieldError::new("segment", e.to_string()));
                None
            }
        },
        Err(e) => {
            errors.push(FieldError::new(
                "segment",
                format!("must be {{\"attributes\": {{...}}, \"consent\": [...]}}: {e}"),
            ));
            None
        }
    }
}
