//! The dead-letter consumer: each letter becomes (or returns to) one row of `failures`.
//!
//! Invariants:
//! - A letter is acked only after its row commits ([`bus::DeadLetterHandler`] answering
//!   `Done`); a database away answers `Unavailable`, so the letter stays in its `.dlq` and the
//!   consumer pauses.
//! - One row per message id. While the row is `parked` (or `discarded`), the same id arriving
//!   again is a redelivery or a duplicate of the same failure and changes nothing. Once it is
//!   `retried`, the same id arriving is a new failure: the earlier one moves into `history`, the
//!   row is `parked` again. A retry marks the row in the transaction that holds its lock while
//!   the message is published, so a message that fails again at once waits for that commit and
//!   is never taken for a duplicate. `deliveries` counts every letter received for the row.

use bus::{DeadLetter, DeadLetterHandler, Outcome};
use sha2::Digest;
use sqlx::PgPool;
use uuid::Uuid;

pub struct Parking {
    pool: PgPool,
}

impl Parking {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

impl DeadLetterHandler for Parking {
    async fn park(&self, letter: DeadLetter) -> Outcome {
        match park(&self.pool, &letter).await {
            Ok(_) => Outcome::Done,
            Err(error) => {
                tracing::warn!(%error, "parking a dead letter failed; it stays in its queue");
                Outcome::Unavailable(format!("parking store: {error}"))
            }
        }
    }
}

/// What a dead letter says about itself, read from its properties and, failing those, its
/// envelope (a malformed body may have neither).
#[derive(Debug, Clone, PartialEq)]
pub struct Parked {
    pub message_id: String,
    pub queue: String,
    pub message_type: Option<String>,
    pub tenant_id: Option<Uuid>,
    pub correlation_id: Option<String>,
    pub body_text: String,
}

impl Parked {
    pub fn of(letter: &DeadLetter) -> Self {
        let envelope: serde_json::Value =
            serde_json::from_slice(&letter.body).unwrap_or(serde_json::Value::Null);
        let field = |name: &str| {
            envelope
                .get(name)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let message_id = letter
            .message_id
            .clone()
            .filter(|id| !id.is_empty())
            .or_else(|| field("id"))
            .unwrap_or_else(|| {
                // No id anywhere: the same bytes in the same queue are the same message.
                let mut hash = sha2::Sha256::new();
                hash.update(letter.queue.as_deref().unwrap_or_default().as_bytes());
                hash.update(&letter.body);
                format!("sha256:{}", service_kit::admin_key::hex(&hash.finalize()))
            });
        Self {
            message_id,
            queue: letter.queue.clone().unwrap_or_else(|| "unknown".to_owned()),
            message_type: letter
                .kind
                .clone()
                .filter(|k| !k.is_empty())
                .or_else(|| field("type")),
            tenant_id: field("tenant_id").and_then(|t| t.parse().ok()),
            correlation_id: letter
                .correlation_id
                .clone()
                .or_else(|| field("correlation_id")),
            body_text: String::from_utf8_lossy(&letter.body).into_owned(),
        }
    }
}

/// Parks `letter`; true when it is a new failure (a new row, or a retried one failing again),
/// false for a redelivery of one already parked (only its `deliveries` count grows).
pub async fn park(pool: &PgPool, letter: &DeadLetter) -> Result<bool, sqlx::Error> {
    let parked = Parked::of(letter);
    let headers = serde_json::to_value(&letter.headers).unwrap_or_default();
    let changed = sqlx::query(
        r#"
        INSERT INTO failures (message_id, queue, message_type, tenant_id, correlation_id,
                              body, body_text, headers, error, error_kind, attempts)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        ON CONFLICT (message_id) DO UPDATE SET
            deliveries = failures.deliveries + 1,
            history = CASE WHEN failures.status = 'retried'
                THEN failures.history || jsonb_build_array(jsonb_build_object(
                    'error', failures.error,
                    'error_kind', failures.error_kind,
                    'attempts', failures.attempts,
                    'queue', failures.queue,
                    'failed_at', failures.last_seen,
                    'retried_at', failures.retried_at,
                    'headers', failures.headers))
                ELSE failures.history END,
            queue = CASE WHEN failures.status = 'retried' THEN EXCLUDED.queue ELSE failures.queue END,
            message_type = CASE WHEN failures.status = 'retried' THEN EXCLUDED.message_type ELSE failures.message_type END,
            tenant_id = CASE WHEN failures.status = 'retried' THEN EXCLUDED.tenant_id ELSE failures.tenant_id END,
            correlation_id = CASE WHEN failures.status = 'retried' THEN EXCLUDED.correlation_id ELSE failures.correlation_id END,
            body = CASE WHEN failures.status = 'retried' THEN EXCLUDED.body ELSE failures.body END,
            body_text = CASE WHEN failures.status = 'retried' THEN EXCLUDED.body_text ELSE failures.body_text END,
            headers = CASE WHEN failures.status = 'retried' THEN EXCLUDED.headers ELSE failures.headers END,
            error = CASE WHEN failures.status = 'retried' THEN EXCLUDED.error ELSE failures.error END,
            error_kind = CASE WHEN failures.status = 'retried' THEN EXCLUDED.error_kind ELSE failures.error_kind END,
            attempts = CASE WHEN failures.status = 'retried' THEN EXCLUDED.attempts ELSE failures.attempts END,
            last_seen = CASE WHEN failures.status = 'retried' THEN now() ELSE failures.last_seen END,
            failure_count = failures.failure_count
                + CASE WHEN failures.status = 'retried' THEN 1 ELSE 0 END,
            status_at = CASE WHEN failures.status = 'retried' THEN now() ELSE failures.status_at END,
            status = CASE WHEN failures.status = 'retried' THEN 'parked' ELSE failures.status END
        RETURNING (xmax = 0) OR failure_count > 1 AND last_seen = now() AS changed
        "#,
    )
    .bind(&parked.message_id)
    .bind(&parked.queue)
    .bind(&parked.message_type)
    .bind(parked.tenant_id)
    .bind(&parked.correlation_id)
    .bind(&letter.body)
    .bind(&parked.body_text)
    .bind(headers)
    .bind(&letter.error)
    .bind(&letter.error_kind)
    .bind(letter.attempts)
    .fetch_one(pool)
    .await?;
    let changed: bool = sqlx::Row::try_get(&changed, "changed")?;
    if changed {
        tracing::info!(
            message_id = %parked.message_id,
            queue = %parked.queue,
            error_kind = letter.error_kind.as_deref().unwrap_or_default(),
            "dead letter parked"
        );
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(body: &[u8]) -> DeadLetter {
        DeadLetter {
            message_id: None,
            kind: None,
            error: None,
            error_kind: None,
            attempts: None,
            body: body.to_vec(),
            queue: Some("payments.commands".into()),
            correlation_id: None,
            headers: Default::default(),
            redelivered: false,
        }
    }

    #[test]
    fn reads_the_envelope_when_the_properties_say_nothing() {
        let tenant = Uuid::now_v7();
        let body = serde_json::json!({
            "id": "m-1", "type": "payments.Charge", "tenant_id": tenant, "correlation_id": "o-1"
        });
        let parked = Parked::of(&letter(body.to_string().as_bytes()));
        assert_eq!(parked.message_id, "m-1");
        assert_eq!(parked.message_type.as_deref(), Some("payments.Charge"));
        assert_eq!(parked.tenant_id, Some(tenant));
        assert_eq!(parked.correlation_id.as_deref(), Some("o-1"));
        assert_eq!(parked.queue, "payments.commands");
    }

    #[test]
    fn a_body_without_an_id_is_named_by_its_bytes() {
        let a = Parked::of(&letter(b"{not json"));
        let b = Parked::of(&letter(b"{not json"));
        assert!(a.message_id.starts_with("sha256:"));
        assert_eq!(a.message_id, b.message_id);
        assert_ne!(a.message_id, Parked::of(&letter(b"other")).message_id);
    }
}
