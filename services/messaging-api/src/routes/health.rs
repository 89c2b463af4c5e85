//! `/healthz`: the process answers. `/readyz`: it can do its work (database and queue
//! reachable); a load balancer sends traffic only when this says 200.

use crate::error::Problem;
use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::http::header;
use actix_web::{get, web, HttpResponse};
use serde_json::json;

use crate::error::{ApiError, RETRY_AFTER_SECONDS};
use crate::startup::AppState;
use crate::views::HealthView;

const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

#[utoipa::path(
    tag = "health",
    summary = "Liveness: the process answers",
    security(()),
    responses((status = 200, description = "Alive", body = HealthView))
)]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(HealthView {
        status: "ok".into(),
        checks: None,
    })
}

#[utoipa::path(
    tag = "health",
    summary = "Readiness: the database and the queue answer",
    security(()),
    responses(
        (status = 200, description = "Ready", body = HealthView),
        (status = 503, description = "`unavailable`, with `checks`", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let database = tokio::time::timeout(CHECK_TIMEOUT, async {
        let mut conn = state.pool.get().await.map_err(|e| e.to_string())?;
        nudge_db::ping(&mut conn).await.map_err(|e| e.to_string())
    })
    .await
    .unwrap_or_else(|_| Err("timed out".into()));
    // On the main runtime, so that the connection it opens outlives this worker.
    let check = {
        let queue = state.outbound_queue.clone();
        state
            .main_runtime
            .spawn(async move { queue.check().await.map_err(|e| e.to_string()) })
    };
    let queue = tokio::time::timeout(CHECK_TIMEOUT, check)
        .await
        .map_err(|_| "timed out".to_owned())
        .and_then(|joined| joined.map_err(|e| e.to_string()).and_then(|r| r));

    let verdict = |result: &Result<_, String>| if result.is_ok() { "ok" } else { "unavailable" };
    let checks = BTreeMap::from([
        ("database".to_owned(), verdict(&database).to_owned()),
        ("queue".to_owned(), verdict(&queue).to_owned()),
    ]);
    if database.is_ok() && queue.is_ok() {
        return HttpResponse::Ok().json(HealthView {
            status: "ready".into(),
            checks: Some(checks),
        });
    }
    if let Err(error) = &database {
        tracing::warn!(%error, "readiness: database unavailable");
    }
    if let Err(error) = &queue {
        tracing::warn!(%error, "readiness: queue unavailable");
    }
    // The API's own unavailable problem, plus which dependency is down.
    let mut problem = ApiError::Unavailable("readiness check".into()).problem();
    problem["checks"] = json!(checks);
    HttpResponse::ServiceUnavailable()
        .content_type("application/problem+json")
        .insert_header((header::RETRY_AFTER, RETRY_AFTER_SECONDS))
        .json(problem)
}
