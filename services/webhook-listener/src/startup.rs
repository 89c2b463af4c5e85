//! Building and running the HTTP server. Tests call [`Application::build`] with port 0
//! and read back the port.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use nudge_db::{DbConn, DbPool};
use secrecy::{ExposeSecret, SecretString};
use tracing_actix_web::TracingLogger;

use crate::error::ListenerError;
use crate::{routes, Config};

/// What handlers share.
pub struct AppState {
    pub pool: DbPool,
    /// Where the provider calls us; signatures are over this plus the path and query.
    pub public_base_url: String,
    pub auth_token: SecretString,
}

impl AppState {
    pub async fn conn(&self) -> Result<DbConn, ListenerError> {
        Ok(self.pool.get().await.map_err(nudge_db::DbError::from)?)
    }

    /// The URL the provider signed for this request.
    pub fn public_url(&self, request: &actix_web::HttpRequest) -> String {
        let mut url = format!("{}{}", self.public_base_url, request.path());
        if !request.query_string().is_empty() {
            url.push('?');
            url.push_str(request.query_string());
        }
        url
    }

    pub fn auth_token(&self) -> &str {
        self.auth_token.expose_secret()
    }
}

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    pub fn build(config: Config) -> anyhow::Result<Self> {
        let pool = nudge_db::build_pool(
            config.database_url.expose_secret(),
            config.database_pool_size,
        )?;
        let state = web::Data::new(AppState {
            pool,
            public_base_url: config.public_base_url,
            auth_token: config.twilio_auth_token,
        });
        let body_limit = config.webhook_body_limit_bytes;
        let listener = TcpListener::bind((config.http_host.as_str(), config.http_port))?;
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || {
            App::new()
                .wrap(TracingLogger::default())
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(body_limit))
                .configure(routes::configure)
        })
        .listen(listener)?
        .shutdown_timeout(10)
        .run();
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT/SIGTERM (actix handles both).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
