//! The small HTTP server every worker runs beside its work: `/metrics` (OpenMetrics
//! text) and `/healthz`, on one worker thread, stopped with the service.

use actix_web::{web, App, HttpResponse, HttpServer};
use tokio_util::sync::CancellationToken;

/// What the server answers.
pub trait Scrape: Clone + Send + 'static {
    /// The OpenMetrics text of the service's registry.
    fn scrape(&self) -> String;

    /// Whether `/healthz` answers 200 (otherwise 503).
    fn healthy(&self) -> bool {
        true
    }
}

/// The metrics port of a worker, bound when the service is built (so a port taken fails
/// the start, not the first scrape), or nothing when metrics are off.
pub struct MetricsListener(Option<std::net::TcpListener>);

impl MetricsListener {
    /// Binds `address`, the value of the setting `variable` (named in the error);
    /// `None`: metrics are off.
    pub fn bind(variable: &str, address: Option<std::net::SocketAddr>) -> std::io::Result<Self> {
        let Some(address) = address else {
            return Ok(Self(None));
        };
        std::net::TcpListener::bind(address)
            .map(|listener| Self(Some(listener)))
            .map_err(|error| {
                std::io::Error::new(
                    error.kind(),
                    format!("cannot listen on {variable} {address}: {error}"),
                )
            })
    }

    /// Serves `source` until `stop` (see [`serve`]); the handle, when serving, to await
    /// for the last scrape.
    pub fn serve<S: Scrape>(
        self,
        source: S,
        stop: CancellationToken,
    ) -> std::io::Result<Option<tokio::task::JoinHandle<()>>> {
        let Some(listener) = self.0 else {
            return Ok(None);
        };
        tracing::info!(address = %listener.local_addr()?, "metrics at /metrics, health at /healthz");
        serve(listener, source, stop).map(Some)
    }
}

/// Serves `/metrics` and `/healthz` on `listener` until `stop` is cancelled.
pub fn serve<S: Scrape>(
    listener: std::net::TcpListener,
    source: S,
    stop: CancellationToken,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(source.clone()))
            .route("/metrics", web::get().to(metrics::<S>))
            .route("/healthz", web::get().to(health::<S>))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    let handle = server.handle();
    Ok(tokio::spawn(async move {
        tokio::select! {
            _ = server => {}
            () = stop.cancelled() => handle.stop(true).await,
        }
    }))
}

async fn metrics<S: Scrape>(source: web::Data<S>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(source.scrape())
}

async fn health<S: Scrape>(source: web::Data<S>) -> HttpResponse {
    if source.healthy() {
        HttpResponse::Ok().body("ok")
    } else {
        HttpResponse::ServiceUnavailable().body("not ready")
    }
}
