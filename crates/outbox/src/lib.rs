//! Exactly-once effects on top of at-least-once delivery.
//!
//! - [`enqueue`]: write an event (or command) into the `outbox` table inside the caller's
//!   transaction, so the state change and the message commit or vanish together.
//! - [`Relay`]: publishes due rows with confirms and marks them sent. Woken by LISTEN/NOTIFY,
//!   by the next row's due time, and by polling as a fallback; rows are leased (`SKIP LOCKED`,
//!   no transaction held across the broker round trip) so several replicas share the work. A
//!   relay that dies after publishing but before marking lets its lease expire and the row is
//!   published again: delivery is at-least-once. Rows the broker keeps refusing are
//!   [`parking`]-ed.
//! - [`Retries`]: the consumer runtime's retry store — a retry is an outbox row with a due time.
//! - [`classify`]: which database failures pause a consumer and which count as an attempt.
//! - [`inbox::record`]: a consumer records `(message_id, handler)` in the same transaction as its
//!   effect; a redelivered or re-published message finds its row and has no second effect.
//! - [`status`]: the backlog, the oldest unsent row's age, failing and set-aside rows.
//! - [`migrator`]: the outbox and inbox tables, joined to a service's own migrations.

pub mod classify;
pub mod inbox;
pub mod parking;
pub mod relay;
pub mod retries;
pub mod status;

use bus::Outgoing;
use contracts::{Contract, Destination, Envelope, RawEnvelope};
use sqlx::PgConnection;
use sqlx::migrate::Migrator;

pub use relay::{Relay, RelayConfig, RelayError};
pub use retries::{Retries, RetryError};
pub use status::OutboxStatus;

/// The outbox's and inbox's own migrations.
pub static MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

/// A service's migrations preceded by the outbox's, as one migrator (the outbox's versions are
/// tiny numbers, so they sort first).
pub fn migrator(service: &Migrator) -> Migrator {
    Migrator::with_migrations(MIGRATIONS.iter().chain(service.iter()).cloned().collect())
}

/// Writes a typed message to the outbox, bound for its contract's destination.
pub async fn enqueue<P: Contract>(
    conn: &mut PgConnection,
    envelope: Envelope<P>,
) -> Result<(), sqlx::Error> {
    enqueue_raw(conn, &envelope.into_raw(), P::DESTINATION).await
}

/// Writes an already-serialized envelope to the outbox.
pub async fn enqueue_raw(
    conn: &mut PgConnection,
    envelope: &RawEnvelope,
    destination: Destination,
) -> Result<(), sqlx::Error> {
    let message = Outgoing::envelope(envelope, destination);
    let headers = serde_json::to_value(&message.headers).unwrap_or_default();
    sqlx::query(
        "INSERT INTO outbox (message_id, exchange, routing_key, kind, correlation_id, body, headers,
                             mandatory)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(envelope.id)
    .bind(&message.exchange)
    .bind(&message.routing_key)
    .bind(&message.kind)
    .bind(&message.correlation_id)
    .bind(&message.body)
    .bind(headers)
    .bind(message.mandatory)
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes published rows older than `age`; keeps the table small. Returns rows deleted.
pub async fn trim(pool: &sqlx::PgPool, age: chrono::Duration) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM outbox WHERE published_at IS NOT NULL AND published_at < now() - $1::interval",
    )
    .bind(format!("{} seconds", age.num_seconds()))
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
