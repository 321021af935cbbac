//! The tenant transaction: names its store in `app.store_id` (transaction-local), which the
//! row-level security policies compare every tenant row against. The setting dies with the
//! transaction, so a pooled connection never carries one store's identity into another's work.

use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

/// Begins a transaction acting for `store_id`.
pub async fn begin_for(
    pool: &PgPool,
    store_id: Uuid,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT set_config('app.store_id', $1, true)")
        .bind(store_id.to_string())
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}
