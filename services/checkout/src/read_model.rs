//! Checkout's own copy of catalog's stores and products, built from `catalog.events`.
//!
//! Invariants:
//! - Idempotent: each message is recorded in the inbox (handler [`HANDLER`]) in the same
//!   transaction as its effect; a redelivery changes nothing.
//! - Newest wins: a row keeps the highest `version` it has applied; an older or equal version
//!   (events arrive out of order or twice) is dropped. A deletion is a tombstone with its
//!   version, so a late upsert cannot bring a deleted product back.
//! - Every write acts as the event's store (row-level security), like every tenant write.

use contracts::{Message, RawEnvelope};
use sqlx::PgPool;

use crate::db;

/// The inbox handler name.
pub const HANDLER: &str = "checkout.read-model";

/// What applying an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Applied,
    /// Older than (or as old as) what the read model holds: dropped.
    Stale,
    /// This very message was applied before.
    Duplicate,
    /// Not a read-model event.
    NotMine,
}

/// Applies one catalog event to the read model.
pub async fn apply(
    pool: &PgPool,
    envelope: &RawEnvelope,
    message: &Message,
) -> Result<Applied, sqlx::Error> {
    let store_id = match message {
        Message::StoreCreated(e) => e.store_id,
        Message::StoreUpdated(e) => e.store_id,
        Message::ProductUpserted(e) => e.store_id,
        Message::ProductDeleted(e) => e.store_id,
        _ => return Ok(Applied::NotMine),
    };
    let mut tx = db::begin_for(pool, store_id).await?;
    if !outbox::inbox::record(&mut tx, envelope.id, HANDLER).await? {
        return Ok(Applied::Duplicate);
    }
    let changed = match message {
        Message::StoreCreated(e) => {
            upsert_store(
                &mut tx,
                e.store_id,
                &e.slug,
                &e.name,
                &e.admin_key_hash,
                e.language.as_deref(),
                e.version,
            )
            .await?
        }
        Message::StoreUpdated(e) => {
            upsert_store(
                &mut tx,
                e.store_id,
                &e.slug,
                &e.name,
                &e.admin_key_hash,
                e.language.as_deref(),
                e.version,
            )
            .await?
        }
        Message::ProductUpserted(e) => sqlx::query(
            "INSERT INTO products (id, store_id, sku, name, price_minor, currency, active,
                                   deleted, version)
             VALUES ($1, $2, $3, $4, $5, $6, $7, false, $8)
             ON CONFLICT (id) DO UPDATE SET
                 sku = EXCLUDED.sku, name = EXCLUDED.name, price_minor = EXCLUDED.price_minor,
                 currency = EXCLUDED.currency, active = EXCLUDED.active, deleted = false,
                 version = EXCLUDED.version, updated_at = now()
             WHERE products.version < EXCLUDED.version AND products.store_id = EXCLUDED.store_id",
        )
        .bind(e.product_id)
        .bind(e.store_id)
        .bind(&e.sku)
        .bind(&e.name)
        .bind(e.price_minor)
        .bind(&e.currency)
        .bind(e.active)
        .bind(e.version)
        .execute(&mut *tx)
        .await?
        .rows_affected(),
        Message::ProductDeleted(e) => sqlx::query(
            "INSERT INTO products (id, store_id, deleted, version) VALUES ($1, $2, true, $3)
             ON CONFLICT (id) DO UPDATE SET deleted = true, active = false,
                 version = EXCLUDED.version, updated_at = now()
             WHERE products.version < EXCLUDED.version AND products.store_id = EXCLUDED.store_id",
        )
        .bind(e.product_id)
        .bind(e.store_id)
        .bind(e.version)
        .execute(&mut *tx)
        .await?
        .rows_affected(),
        _ => 0,
    };
    tx.commit().await?;
    Ok(if changed == 1 {
        Applied::Applied
    } else {
        Applied::Stale
    })
}

/// Keeps a store learned from catalog before its StoreCreated arrived: version 0 (the event,
/// version 1 or later, replaces it) and an empty admin key hash (no key verifies against it).
/// A row already there, by id or by slug, wins.
pub async fn learn_store(
    pool: &PgPool,
    id: uuid::Uuid,
    slug: &str,
    name: &str,
    language: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = db::begin_for(pool, id).await?;
    sqlx::query(
        "INSERT INTO stores (id, slug, name, admin_key_hash, language, version)
         VALUES ($1, $2, $3, '', $4, 0)
         ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(slug)
    .bind(name)
    .bind(language)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

async fn upsert_store(
    conn: &mut sqlx::PgConnection,
    id: uuid::Uuid,
    slug: &str,
    name: &str,
    admin_key_hash: &str,
    language: Option<&str>,
    version: i64,
) -> Result<u64, sqlx::Error> {
    // An event without a language (written before catalog had one) keeps what is held.
    Ok(sqlx::query(
        "INSERT INTO stores (id, slug, name, admin_key_hash, language, version)
         VALUES ($1, $2, $3, $4, coalesce($5, 'pt-BR'), $6)
         ON CONFLICT (id) DO UPDATE SET slug = EXCLUDED.slug, name = EXCLUDED.name,
             admin_key_hash = EXCLUDED.admin_key_hash,
             language = coalesce($5, stores.language), version = EXCLUDED.version,
             updated_at = now()
         WHERE stores.version < EXCLUDED.version",
    )
    .bind(id)
    .bind(slug)
    .bind(name)
    .bind(admin_key_hash)
    .bind(language)
    .bind(version)
    .execute(conn)
    .await?
    .rows_affected())
}

/// A store as checkout knows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Store {
    pub id: uuid::Uuid,
    pub slug: String,
    pub name: String,
    pub language: String,
}

pub async fn store_by_slug(pool: &PgPool, slug: &str) -> Result<Option<Store>, sqlx::Error> {
    sqlx::query_as("SELECT id, slug, name, language FROM stores WHERE slug = $1")
        .bind(slug)
        .fetch_optional(pool)
        .await
}

/// The store whose admin key this is (checked against the hash catalog published).
pub async fn store_by_admin_key(pool: &PgPool, key: &str) -> Result<Option<Store>, sqlx::Error> {
    let hash = service_kit::admin_key::hash(key);
    let store: Option<(Store, String)> =
        sqlx::query_as::<_, (uuid::Uuid, String, String, String, String)>(
            "SELECT id, slug, name, language, admin_key_hash FROM stores WHERE admin_key_hash = $1",
        )
        .bind(&hash)
        .fetch_optional(pool)
        .await?
        .map(|(id, slug, name, language, hash)| {
            (
                Store {
                    id,
                    slug,
                    name,
                    language,
                },
                hash,
            )
        });
    Ok(store
        .filter(|(_, stored)| service_kit::admin_key::verify(key, stored))
        .map(|(store, _)| store))
}
