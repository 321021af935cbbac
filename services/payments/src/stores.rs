//! Stores' admin-key hashes from catalog's events (`payments.catalog-events`), the newest
//! version winning; every other catalog event is acknowledged and ignored.
//!
//! Invariants: an older version arriving late never overwrites a newer one; the admin key
//! itself is never stored, only catalog's SHA-256 of it.

use bus::{Handler, Incoming, Outcome};
use contracts::Message;
use sqlx::PgPool;
use uuid::Uuid;

use crate::db;

/// Applies a store event; `true` when it changed the table.
pub async fn apply(pool: &PgPool, message: &Message) -> Result<bool, sqlx::Error> {
    let (store_id, hash, version) = match message {
        Message::StoreCreated(e) => (e.store_id, &e.admin_key_hash, e.version),
        Message::StoreUpdated(e) => (e.store_id, &e.admin_key_hash, e.version),
        _ => return Ok(false),
    };
    let mut tx = db::begin_for(pool, store_id).await?;
    let changed = sqlx::query(
        "INSERT INTO stores (id, admin_key_hash, version) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO UPDATE SET admin_key_hash = EXCLUDED.admin_key_hash,
             version = EXCLUDED.version, updated_at = now()
         WHERE stores.version < EXCLUDED.version",
    )
    .bind(store_id)
    .bind(hash)
    .bind(version)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    tx.commit().await?;
    Ok(changed)
}

/// The store whose admin key this is (checked against the hash catalog published).
pub async fn by_admin_key(pool: &PgPool, key: &str) -> Result<Option<Uuid>, sqlx::Error> {
    service_kit::tenant::store_by_admin_key(pool, key).await
}

/// The `payments.catalog-events` consumer.
pub struct CatalogEvents {
    pool: PgPool,
}

impl CatalogEvents {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

impl Handler for CatalogEvents {
    async fn handle(&self, incoming: Incoming) -> Outcome {
        match apply(&self.pool, &incoming.message).await {
            Ok(_) => Outcome::Done,
            Err(e) => outbox::classify::outcome_of(&e),
        }
    }
}
