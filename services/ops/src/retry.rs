//! Sending parked messages back to work.
//!
//! A retry publishes the stored bytes to the queue the message died in (the default exchange
//! routes by queue name; confirmed, persistent, `mandatory`, the same message id and type), and
//! only then marks the row `retried` — in the transaction that locked the row before the
//! publish, so a message that fails again at once waits for it (see [`crate::parking`]). A
//! message that had in fact been processed is absorbed by its consumer's inbox.
//!
//! The republished headers drop the dead-letter history (`x-death` and friends, Summit's
//! dead-letter marker, attempts, the retry delay, the error): the message starts again at
//! attempt 1, as `summitctl dlq replay` does. Trace context and other headers stay.
//!
//! An edit-and-retry ([`edit_and_retry`]) is the same retry with the body replaced first, in
//! the same transaction, the replaced body kept in `edits`: a refused publish rolls all of it
//! back, so a row never holds an edit that was not sent.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bus::{Bus, Outgoing, PublishError};
use sqlx::PgPool;

use crate::edit;
use crate::store::{self, Filters, Row};

#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error("no parked failure with message id {0}")]
    NotFound(String),
    #[error("the failure is {0}, not parked")]
    NotParked(String),
    #[error("the broker is not connected yet")]
    NoBroker,
    #[error("publishing: {0}")]
    Publish(#[from] PublishError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the edit is refused: {0}")]
    Invalid(#[from] edit::Invalid),
}

/// Headers that describe the failure, not the message: never sent back.
fn is_failure_header(name: &str) -> bool {
    name == "x-death"
        || name.starts_with("x-first-death-")
        || name.starts_with("x-last-death-")
        || name == bus::headers::DEAD_LETTER
        || name == bus::headers::ATTEMPTS
        || name == bus::headers::RETRY_DELAY_MS
        || name == bus::headers::ERROR
        || name == bus::headers::ERROR_KIND
}

/// The message as it goes back to its queue.
pub fn outgoing(row: &Row) -> Outgoing {
    let mut headers = BTreeMap::new();
    if let Some(all) = row.headers.as_object() {
        for (name, value) in all {
            if is_failure_header(name) {
                continue;
            }
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                _ => continue,
            };
            headers.insert(name.clone(), text);
        }
    }
    Outgoing {
        exchange: String::new(),
        routing_key: String::new(),
        message_id: row.message_id.clone(),
        kind: row.message_type.clone().unwrap_or_default(),
        correlation_id: row.correlation_id.clone(),
        body: row.body.clone(),
        headers,
        mandatory: true,
    }
    .to_queue(&row.queue)
}

/// Retries one parked message; the row as it is afterwards.
pub async fn retry_one(pool: &PgPool, bus: &Bus, message_id: &str) -> Result<Row, RetryError> {
    retry(pool, bus, message_id, None).await
}

/// Replaces a parked message's body with `edited` (checked by [`edit::validate`]), keeping the
/// body it replaces in `edits`, and retries it. Nothing changes unless the broker confirms the
/// edited message: the audit, the new body and the `retried` mark commit together after it.
pub async fn edit_and_retry(
    pool: &PgPool,
    bus: &Bus,
    message_id: &str,
    edited: &serde_json::Value,
) -> Result<Row, RetryError> {
    retry(pool, bus, message_id, Some(edited)).await
}

async fn retry(
    pool: &PgPool,
    bus: &Bus,
    message_id: &str,
    edited: Option<&serde_json::Value>,
) -> Result<Row, RetryError> {
    let mut tx = pool.begin().await?;
    let row: Option<Row> =
        sqlx::query_as("SELECT * FROM failures WHERE message_id = $1 FOR UPDATE")
            .bind(message_id)
            .fetch_optional(&mut *tx)
            .await?;
    let mut row = row.ok_or_else(|| RetryError::NotFound(message_id.to_owned()))?;
    if row.status != "parked" {
        return Err(RetryError::NotParked(row.status));
    }
    if let Some(edited) = edited {
        let edit = edit::validate(&row, edited)?;
        sqlx::query(
            "INSERT INTO edits (message_id, original_body, edited_body) VALUES ($1, $2, $3)",
        )
        .bind(message_id)
        .bind(&row.body)
        .bind(&edit.body)
        .execute(&mut *tx)
        .await?;
        row = sqlx::query_as(
            "UPDATE failures SET body = $2, body_text = $3, tenant_id = $4 \
             WHERE message_id = $1 RETURNING *",
        )
        .bind(message_id)
        .bind(&edit.body)
        .bind(String::from_utf8_lossy(&edit.body).into_owned())
        .bind(edit.envelope.tenant_id)
        .fetch_one(&mut *tx)
        .await?;
    }
    bus.publisher().publish(&outgoing(&row)).await?;
    let row: Row = sqlx::query_as(
        "UPDATE failures SET status = 'retried', status_at = now(), retried_at = now(), \
         retry_count = retry_count + 1 WHERE message_id = $1 RETURNING *",
    )
    .bind(message_id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(message_id, queue = %row.queue, edited = edited.is_some(), "failure retried");
    Ok(row)
}

/// When the `index`-th message of a bulk retry at `rate_per_s` may leave, from the start.
pub fn slot(index: usize, rate_per_s: f64) -> Duration {
    Duration::from_secs_f64(index as f64 / rate_per_s)
}

/// Retries, in the background, every parked failure matching `filters` (up to `limit`), at
/// most `rate_per_s` a second; returns how many it will try. Interrupted (a restart), it is
/// resumed by asking again: retried rows no longer match.
pub async fn retry_matching(
    pool: &PgPool,
    bus: Arc<Bus>,
    filters: &Filters,
    rate_per_s: f64,
    limit: i64,
) -> Result<usize, sqlx::Error> {
    let filters = Filters {
        status: Some("parked".to_owned()),
        ..filters.clone()
    };
    let ids = store::ids(pool, &filters, limit).await?;
    let count = ids.len();
    let pool = pool.clone();
    tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        let (mut done, mut failed) = (0_usize, 0_usize);
        for (index, id) in ids.iter().enumerate() {
            tokio::time::sleep_until(start + slot(index, rate_per_s)).await;
            match retry_one(&pool, &bus, id).await {
                Ok(_) => done += 1,
                // Someone retried or discarded it meanwhile: nothing to do.
                Err(
                    RetryError::NotParked(_) | RetryError::NotFound(_) | RetryError::Invalid(_),
                ) => {}
                Err(error) => {
                    failed += 1;
                    tracing::warn!(%error, message_id = %id, "bulk retry: one failed");
                }
            }
        }
        tracing::info!(done, failed, "bulk retry finished");
    });
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_space_messages_by_the_rate() {
        assert_eq!(slot(0, 5.0), Duration::ZERO);
        assert_eq!(slot(9, 5.0), Duration::from_millis(1800));
    }
}
