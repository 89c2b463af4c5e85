//! HTTP routes, one module per resource. `configure` is the whole routing table.

mod api_keys;
mod campaigns;
mod consent;
mod customers;
mod health;
mod messages;
mod shops;
mod templates;

use actix_web::middleware::from_fn;
use actix_web::web;

pub use templates::check_category;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(
            web::scope("/v1")
                // The last wrap runs first: authenticate and count, then idempotency.
                .wrap(from_fn(crate::idempotency::middleware))
                .wrap(from_fn(crate::limits::middleware))
                .configure(api_keys::configure)
                .configure(shops::configure)
                .configure(customers::configure)
                .configure(consent::configure)
                .configure(templates::configure)
                .configure(messages::configure)
                .configure(campaigns::configure),
        );
}
