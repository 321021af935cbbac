//! `GET /outbox` on every service: its outbox's backlog, the age of the oldest unsent row,
//! scheduled retries, failing and set-aside rows ([`outbox::status`]) as JSON — what
//! `summitctl outbox` reads. Counts only, no message content: served without a token, like
//! `/metrics` and `/health`. The same figures are gauges on `/metrics`, refreshed by
//! [`export`] (every replica reads the shared table, so they all agree).

use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::Problem;

pub fn router(pool: PgPool) -> Router {
    Router::new().route("/outbox", get(show)).with_state(pool)
}

async fn show(State(pool): State<PgPool>) -> Result<Json<outbox::OutboxStatus>, Problem> {
    match outbox::status::refresh_gauges(&pool).await {
        Ok(status) => Ok(Json(status)),
        // Before migrations, or the database away: not an answer yet.
        Err(error) => Err(
            Problem::unavailable(format!("the outbox cannot be read: {error}"))
                .retry_after(Duration::from_secs(5)),
        ),
    }
}

/// Refreshes the outbox gauges every `every` until `shutdown`.
pub async fn export(pool: PgPool, every: Duration, shutdown: CancellationToken) {
    loop {
        if let Err(error) = outbox::status::refresh_gauges(&pool).await {
            tracing::debug!(%error, "outbox gauges not refreshed");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
