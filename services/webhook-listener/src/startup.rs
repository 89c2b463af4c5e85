//! Building and running the service: the HTTP server for the provider's webhooks and,
//! beside it, the background work that follows from them: the outbox relays
//! (`inbound-sms`, and `outbound-sms` for the answers), inbound processing on
//! `inbound-sms`, and the dispatcher of merchants' webhooks. Tests call
//! [`Application::build`] with port 0 and read back the port.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use aws_config::SdkConfig;
use nudge_db::inbound::INBOUND_SMS_QUEUE;
use nudge_db::outbox::OUTBOUND_SMS_QUEUE;
use nudge_db::{DbConn, DbPool};
use nudge_queue::SqsQueue;
use nudge_telemetry::background::Background;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Notify;
use tracing_actix_web::TracingLogger;

use crate::dispatch::Dispatcher;
use crate::error::ListenerError;
use crate::merchant_http::MerchantClient;
use crate::processing::InboundProcessor;
use crate::{routes, Config};

/// What handlers share.
pub struct AppState {
    pub pool: DbPool,
    /// Where the provider calls us; signatures are over this plus the path and query.
    pub public_base_url: String,
    pub auth_token: SecretString,
    /// Opens tenants' provider tokens; `None` when not configured.
    pub keyring: Option<nudge_domain::sealed::Keyring>,
    /// Wakes the `inbound-sms` relay when an inbound SMS was stored.
    pub relay_wakeup: Arc<Notify>,
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
    /// The outbox relays, inbound processing and the webhook dispatcher: stopped with
    /// the server, and the server stopped if one of them fails.
    background: Background,
}

impl Application {
    pub async fn build(config: Config, aws: &SdkConfig) -> anyhow::Result<Self> {
        let pool = nudge_db::build_pool(
            config.database_url.expose_secret(),
            config.database_pool_size,
        )?;
        let timeout = config.webhook_timeout;
        let client = MerchantClient::new(config.webhook_targets, timeout)?;
        let sqs = aws_sdk_sqs::Client::new(aws);
        let inbound_queue = SqsQueue::new(sqs.clone(), &config.inbound_sms_queue);
        let outbound_queue = SqsQueue::new(sqs, &config.outbound_sms_queue);
        let relay_interval = config.outbox_relay_interval;
        let mut background = Background::new();
        let stop = background.stop_token();
        let inbound_wakeup = Arc::new(Notify::new());
        let outbound_wakeup = Arc::new(Notify::new());

        let processor = Arc::new(InboundProcessor {
            pool: pool.clone(),
            client: client.clone(),
            relay_wakeup: outbound_wakeup.clone(),
            queue_name: config.inbound_sms_queue.clone(),
        });
        let dispatcher = Dispatcher {
            pool: pool.clone(),
            client,
            retry_delays: config.webhook_retry_delays_seconds,
            timeout,
        };
        background.spawn(
            "inbound relay",
            nudge_queue::relay::run(
                pool.clone(),
                INBOUND_SMS_QUEUE,
                inbound_queue.clone(),
                inbound_wakeup.clone(),
                relay_interval,
                stop.clone(),
            ),
        );
        background.spawn(
            "outbound relay",
            nudge_queue::relay::run(
                pool.clone(),
                OUTBOUND_SMS_QUEUE,
                outbound_queue,
                outbound_wakeup,
                relay_interval,
                stop.clone(),
            ),
        );
        background.spawn(
            "inbound processing",
            nudge_queue::consumer::run(
                processor,
                inbound_queue,
                config.inbound_concurrency,
                stop.clone(),
            ),
        );
        background.spawn(
            "webhook dispatcher",
            dispatcher.run(config.webhook_dispatch_interval, stop.clone()),
        );

        let state = web::Data::new(AppState {
            pool,
            public_base_url: config.public_base_url,
            auth_token: config.twilio_auth_token,
            keyring: config.keyring,
            relay_wakeup: inbound_wakeup,
        });
        let body_limit = config.webhook_body_limit_bytes;
        let listener = TcpListener::bind((config.http_host.as_str(), config.http_port))?;
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || {
            App::new()
                .wrap(TracingLogger::<nudge_telemetry::http::RequestSpan>::new())
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(body_limit))
                .configure(routes::configure)
        })
        .listen(listener)?
        .shutdown_timeout(10)
        .run();
        Ok(Self {
            port,
            server,
            background,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT/SIGTERM (actix handles both), then stops the background work
    /// (inbound processing drains what it holds, within a bound). A background task
    /// that fails stops the server too, with an error: the process exits non-zero for
    /// its orchestrator to restart it.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        nudge_telemetry::background::serve(self.server, self.background).await
    }
}
