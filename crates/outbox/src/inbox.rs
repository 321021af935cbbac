//! The inbox: "has this handler already applied this message?", answered inside the handler's
//! own transaction.
//!
//! Two concurrent deliveries of one message both try the insert; the second waits on the
//! first's row lock and, once the first commits, inserts nothing. If the first rolls back, the
//! second proceeds. Either way the effect happens once.

use sqlx::PgConnection;
use uuid::Uuid;

/// Records that `handler` processed `message_id`. `true` the first time — apply the effect;
/// `false` when already recorded — skip it and ack.
pub async fn record(
    conn: &mut PgConnection,
    message_id: Uuid,
    handler: &str,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO inbox (message_id, handler) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(message_id)
    .bind(handler)
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Deletes inbox rows older than `age`: redeliveries come within minutes, not weeks.
pub async fn trim(pool: &sqlx::PgPool, age: chrono::Duration) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM inbox WHERE processed_at < now() - $1::interval")
        .bind(format!("{} seconds", age.num_seconds()))
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}
