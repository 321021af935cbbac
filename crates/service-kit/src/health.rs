//! Liveness and readiness.
//!
//! Live: the process serves HTTP. Ready: migrations are done, the database answers a ping and
//! the broker connection is up. A service stays up while a dependency is away and reports
//! not-ready (503 with what is missing) until it returns.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use bus::Bus;
use serde_json::json;
use sqlx::PgPool;

#[derive(Clone)]
pub struct Health {
    pool: PgPool,
    migrated: Arc<OnceLock<()>>,
    bus: Arc<OnceLock<Arc<Bus>>>,
}

impl Health {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            migrated: Arc::default(),
            bus: Arc::default(),
        }
    }

    pub fn migrated(&self) {
        let _ = self.migrated.set(());
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
}

async fn ready(State(health): State<Health>) -> (StatusCode, Json<serde_json::Value>) {
    let database = health.migrated.get().is_some()
        && tokio::time::timeout(
            Duration::from_secs(2),
            sqlx::query("SELECT 1").execute(&health.pool),
        )
        .await
        .is_ok_and(|r| r.is_ok());
    let broker = health.bus.get().is_some_and(|b| b.is_connected());
    let status = if database && broker {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if status == StatusCode::OK { "ready" } else { "not ready" },
        "checks": {"database": database, "broker": broker},
    });
    (status, Json(body))
}
