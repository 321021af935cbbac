//! How far behind a service's outbox is, for operators (`GET /outbox` on every service,
//! `summitctl outbox`) and alerts (`summit_outbox_backlog`, `summit_outbox_oldest_unsent_seconds`,
//! `summit_outbox_failing` on `/metrics`).
//!
//! Read from the table, so every replica tells the same figures: the *backlog* is what is due
//! and unsent (scheduled retries whose time has not come are counted apart: waiting is their
//! job), *failing* is unsent rows the broker has refused at least once and not yet given up on,
//! *set aside* is rows given up on ([`crate::parking`]).

use serde::{Deserialize, Serialize};
use sqlx::PgPool;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct OutboxStatus {
    /// Unsent rows that are due now.
    pub backlog: i64,
    /// Seconds since the oldest due, unsent row was written (null: none).
    pub oldest_unsent_age_s: Option<f64>,
    /// Retries waiting for their due time.
    pub scheduled: i64,
    /// Due or scheduled rows the broker has refused at least once (still being tried).
    pub failing: i64,
    /// Rows set aside after too many refusals: an operator must look.
    pub set_aside: i64,
}

pub async fn status(pool: &PgPool) -> Result<OutboxStatus, sqlx::Error> {
    sqlx::query_as(
        "SELECT \
            count(*) FILTER (WHERE parked_at IS NULL AND due_at <= now()) AS backlog, \
            extract(epoch FROM now() - min(created_at) \
                FILTER (WHERE parked_at IS NULL AND due_at <= now()))::float8 \
                AS oldest_unsent_age_s, \
            count(*) FILTER (WHERE parked_at IS NULL AND due_at > now()) AS scheduled, \
            count(*) FILTER (WHERE parked_at IS NULL AND tries > 0) AS failing, \
            count(*) FILTER (WHERE parked_at IS NOT NULL) AS set_aside \
         FROM outbox WHERE published_at IS NULL",
    )
    .fetch_one(pool)
    .await
}

/// Reads the status and sets the gauges from it.
pub async fn refresh_gauges(pool: &PgPool) -> Result<OutboxStatus, sqlx::Error> {
    let status = status(pool).await?;
    metrics::gauge!("summit_outbox_backlog").set(status.backlog as f64);
    metrics::gauge!("summit_outbox_oldest_unsent_seconds")
        .set(status.oldest_unsent_age_s.unwrap_or(0.0));
    metrics::gauge!("summit_outbox_failing").set(status.failing as f64);
    metrics::gauge!("summit_outbox_parked").set(status.set_aside as f64);
    Ok(status)
}
