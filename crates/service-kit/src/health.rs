//! Liveness and readiness, as Kubernetes probes them.
//!
//! - `/health/live`: the process serves HTTP. Nothing else: restarting a process never brings
//!   a dependency back.
//! - `/health/ready`: the service can serve requests. That takes its [`Impact::Required`]
//!   checks — built in: migrations applied and the database answering. A failing
//!   [`Impact::Degrading`] check — built in: the broker (HTTP writes still commit to the
//!   outbox and their events flow when it returns); a service adds its own, such as Redis or
//!   an open circuit breaker to a peer ([`Check::breaker`]) — leaves it ready: 200 with status
//!   `degraded` and the reason. Taking every replica out of its Service because RabbitMQ
//!   blinked would turn a partial outage into a full one.
//!
//! The body: `{"status": "ready" | "degraded" | "not ready", "checks": {name: bool},
//! "reasons": {name: why}}` (`reasons` only for failing checks). Checks run concurrently, each
//! given [`CHECK_TIMEOUT`].

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use bus::Bus;
use serde_json::{Map, Value, json};
use sqlx::PgPool;

/// How long one check may take before it counts as failed. Probes must wait longer (the
/// manifests give them 3 s).
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// What a failing dependency does to readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impact {
    /// The service cannot serve without it: not ready (503).
    Required,
    /// The service serves without it, with less: ready (200), status `degraded`.
    Degrading,
}

type ProbeFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// A named dependency check: `Ok(())` when the dependency is usable, `Err(reason)` when not.
#[derive(Clone)]
pub struct Check {
    name: String,
    impact: Impact,
    probe: Arc<dyn Fn() -> ProbeFuture + Send + Sync>,
}

impl Check {
    pub fn new<F, Fut>(name: impl Into<String>, impact: Impact, probe: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        Self {
            name: name.into(),
            impact,
            probe: Arc::new(move || Box::pin(probe())),
        }
    }

    /// A check whose failure makes the service not ready.
    pub fn required<F, Fut>(name: impl Into<String>, probe: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        Self::new(name, Impact::Required, probe)
    }

    /// A check whose failure leaves the service ready but `degraded`.
    pub fn degrading<F, Fut>(name: impl Into<String>, probe: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        Self::new(name, Impact::Degrading, probe)
    }

    /// Degrading while `breaker` (to a peer) is open, named after the breaker.
    pub fn breaker(breaker: Arc<resilience::CircuitBreaker>) -> Self {
        let name = breaker.name().to_owned();
        Self::degrading(name, move || {
            let state = breaker.state();
            async move {
                match state {
                    resilience::BreakerState::Open => Err("circuit breaker open".to_owned()),
                    _ => Ok(()),
                }
            }
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn impact(&self) -> Impact {
        self.impact
    }

    /// Runs the probe within [`CHECK_TIMEOUT`].
    async fn run(&self) -> Result<(), String> {
        match tokio::time::timeout(CHECK_TIMEOUT, (self.probe)()).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {} ms", CHECK_TIMEOUT.as_millis())),
        }
    }
}

/// The health endpoints of one service: the database and broker checks built in, plus the
/// service's own ([`Health::with_check`]).
#[derive(Clone)]
pub struct Health {
    migrated: Arc<OnceLock<()>>,
    bus: Arc<OnceLock<Arc<Bus>>>,
    checks: Vec<Check>,
}

impl Health {
    pub fn new(pool: PgPool) -> Self {
        let migrated: Arc<OnceLock<()>> = Arc::default();
        let bus: Arc<OnceLock<Arc<Bus>>> = Arc::default();
        let database = {
            let migrated = migrated.clone();
            Check::required("database", move || {
                let pool = pool.clone();
                let migrated = migrated.get().is_some();
                async move {
                    if !migrated {
                        return Err("migrations not applied yet".to_owned());
                    }
                    sqlx::query("SELECT 1")
                        .execute(&pool)
                        .await
                        .map(|_| ())
                        .map_err(|error| error.to_string())
                }
            })
        };
        let broker = {
            let bus = bus.clone();
            Check::degrading("broker", move || {
                let state = bus.get().map(|bus| (bus.is_connected(), bus.is_blocked()));
                async move {
                    match state {
                        Some((true, false)) => Ok(()),
                        Some((true, true)) => Err(
                            "the broker blocks publishing (resource alarm); events wait in the outbox"
                                .to_owned(),
                        ),
                        Some((false, _)) => Err("connection lost; reconnecting".to_owned()),
                        None => Err("not connected yet; retrying".to_owned()),
                    }
                }
            })
        };
        Self {
            migrated,
            bus,
            checks: vec![database, broker],
        }
    }

    /// Health for a service that owns neither a database nor a broker connection (the web
    /// edge): only its own checks ([`Health::with_check`]) count.
    pub fn stateless() -> Self {
        Self {
            migrated: Arc::default(),
            bus: Arc::default(),
            checks: Vec::new(),
        }
    }

    /// Adds a dependency check of the service's own.
    pub fn with_check(mut self, check: Check) -> Self {
        self.checks.push(check);
        self
    }

    pub fn migrated(&self) {
        let _ = self.migrated.set(());
    }

    /// Whether the migrations are applied, for [`until_migrated`].
    pub fn migration_gate(&self) -> MigrationGate {
        MigrationGate(self.migrated.clone())
    }

    pub fn bus_connected(&self, bus: Arc<Bus>) {
        let _ = self.bus.set(bus);
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route(
                "/health/live",
                get(|| async { Json(json!({"status": "live"})) }),
            )
            .route("/health/ready", get(ready))
            .with_state(self.clone())
    }

    /// Runs every check: the status code and body `/health/ready` answers with.
    pub async fn readiness(&self) -> (StatusCode, Value) {
        let results = futures_util::future::join_all(self.checks.iter().map(Check::run)).await;
        let mut checks = Map::new();
        let mut reasons = Map::new();
        let (mut required_failed, mut degraded) = (false, false);
        for (check, result) in self.checks.iter().zip(results) {
            checks.insert(check.name.clone(), Value::Bool(result.is_ok()));
            if let Err(reason) = result {
                match check.impact {
                    Impact::Required => required_failed = true,
                    Impact::Degrading => degraded = true,
                }
                reasons.insert(check.name.clone(), Value::String(reason));
            }
        }
        let (status, word) = match (required_failed, degraded) {
            (true, _) => (StatusCode::SERVICE_UNAVAILABLE, "not ready"),
            (false, true) => (StatusCode::OK, "degraded"),
            (false, false) => (StatusCode::OK, "ready"),
        };
        let mut body = json!({"status": word, "checks": checks});
        if !reasons.is_empty() {
            body["reasons"] = Value::Object(reasons);
        }
        (status, body)
    }
}

async fn ready(State(health): State<Health>) -> (StatusCode, Json<Value>) {
    let (status, body) = health.readiness().await;
    (status, Json(body))
}

/// Shared with [`Health`]: set once the service's migrations are applied.
#[derive(Clone)]
pub struct MigrationGate(Arc<OnceLock<()>>);

/// Middleware for a service's own routes: until the migrations are applied, every request is
/// answered 503 (problem+json, `Retry-After: 1`) instead of reaching handlers whose tables may
/// not exist yet. The port is bound and announced before migrating, so a caller can reach the
/// service in that window.
pub async fn until_migrated(
    State(gate): State<MigrationGate>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if gate.0.get().is_some() {
        next.run(request).await
    } else {
        crate::Problem::unavailable("the service is starting: its database is being migrated")
            .retry_after(Duration::from_secs(1))
            .into_response()
    }
}
