//! Building and running the application: the pool, the queue, the relay and the HTTP
//! server. Tests call [`Application::build`] with port 0 and read back the port.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::{web, App, HttpServer};
use aws_config::SdkConfig;
use nudge_db::messages::GroupCommit;
use nudge_db::{DbConn, DbPool};
use nudge_queue::SqsQueue;
use secrecy::ExposeSecret;
use tokio::sync::Notify;

use tracing_actix_web::TracingLogger;
use utoipa_actix_web::AppExt;

use crate::error::ApiError;
use crate::key_cache::KeyCache;
use crate::rate_windows::RateWindows;
use crate::{routes, Config};
use nudge_telemetry::background::Background;
use nudge_telemetry::http::RequestSpan;
use nudge_usecases::send::DailyCounts;

/// What handlers share.
pub struct AppState {
    pub pool: DbPool,
    pub outbound_queue: SqsQueue,
    /// The process's main runtime, where the background loops run. Work that opens
    /// pooled SQS connections from a handler runs there (`/readyz`): a connection opened
    /// on an HTTP worker's runtime dies with it at shutdown, and the outbox relay, still
    /// running then, would lose a send on it after SQS had taken the messages.
    pub main_runtime: tokio::runtime::Handle,
    /// Commits single sends in shared transactions (docs/performance.md); `None`
    /// when configured off.
    pub group_commit: Option<GroupCommit>,
    /// Wakes the outbox relay as soon as a message is accepted.
    pub relay_wakeup: Arc<Notify>,
    /// Wakes the relay of the lead-search queue as soon as a search is accepted.
    pub lead_search_wakeup: Arc<Notify>,
    /// Wakes the campaign expander as soon as a campaign is created.
    pub campaign_wakeup: Arc<Notify>,
    /// Where merchants' webhook and fulfilment URLs may point.
    pub webhook_policy: nudge_domain::TargetPolicy,
    /// Keys' owners, remembered for a few seconds.
    pub key_cache: Arc<KeyCache>,
    /// Tenants' requests of the minute, counted here and flushed.
    pub rate_windows: Arc<RateWindows>,
    /// Tenants' messages of the day, counted now and then (shared with the console).
    pub daily_counts: Arc<DailyCounts>,
}

impl AppState {
    /// A connection, or 503 if the database cannot give one.
    pub async fn conn(&self) -> Result<DbConn, ApiError> {
        Ok(self.pool.get().await.map_err(nudge_db::DbError::from)?)
    }
}

pub struct Application {
    port: u16,
    server: Server,
    /// The outbox relays, the campaign expander, housekeeping and the mailer: stopped
    /// with the server, and the server stopped if one of them fails.
    background: Background,
}

impl Application {
    pub async fn build(config: Config, aws: &SdkConfig) -> anyhow::Result<Self> {
        let pool = nudge_db::build_pool(
            config.database_url.expose_secret(),
            config.database_pool_size,
        )?;
        let queue = SqsQueue::new(aws_sdk_sqs::Client::new(aws), &config.outbound_sms_queue);
        let wakeup = Arc::new(Notify::new());
        let mut background = Background::new();
        let stop_background = background.stop_token();
        background.spawn(
            "outbox relay",
            nudge_queue::relay::run(
                pool.clone(),
                nudge_usecases::send::OUTBOUND_QUEUE,
                queue.clone(),
                wakeup.clone(),
                config.outbox_relay_interval,
                stop_background.clone(),
            ),
        );
        let lead_search_wakeup = Arc::new(Notify::new());
        background.spawn(
            "lead search relay",
            nudge_queue::relay::run(
                pool.clone(),
                nudge_db::lead_searches::LEAD_SEARCHES_QUEUE,
                SqsQueue::new(aws_sdk_sqs::Client::new(aws), &config.lead_searches_queue),
                lead_search_wakeup.clone(),
                config.outbox_relay_interval,
                stop_background.clone(),
            ),
        );
        // The replica's count of each tenant's day, shared by its sends and its campaign
        // pages (docs/performance.md).
        let daily_counts = Arc::new(DailyCounts::new(config.admission.daily_count_refresh));
        let campaign_wakeup = Arc::new(Notify::new());
        background.spawn(
            "campaign expander",
            nudge_usecases::campaigns::expander::run(
                pool.clone(),
                config.campaign_pace,
                daily_counts.clone(),
                campaign_wakeup.clone(),
                wakeup.clone(),
                config.outbox_relay_interval,
                stop_background.clone(),
            ),
        );
        background.spawn(
            "housekeeping",
            crate::housekeeping::run(pool.clone(), stop_background.clone()),
        );
        let key_cache = Arc::new(KeyCache::new(config.admission.key_cache_ttl));
        background.spawn("auth-change listener", {
            let (key_cache, url, stop) = (
                key_cache.clone(),
                config.database_url.clone(),
                stop_background.clone(),
            );
            async move {
                key_cache.follow_changes(url, stop).await;
            }
        });
        let rate_windows = Arc::new(RateWindows::new(config.admission.rate_flush_interval));
        background.spawn("rate-window flusher", {
            let (rate_windows, pool, stop) =
                (rate_windows.clone(), pool.clone(), stop_background.clone());
            async move {
                rate_windows.run(pool, stop).await;
            }
        });
        let mail_wakeup = Arc::new(Notify::new());
        let mailer = nudge_console::mailer::Mailer {
            pool: pool.clone(),
            transport: nudge_console::mailer::Transport::new(&config.console.email, aws)?,
            from: config.console.email_from.clone(),
        };
        background.spawn(
            "mailer",
            mailer.run(mail_wakeup.clone(), stop_background.clone()),
        );
        let trusted_proxies = web::Data::new(config.trusted_proxies);
        // Served over https (as CONSOLE_PUBLIC_URL says): browsers are told to come
        // back only over https, for a year.
        let https = config.console.public_url.scheme() == "https";
        let console = web::Data::new(nudge_console::ConsoleState {
            pool: pool.clone(),
            settings: nudge_console::ConsoleSettings::new(config.console.public_url).with_oidc(
                config
                    .console
                    .oidc
                    .map(nudge_console::OidcProvider::new)
                    .transpose()?,
            ),
            relay_wakeup: wakeup.clone(),
            lead_search_wakeup: lead_search_wakeup.clone(),
            campaign_wakeup: campaign_wakeup.clone(),
            mail_wakeup,
            media: nudge_aws::media_store::MediaStore::new(aws, &config.media_bucket),
            daily_counts: daily_counts.clone(),
            keys_changed: {
                let key_cache = key_cache.clone();
                Arc::new(move |tenant| key_cache.forget_tenant(tenant))
            },
        });
        // Its own connections: requests hold theirs while they wait for their group,
        // so sharing the pool could leave a committer none to commit with.
        let committers = config.admission.group_committers;
        let group_commit = match committers {
            0 => None,
            _ => Some(GroupCommit::start(
                nudge_db::build_pool(config.database_url.expose_secret(), committers)?,
                committers,
            )),
        };
        let state = web::Data::new(AppState {
            pool,
            outbound_queue: queue,
            main_runtime: tokio::runtime::Handle::current(),
            group_commit,
            relay_wakeup: wakeup,
            lead_search_wakeup,
            campaign_wakeup,
            webhook_policy: config.webhook_targets,
            key_cache,
            rate_windows,
            daily_counts,
        });
        let listener = TcpListener::bind((config.http_host.as_str(), config.http_port))?;
        let port = listener.local_addr()?.port();
        let server =
            HttpServer::new(move || {
                App::new()
                    // Middleware answers its refusals as responses (`error_response`),
                    // never as errors: an error passes this by without the header.
                    .wrap(actix_web::middleware::Condition::new(
                        https,
                        actix_web::middleware::DefaultHeaders::new()
                            .add((header::STRICT_TRANSPORT_SECURITY, "max-age=31536000")),
                    ))
                    .wrap(TracingLogger::<RequestSpan>::new())
                    .app_data(state.clone())
                    .app_data(console.clone())
                    .app_data(trusted_proxies.clone())
                    .app_data(web::QueryConfig::default().error_handler(|error, _| {
                        ApiError::invalid("query", error.to_string()).into()
                    }))
                    .app_data(
                        web::PathConfig::default()
                            .error_handler(|_, _| ApiError::NotFound("resource").into()),
                    )
                    .configure(nudge_console::configure)
                    .into_utoipa_app()
                    .configure(routes::configure)
                    .into_app()
                    .default_service(web::to(|| async {
                        Err::<actix_web::HttpResponse, _>(ApiError::NotFound("route"))
                    }))
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

    /// Serves until SIGINT/SIGTERM (actix handles both), then stops the background tasks.
    /// A background task that fails stops the server too, with an error: the process
    /// exits non-zero for its orchestrator to restart it.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        nudge_telemetry::background::serve(self.server, self.background).await
    }
}
