//! HTTP routes, one module per resource. `configure` is the whole routing table.

pub(crate) mod api_keys;
pub(crate) mod bot_rules;
pub(crate) mod campaigns;
pub(crate) mod consent;
pub(crate) mod conversations;
pub(crate) mod customers;
pub(crate) mod docs;
pub(crate) mod health;
pub(crate) mod lead_searches;
pub(crate) mod leads;
pub(crate) mod messages;
pub(crate) mod sender_numbers;
pub(crate) mod shops;
pub(crate) mod templates;
pub(crate) mod verified_numbers;
pub(crate) mod webhook_endpoints;

use actix_web::middleware::from_fn;
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

/// Every route of the API, registered once: each handler's `#[utoipa::path]` goes into
/// the OpenAPI description as it is mounted (`crate::openapi::document` builds the
/// description from this same function), so a route cannot be served undocumented or
/// documented unserved, and the tenant-isolation test reads the routes from it.
pub fn configure(cfg: &mut ServiceConfig) {
    // In the order the description presents them: sending first, operations last.
    cfg.service(
        scope::scope("/v1")
            // The last wrap runs first: authenticate and count, then idempotency.
            .wrap(from_fn(crate::idempotency::middleware))
            .wrap(from_fn(crate::limits::middleware))
            .configure(messages::configure)
            .configure(campaigns::configure)
            .configure(conversations::configure)
            .configure(bot_rules::configure)
            .configure(webhook_endpoints::configure)
            .configure(lead_searches::configure)
            .configure(leads::configure)
            .configure(customers::configure)
            .configure(consent::configure)
            .configure(templates::configure)
            .configure(shops::configure)
            .configure(sender_numbers::configure)
            .configure(verified_numbers::configure)
            .configure(api_keys::configure),
    )
    .service(health::healthz)
    .service(health::readyz)
    .configure(docs::configure);
}
