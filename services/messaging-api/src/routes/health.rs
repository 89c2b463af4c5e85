//! `/healthz`: the process answers. `/readyz`: it can do its work (database and queue
//! reachable); a load balancer sends traffic only when this says 200.

use std::time::Duration;

use actix_web::http::header;
use actix_web::{get, web, HttpResponse};
use serde_json::json;

use crate::error::{ApiError, RETRY_AFTER_SECONDS};
use crate::startup::AppState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let database = tokio::time::timeout(CHECK_TIMEOUT, async {
        let mut conn = state.pool.get().await.map_err(|e| e.to_string())?;
        nudge_db::ping(&mut conn).await.map_err(|e| e.to_string())
    })
    .await
    .unwrap_or_else(|_| Err("timed out".into()));
    let queue = tokio::time::timeout(CHECK_TIMEOUT, state.outbound_queue.check())
        .await
        .map_err(|_| "timed out".to_owned())
        .and_then(|r| r.map_err(|e| e.to_string()));

    let verdict = |result: &Result<_, String>| if result.is_ok() { "ok" } else { "unavailable" };
    let checks = json!({ "database": verdict(&database), "queue": verdict(&queue) });
    if database.is_ok() && queue.is_ok() {
        return HttpResponse::Ok().json(json!({ "status": "ready", "checks": checks }));
    }
    if let Err(error) = &database {
        tracing::warn!(%error, "readiness: database unavailable");
    }
    if let Err(error) = &queue {
        tracing::warn!(%error, "readiness: queue unavailable");
    }
    // The API's own unavailable problem, plus which dependency is down.
    let mut problem = ApiError::Unavailable("readiness check".into()).problem();
    problem["checks"] = checks;
    HttpResponse::ServiceUnavailable()
        .content_type("application/problem+json")
        .insert_header((header::RETRY_AFTER, RETRY_AFTER_SECONDS))
        .json(problem)
}
