//! The listener's routes: health checks and the provider's webhooks.

mod health;
mod inbound;
mod signed_form;
mod status;

use actix_web::web;

pub use signed_form::SignedForm;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/twilio/status", web::post().to(status::receive))
        .route("/twilio/inbound", web::post().to(inbound::receive));
}
