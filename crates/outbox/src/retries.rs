//! [`Retries`]: the consumer runtime's [`RetryQueue`] in the service's own database.
//!
//! A retry is an outbox row addressed to the work queue (default exchange, routing key = the
//! queue) with `due_at = now() + delay`, committed before the failed delivery is acked. The
//! relay publishes it — confirmed, into the quorum work queue — when it is due. So a retry is
//! as safe as the database and the work queue, survives a broker crash or the loss of a broker
//! node, and waits exactly its own delay (no head-of-line blocking, jitter intact).
//!
//! Idempotent: the row is unique per (message id, queue, attempt), so a delivery that fails
//! again after a redelivery does not schedule a second copy.

use std::future::Future;
use std::pin::Pin;

use bus::{Retry, RetryQueue, ScheduleError};
use sqlx::PgPool;

/// Why a retry could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("message id is not a UUID: {0}")]
    MessageId(#[from] uuid::Error),
    #[error("headers: {0}")]
    Headers(#[from] serde_json::Error),
}

/// Retries kept in `pool`'s outbox table.
#[derive(Debug, Clone)]
pub struct Retries {
    pool: PgPool,
}

impl Retries {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Schedules `retry`; `false` when that very retry was already scheduled.
    pub async fn schedule_retry(&self, retry: &Retry) -> Result<bool, RetryError> {
        let message_id = uuid::Uuid::parse_str(&retry.message.message_id)?;
        let headers = serde_json::to_value(&retry.message.headers)?;
        let mut conn = self.pool.acquire().await?;
        // Counted from the failure, not from when a busy pool let us in.
        let remaining = retry.delay.saturating_sub(retry.failed_at.elapsed());
        let inserted = sqlx::query(
            "INSERT INTO outbox (message_id, exchange, routing_key, kind, correlation_id, body,
                                 headers, mandatory, attempt, due_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,
                     clock_timestamp() + make_interval(secs => $10))
             ON CONFLICT (message_id, routing_key, attempt) DO NOTHING",
        )
        .bind(message_id)
        .bind(&retry.message.exchange)
        .bind(&retry.message.routing_key)
        .bind(&retry.message.kind)
        .bind(&retry.message.correlation_id)
        .bind(&retry.message.body)
        .bind(headers)
        .bind(retry.message.mandatory)
        .bind(i32::try_from(retry.attempt).unwrap_or(i32::MAX))
        .bind(remaining.as_secs_f64())
        .execute(&mut *conn)
        .await?;
        Ok(inserted.rows_affected() == 1)
    }
}

impl RetryQueue for Retries {
    fn schedule(
        &self,
        retry: Retry,
    ) -> Pin<Box<dyn Future<Output = Result<(), ScheduleError>> + Send + '_>> {
        Box::pin(async move {
            self.schedule_retry(&retry)
                .await
                .map(|_| ())
                .map_err(ScheduleError::from)
        })
    }
}
