//! The tenant side every service shares: a transaction that names its store for row-level
//! security, and finding the store behind an admin key from the hashes catalog's events carry.
//!
//! Invariants: `app.store_id` is transaction-local (`set_config(.., true)`), so a pooled
//! connection never carries one store's identity into another's work; an admin key is
//! compared by its hash only ([`crate::admin_key::verify`]).

use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

/// Begins a transaction acting for `store_id` (the policies compare rows with `app.store_id`).
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

/// The store whose admin key this is, in a service's `stores (id, admin_key_hash)` directory
/// (filled from catalog's StoreCreated/StoreUpdated).
pub async fn store_by_admin_key(pool: &PgPool, key: &str) -> Result<Option<Uuid>, sqlx::Error> {
    let hash = crate::admin_key::hash(key);
    let found: Option<(Uuid, String)> =
        sqlx::query_as("SELECT id, admin_key_hash FROM stores WHERE admin_key_hash = $1")
            .bind(&hash)
            .fetch_optional(pool)
            .await?;
    Ok(found
        .filter(|(_, stored)| crate::admin_key::verify(key, stored))
        .map(|(id, _)| id))
}

/// The key of a request's `Authorization: Bearer <key>` header.
pub fn bearer_key(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::admin_key::from_bearer)
}
