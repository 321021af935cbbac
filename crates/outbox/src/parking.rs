//! Rows set aside: outbox rows the broker refused `park_after` times (no queue bound for a
//! command, a queue that keeps nacking). They stay in the table for operators to read, fix and
//! release; `summit_outbox_parked` counts them so an alert can fire.

use sqlx::PgPool;
use uuid::Uuid;

/// One parked row, as an operator reads it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Parked {
    pub id: i64,
    pub message_id: Uuid,
    pub exchange: String,
    pub routing_key: String,
    pub kind: String,
    pub tries: i32,
    pub last_error: Option<String>,
    pub parked_at: chrono::DateTime<chrono::Utc>,
}

/// Every parked row, oldest first.
pub async fn list(pool: &PgPool) -> Result<Vec<Parked>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, message_id, exchange, routing_key, kind, tries, last_error, parked_at
         FROM outbox WHERE parked_at IS NOT NULL AND published_at IS NULL ORDER BY parked_at, id",
    )
    .fetch_all(pool)
    .await
}

/// Puts a parked row back in line (after the cause is fixed, e.g. the missing binding
/// declared), with its refusals forgotten. Returns whether a parked row was released.
pub async fn release(pool: &PgPool, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE outbox SET parked_at = NULL, tries = 0, due_at = now(), leased_until = NULL
         WHERE id = $1 AND parked_at IS NOT NULL AND published_at IS NULL",
    )
    .bind(id)
    .execute(pool)
    .await?;
    refresh_gauge(pool).await;
    Ok(done.rows_affected() == 1)
}

/// Sets `summit_outbox_parked` to the number of parked rows.
pub(crate) async fn refresh_gauge(pool: &PgPool) {
    match sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM outbox WHERE parked_at IS NOT NULL AND published_at IS NULL",
    )
    .fetch_one(pool)
    .await
    {
        Ok(parked) => metrics::gauge!("summit_outbox_parked").set(parked as f64),
        Err(error) => tracing::debug!(%error, "counting parked outbox rows"),
    }
}
