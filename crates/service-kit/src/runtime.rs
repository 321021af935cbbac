//! The run loop of a service.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use bus::{Bus, ConsumerConfig, DeadLetterHandler, Handler, RetryQueue, Topology};
use outbox::{Relay, RelayConfig, Retries};
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{ConfigError, ServiceConfig};
use crate::database;
use crate::health::{Check, Health};
use crate::jobs::Job;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("listening: {0}")]
    Io(#[from] std::io::Error),
}

type ConsumeFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
type StartConsumer =
    dyn Fn(Arc<Bus>, Arc<dyn RetryQueue>, CancellationToken) -> ConsumeFuture + Send + Sync;

/// A queue this service consumes, with its handler; restarted with backoff if the broker
/// connection cannot recover by itself. Its retries wait in the service's own outbox.
pub struct Consumer {
    start: Box<StartConsumer>,
}

impl Consumer {
    pub fn new<H: Handler>(queue: &str, handler: Arc<H>, config: ConsumerConfig) -> Self {
        let queue = queue.to_owned();
        Self {
            start: Box::new(move |bus, retries, shutdown| {
                let queue = queue.clone();
                let handler = handler.clone();
                Box::pin(async move {
                    // `consume` returns when shutdown fires; an error restarts it after a
                    // backoff that starts afresh once it has run without one.
                    let what = format!("consumer of {queue} stopped");
                    while let Ok(Some(())) = resilience::retry_until_cancelled(
                        &what,
                        config.backoff,
                        &shutdown,
                        || {
                            bus.consume(
                                &queue,
                                handler.clone(),
                                retries.clone(),
                                config,
                                shutdown.clone(),
                            )
                        },
                        |_| true,
                    )
                    .await
                    {}
                })
            }),
        }
    }

    /// A dead-letter queue drained into a parking store (the ops service): each letter acked
    /// once `handler` has kept it. Restarted with backoff like any consumer.
    pub fn dead_letters<H: DeadLetterHandler>(
        dlq: &str,
        handler: Arc<H>,
        config: ConsumerConfig,
    ) -> Self {
        let dlq = dlq.to_owned();
        Self {
            start: Box::new(move |bus, _retries, shutdown| {
                let dlq = dlq.clone();
                let handler = handler.clone();
                Box::pin(async move {
                    let what = format!("dead-letter consumer of {dlq} stopped");
                    while let Ok(Some(())) = resilience::retry_until_cancelled(
                        &what,
                        config.backoff,
                        &shutdown,
                        || {
                            bus.consume_dead_letters(
                                &dlq,
                                handler.clone(),
                                config,
                                shutdown.clone(),
                            )
                        },
                        |_| true,
                    )
                    .await
                    {}
                })
            }),
        }
    }
}

/// A service being assembled: config and a lazy pool first, so routes can be built, then
/// [`Runtime::run`].
pub struct Runtime {
    pub config: ServiceConfig,
    pub pool: PgPool,
    pub shutdown: CancellationToken,
    /// Periodic jobs: housekeeping by default, plus the service's own ([`Runtime::job`]).
    jobs: Vec<Job>,
    /// Dependency checks of the service's own for `/health/ready`, beside the database and
    /// broker ones ([`Runtime::check`]).
    checks: Vec<Check>,
    /// The bus once connected, for routes that publish directly ([`Runtime::bus_slot`]).
    bus_slot: BusSlot,
}

/// Where the runtime puts its bus once connected: empty until then (and while the broker has
/// never answered), so a route that publishes directly answers 503 instead of waiting.
pub type BusSlot = Arc<std::sync::OnceLock<Arc<Bus>>>;

impl Runtime {
    pub fn new(name: &str, default_port: u16) -> Result<Self, ServiceError> {
        Self::from_config(ServiceConfig::from_env(name, default_port)?)
    }

    /// A runtime from explicit settings: what tests use to run a whole service in-process.
    pub fn from_config(config: ServiceConfig) -> Result<Self, ServiceError> {
        let pool = database::lazy_pool(&config)?;
        Ok(Self {
            config,
            pool,
            shutdown: shutdown_on_signal(),
            jobs: crate::jobs::housekeeping(),
            checks: Vec::new(),
            bus_slot: BusSlot::default(),
        })
    }

    /// Adds a periodic job of the service's own.
    pub fn job(mut self, job: Job) -> Self {
        self.jobs.push(job);
        self
    }

    /// Adds a dependency check to `/health/ready` (Redis, a breaker to a peer, …): a
    /// [`Check::required`] one failing makes the service not ready, a [`Check::degrading`] one
    /// only `degraded`.
    pub fn check(mut self, check: Check) -> Self {
        self.checks.push(check);
        self
    }

    /// The slot the bus lands in once connected: for routes that publish straight to the
    /// broker (ops' retries) rather than through the outbox.
    pub fn bus_slot(&self) -> BusSlot {
        self.bus_slot.clone()
    }

    /// Binds the configured address (`PORT=0`: a port the system picks), then
    /// [`Runtime::serve`]s on it.
    pub async fn run(
        self,
        migrator: &Migrator,
        topology: Topology,
        router: Router,
        consumers: Vec<Consumer>,
    ) -> Result<(), ServiceError> {
        let listener = TcpListener::bind(self.config.addr).await?;
        self.serve(listener, migrator, topology, router, consumers)
            .await
    }

    /// Serves `router` (plus health) on `listener` at once, announcing its address on stdout
    /// ([`crate::Listening`]); then migrates, connects the bus,
    /// starts the relay and `consumers`, and reports ready. Returns once `shutdown` fires (a
    /// signal, or the caller's token) and in-flight work is done.
    pub async fn serve(
        self,
        listener: TcpListener,
        migrator: &Migrator,
        topology: Topology,
        router: Router,
        consumers: Vec<Consumer>,
    ) -> Result<(), ServiceError> {
        let Runtime {
            config,
            pool,
            shutdown,
            jobs,
            checks,
            bus_slot,
        } = self;
        let health = checks
            .into_iter()
            .fold(Health::new(pool.clone()), Health::with_check);
        let router = router.layer(axum::middleware::from_fn_with_state(
            health.migration_gate(),
            crate::health::until_migrated,
        ));
        let app = crate::http::edge(
            router
                .merge(health.router())
                .merge(crate::metrics::router())
                .merge(crate::outbox_status::router(pool.clone()))
                // Every service's unknown route and wrong method are problems too (the API
                // fuzzer found plain empty 404s and 405s), set once here after the merges so
                // they cover every route, the runtime's own included.
                .fallback(|| async { crate::Problem::not_found("route") })
                .method_not_allowed_fallback(|| async { crate::Problem::method_not_allowed() }),
            config.request_timeout,
        );
        let addr = listener.local_addr()?;
        tracing::info!(service = %config.name, %addr, "listening");
        crate::Listening {
            listening: addr,
            service: config.name.clone(),
        }
        .announce();
        let server_shutdown = shutdown.clone();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { server_shutdown.cancelled().await })
                .await
        });

        let work = TaskTracker::new();
        if database::migrate_with_retry(&pool, migrator, &shutdown).await? {
            health.migrated();
            tracing::info!("migrations applied");
            if let Some(bus) = Bus::connect_with_retry(&config.bus(), topology, &shutdown).await {
                let bus = Arc::new(bus);
                health.bus_connected(bus.clone());
                let _ = bus_slot.set(bus.clone());
                let relay = Relay::new(
                    pool.clone(),
                    bus.publisher().clone(),
                    RelayConfig::default(),
                );
                work.spawn(relay.run(shutdown.clone()));
                let retries: Arc<dyn RetryQueue> = Arc::new(Retries::new(pool.clone()));
                for consumer in consumers {
                    work.spawn((consumer.start)(
                        bus.clone(),
                        retries.clone(),
                        shutdown.clone(),
                    ));
                }
                for job in jobs {
                    work.spawn(job.run(pool.clone(), shutdown.clone()));
                }
                work.spawn(crate::outbox_status::export(
                    pool.clone(),
                    Duration::from_secs(15),
                    shutdown.clone(),
                ));
                tracing::info!(service = %config.name, "ready");
                shutdown.cancelled().await;
                work.close();
                if tokio::time::timeout(Duration::from_secs(30), work.wait())
                    .await
                    .is_err()
                {
                    tracing::warn!("in-flight work did not finish within 30 s");
                }
                bus.close().await;
            }
        }
        shutdown.cancel();
        match server.await {
            Ok(result) => result?,
            Err(join) => tracing::error!(%join, "HTTP server task failed"),
        }
        pool.close().await;
        tracing::info!(service = %config.name, "stopped");
        Ok(())
    }
}

/// A token cancelled on SIGINT or SIGTERM.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("installing the SIGTERM handler");
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutdown requested");
        cancel.cancel();
    });
    token
}
