//! `/openapi.json` (the description generated from the code, `crate::openapi`) and
//! `/docs`: a page that renders it. The page is self-contained (no CDN, no assets to
//! fetch), so it works offline and under a strict Content-Security-Policy.

use actix_web::http::header;
use actix_web::{get, HttpResponse};
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(openapi_json).service(docs_page);
}

#[utoipa::path(
    tag = "docs",
    summary = "This API's OpenAPI 3.1 description",
    security(()),
    responses((status = 200, description = "The description (docs/openapi.yaml as JSON)", content_type = "application/json", body = Object))
)]
#[get("/openapi.json")]
async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(crate::openapi::document())
}

const PAGE: &str = include_str!("../../static/docs.html");

#[utoipa::path(
    tag = "docs",
    summary = "The API reference, rendered from /openapi.json",
    security(()),
    responses((status = 200, description = "An HTML page", content_type = "text/html", body = String))
)]
#[get("/docs")]
async fn docs_page() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
        ))
        .body(PAGE)
}
