//! Products of one store. Every change bumps the product's version and publishes
//! ProductUpserted (or ProductDeleted) with it in the same transaction, so consumers can drop
//! stale updates. Deletion is soft: the product leaves the store and its search but stays
//! readable by id, for orders that already name it.
//!
//! Stock is shared with reservations, which take units at any moment: the admin API changes it
//! only by adjustment (`stock_delta`, applied to the row as it is when locked), never by setting
//! a count read earlier, so a reservation made between a merchant's read and write is never
//! overwritten. Only creation sets an absolute count.

use chrono::{DateTime, Utc};
use contracts::Envelope;
use contracts::catalog::{ProductDeleted, ProductUpserted};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::error::unique_violation;
use crate::idempotency::{self, Idempotency, Outcome};
use crate::{CatalogError, cursor, db};

/// The most a price (in minor units) may be; keeps sums far from overflow.
const MAX_AMOUNT: i64 = 1_000_000_000_000;
/// The most units the admin API puts on a shelf (a created count, or the result of an
/// adjustment), and the most one adjustment moves. With orders bounded by
/// [`crate::stock::MAX_QUANTITY`] per product, stock arithmetic stays far inside `i64`.
pub const MAX_STOCK: i64 = 1_000_000_000;

/// `POST /admin/products` body.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub sku: String,
    pub price_minor: i64,
    pub currency: String,
    #[serde(default)]
    pub stock: i64,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// `PATCH /admin/products/{id}` body: only the fields to change.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub sku: Option<String>,
    pub price_minor: Option<i64>,
    pub currency: Option<String>,
    /// Refused: an absolute count would overwrite reservations made since it was read. Kept
    /// here only to say so by name, instead of "unknown field".
    pub stock: Option<i64>,
    /// Units to add to the shelf (negative: to remove), applied to the count as it is.
    pub stock_delta: Option<i64>,
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Product {
    pub id: Uuid,
    pub store_id: Uuid,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub price_minor: i64,
    pub currency: String,
    pub stock: i64,
    pub active: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// What a shopper (or checkout, asking about a product its read model has not heard of yet)
/// may read of a product on sale: no stock count, no history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OnSale {
    pub id: Uuid,
    pub store_id: Uuid,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub price_minor: i64,
    pub currency: String,
    /// The product's version, as its ProductUpserted events carry it.
    pub version: i64,
}

impl From<Product> for OnSale {
    fn from(p: Product) -> Self {
        Self {
            id: p.id,
            store_id: p.store_id,
            sku: p.sku,
            name: p.name,
            description: p.description,
            price_minor: p.price_minor,
            currency: p.currency,
            version: p.version,
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

const COLUMNS: &str = "id, store_id, sku, name, description, price_minor, currency, stock, active,
    version, created_at, updated_at, deleted_at";

fn check_name(name: &str) -> Result<String, CatalogError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(CatalogError::invalid("name", "must be 1 to 200 characters"));
    }
    Ok(name.to_owned())
}

fn check_description(description: &str) -> Result<String, CatalogError> {
    if description.chars().count() > 5000 {
        return Err(CatalogError::invalid(
            "description",
            "must be at most 5000 characters",
        ));
    }
    Ok(description.trim().to_owned())
}

fn check_sku(sku: &str) -> Result<String, CatalogError> {
    let ok = (1..=64).contains(&sku.len())
        && sku
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !ok {
        return Err(CatalogError::invalid(
            "sku",
            "must be 1 to 64 letters, digits, '-', '_' or '.'",
        ));
    }
    Ok(sku.to_owned())
}

fn check_price(price: i64) -> Result<i64, CatalogError> {
    if !(0..=MAX_AMOUNT).contains(&price) {
        return Err(CatalogError::invalid(
            "price_minor",
            "must be 0 or more (minor units)",
        ));
    }
    Ok(price)
}

fn check_currency(currency: &str) -> Result<String, CatalogError> {
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(CatalogError::invalid(
            "currency",
            "must be an ISO 4217 code such as BRL or USD",
        ));
    }
    Ok(currency.to_owned())
}

fn check_stock(stock: i64) -> Result<i64, CatalogError> {
    if !(0..=MAX_STOCK).contains(&stock) {
        return Err(CatalogError::invalid(
            "stock",
            format!("must be 0 to {MAX_STOCK}"),
        ));
    }
    Ok(stock)
}

fn check_stock_delta(delta: i64) -> Result<i64, CatalogError> {
    if !(-MAX_STOCK..=MAX_STOCK).contains(&delta) {
        return Err(CatalogError::invalid(
            "stock_delta",
            format!("must be between -{MAX_STOCK} and {MAX_STOCK}"),
        ));
    }
    Ok(delta)
}

fn sku_taken(error: sqlx::Error) -> CatalogError {
    match unique_violation(&error).as_deref() {
        Some("products_store_sku_key") => {
            CatalogError::Conflict("another product of this store has that sku".into())
        }
        _ => CatalogError::from(error),
    }
}

async fn publish_upserted(conn: &mut PgConnection, p: &Product) -> Result<(), sqlx::Error> {
    outbox::enqueue(
        conn,
        Envelope::new(
            Some(p.store_id),
            ProductUpserted {
                product_id: p.id,
                store_id: p.store_id,
                sku: p.sku.clone(),
                name: p.name.clone(),
                description: p.description.clone(),
                price_minor: p.price_minor,
                currency: p.currency.clone(),
                active: p.active,
                version: p.version,
            },
        ),
    )
    .await
}

/// Creates a product; ProductUpserted commits with it. With an idempotency key, the answer
/// (201, the product) is recorded with it, and a repeat gets it back instead of a second one.
pub async fn create(
    pool: &PgPool,
    store_id: Uuid,
    input: NewProduct,
    idem: Option<&Idempotency>,
) -> Result<Outcome<Product>, CatalogError> {
    let name = check_name(&input.name)?;
    let description = check_description(&input.description)?;
    let sku = check_sku(&input.sku)?;
    let price = check_price(input.price_minor)?;
    let currency = check_currency(&input.currency)?;
    let stock = check_stock(input.stock)?;

    let mut tx = db::begin_for(pool, store_id).await?;
    if let Some(idem) = idem
        && let Some(recorded) = idempotency::claim(&mut tx, idem).await?
    {
        return Ok(Outcome::Replayed(recorded));
    }
    let product = sqlx::query_as::<_, Product>(db::sql(format!(
        "INSERT INTO products (id, store_id, sku, name, description, price_minor, currency, stock, active)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(store_id)
    .bind(&sku)
    .bind(&name)
    .bind(&description)
    .bind(price)
    .bind(&currency)
    .bind(stock)
    .bind(input.active)
    .fetch_one(&mut *tx)
    .await
    .map_err(sku_taken)?;
    publish_upserted(&mut tx, &product).await?;
    if let Some(idem) = idem {
        let body = serde_json::to_value(&product)
            .map_err(|e| CatalogError::Database(sqlx::Error::Encode(e.into())))?;
        idempotency::record(&mut tx, idem, 201, body).await?;
    }
    tx.commit().await?;
    Ok(Outcome::Done(product))
}

/// A product of the store by id, deleted or not.
pub async fn get(pool: &PgPool, store_id: Uuid, id: Uuid) -> Result<Product, CatalogError> {
    let mut tx = db::begin_for(pool, store_id).await?;
    let product = sqlx::query_as::<_, Product>(db::sql(format!(
        "SELECT {COLUMNS} FROM products WHERE store_id = $1 AND id = $2"
    )))
    .bind(store_id)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(CatalogError::NotFound("product"))?;
    tx.commit().await?;
    Ok(product)
}

/// A product of the store that is on sale (active, not deleted); anything else is not found.
pub async fn on_sale(pool: &PgPool, store_id: Uuid, id: Uuid) -> Result<OnSale, CatalogError> {
    let product = get(pool, store_id, id).await?;
    if product.deleted_at.is_some() || !product.active {
        return Err(CatalogError::NotFound("product"));
    }
    Ok(product.into())
}

/// The store's live products (not deleted), oldest first, `limit` at a time.
pub async fn list(
    pool: &PgPool,
    store_id: Uuid,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Page<Product>, CatalogError> {
    let after: Option<Uuid> = cursor.map(cursor::decode).transpose()?;
    let mut tx = db::begin_for(pool, store_id).await?;
    let mut items = sqlx::query_as::<_, Product>(db::sql(format!(
        "SELECT {COLUMNS} FROM products
         WHERE store_id = $1 AND deleted_at IS NULL AND ($2::uuid IS NULL OR id > $2)
         ORDER BY id LIMIT $3"
    )))
    .bind(store_id)
    .bind(after)
    .bind(limit + 1)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|p| cursor::encode(&p.id))
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

pub async fn update(
    pool: &PgPool,
    store_id: Uuid,
    id: Uuid,
    patch: ProductPatch,
) -> Result<Product, CatalogError> {
    let name = patch.name.as_deref().map(check_name).transpose()?;
    let description = patch
        .description
        .as_deref()
        .map(check_description)
        .transpose()?;
    let sku = patch.sku.as_deref().map(check_sku).transpose()?;
    let price = patch.price_minor.map(check_price).transpose()?;
    let currency = patch.currency.as_deref().map(check_currency).transpose()?;
    if patch.stock.is_some() {
        return Err(CatalogError::invalid(
            "stock",
            "cannot be set: reservations change it at any moment; send stock_delta, the units \
             to add (or, negative, to remove)",
        ));
    }
    let delta = patch.stock_delta.map(check_stock_delta).transpose()?;

    let mut tx = db::begin_for(pool, store_id).await?;
    if let Some(delta) = delta {
        // Lock the row: a reservation now waits for this change and then takes from the
        // adjusted count, and the count checked here is the one the UPDATE adds to.
        let on_shelf: i64 = sqlx::query_scalar(
            "SELECT stock FROM products
             WHERE store_id = $1 AND id = $2 AND deleted_at IS NULL FOR UPDATE",
        )
        .bind(store_id)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(CatalogError::NotFound("product"))?;
        // Released reservations may lift a count past the cap; taking units away is then
        // still allowed.
        let after = on_shelf.checked_add(delta);
        if !after.is_some_and(|after| after >= 0 && (after <= MAX_STOCK || delta <= 0)) {
            return Err(CatalogError::invalid(
                "stock_delta",
                format!(
                    "would leave the stock outside 0 to {MAX_STOCK}: {on_shelf} units are on \
                     the shelf"
                ),
            ));
        }
    }
    let product = sqlx::query_as::<_, Product>(db::sql(format!(
        "UPDATE products SET
            name = COALESCE($3, name), description = COALESCE($4, description),
            sku = COALESCE($5, sku), price_minor = COALESCE($6, price_minor),
            currency = COALESCE($7, currency), stock = stock + COALESCE($8, 0),
            active = COALESCE($9, active), version = version + 1, updated_at = now()
         WHERE store_id = $1 AND id = $2 AND deleted_at IS NULL
         RETURNING {COLUMNS}"
    )))
    .bind(store_id)
    .bind(id)
    .bind(name)
    .bind(description)
    .bind(sku)
    .bind(price)
    .bind(currency)
    .bind(delta)
    .bind(patch.active)
    .fetch_optional(&mut *tx)
    .await
    .map_err(sku_taken)?
    .ok_or(CatalogError::NotFound("product"))?;
    publish_upserted(&mut tx, &product).await?;
    tx.commit().await?;
    Ok(product)
}

/// Soft-deletes a product: gone from listings, search and reservations; readable by id.
pub async fn delete(pool: &PgPool, store_id: Uuid, id: Uuid) -> Result<(), CatalogError> {
    let mut tx = db::begin_for(pool, store_id).await?;
    let version: i64 = sqlx::query_scalar(
        "UPDATE products SET deleted_at = now(), version = version + 1, updated_at = now()
         WHERE store_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING version",
    )
    .bind(store_id)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(CatalogError::NotFound("product"))?;
    outbox::enqueue(
        &mut tx,
        Envelope::new(
            Some(store_id),
            ProductDeleted {
                product_id: id,
                store_id,
                version,
            },
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_rules() {
        assert!(check_sku("CAFE-250g_v1.2").is_ok());
        assert!(check_sku("café").is_err());
        assert!(check_sku("").is_err());
        assert!(check_currency("BRL").is_ok());
        assert!(check_currency("brl").is_err());
        assert!(check_currency("REAL").is_err());
        assert!(check_price(-1).is_err());
        assert!(check_stock(-1).is_err());
        assert!(check_stock(MAX_STOCK).is_ok());
        assert!(check_stock(MAX_STOCK + 1).is_err());
        assert!(check_stock_delta(-MAX_STOCK).is_ok());
        assert!(check_stock_delta(MAX_STOCK + 1).is_err());
        assert!(check_name("  ").is_err());
        assert_eq!(check_name(" Café ").unwrap(), "Café");
    }
}
