use actix_web::{web, HttpResponse};

use crate::startup::AppState;

/// The process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// The database answers: webhooks can be stored. SQS is deliberately not part of it:
/// with SQS away, webhooks are still stored (the outbox holds what is queued), so the
/// listener must keep taking them rather than leave the load balancer.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let pinged = async {
        let mut conn = state.conn().await.map_err(|e| e.to_string())?;
        nudge_db::ping(&mut conn).await.map_err(|e| e.to_string())
    }
    .await;
    match pinged {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({"status": "ready"})),
        Err(error) => {
            tracing::warn!(%error, "not ready");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({"status": "unavailable"}))
        }
    }
}
