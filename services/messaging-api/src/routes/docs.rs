//! `/openapi.json` (the description generated from the code, `crate::openapi`) and
//! `/docs`: a page that renders it. The page is self-contained (no CDN, no assets to
//! fetch), so it works offline and under a strict Content-Security-Policy.

use actix_web::http::header;
use actix_web::{get, web, HttpResponse};
use utoipa::OpenApi;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(openapi_json).service(docs_page);
}

/// This module's part of the OpenAPI description (merged in `crate::openapi`).
#[derive(OpenApi)]
#[openapi(paths(openapi_json, docs_page))]
pub struct Api;

#[utoipa::path(
    get, path = "/openapi.json", tag = "docs",
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
    get, path = "/docs", tag = "docs",
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
