//! Placing an order and reading it back (shopper by token, merchant by admin key).
//!
//! Invariants:
//! - Names, prices, currency and the total come from the read model, never from the client;
//!   each line keeps a snapshot (name, SKU, unit price) that later catalog changes never touch.
//! - A placed order commits with its `pending` timeline entry, OrderPlaced and
//!   `catalog.reserve-stock` (outbox), and its idempotency record — all or nothing. A refused
//!   request stores nothing.
//! - The shopper's token (256 random bits) is stored only as its SHA-256; a repeat of the
//!   Idempotency-Key gets it back from a sealed copy (service_kit::idempotency), never from a
//!   clear one.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use contracts::Envelope;
use contracts::catalog::{ReserveStock, StockLine};
use contracts::checkout::{OrderLine, OrderPlaced};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use service_kit::admin_key::{hash, hex};
use service_kit::idempotency::{self, Idempotency, Outcome};
use sqlx::PgPool;
use uuid::Uuid;

use crate::db;
use crate::error::CheckoutError;
use crate::order::{Language, Reason, Status};
use crate::read_model::Store;

/// Status tokens start with this (recognizable by secret scanners).
pub const TOKEN_PREFIX: &str = "ot_";
pub const MAX_LINES: usize = 100;
pub const MAX_QUANTITY: i64 = 1_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    pub lines: Vec<NewLine>,
    pub customer: NewCustomer,
    pub shipping_address: Address,
    pub payment: Payment,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewLine {
    pub product_id: Uuid,
    pub quantity: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCustomer {
    pub name: String,
    pub email: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub city: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    pub postal_code: String,
    pub country: String,
}

/// Deliberately not `Debug`: the card token never reaches a log line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payment {
    pub card_token: String,
}

impl std::fmt::Debug for Payment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Payment { card_token: [REDACTED] }")
    }
}

fn required(field: &str, value: &str, max: usize) -> Result<(), CheckoutError> {
    let len = value.trim().chars().count();
    if len == 0 {
        return Err(CheckoutError::invalid(field, "is required"));
    }
    if len > max {
        return Err(CheckoutError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}

/// A plausible address: one `@`, a local part, a dotted domain, no spaces.
pub fn is_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= 254
        && !local.is_empty()
        && !domain.contains('@')
        && !email.chars().any(char::is_whitespace)
        && domain.split('.').count() >= 2
        && domain.split('.').all(|part| !part.is_empty())
}

impl NewOrder {
    /// The rules a body must meet before the read model is asked anything.
    pub fn validate(&self) -> Result<(), CheckoutError> {
        if self.lines.is_empty() {
            return Err(CheckoutError::invalid(
                "lines",
                "an order needs at least one line",
            ));
        }
        if self.lines.len() > MAX_LINES {
            return Err(CheckoutError::invalid(
                "lines",
                format!("an order has at most {MAX_LINES} lines"),
            ));
        }
        for (i, line) in self.lines.iter().enumerate() {
            if !(1..=MAX_QUANTITY).contains(&line.quantity) {
                return Err(CheckoutError::invalid(
                    format!("lines[{i}].quantity"),
                    format!("must be between 1 and {MAX_QUANTITY}"),
                ));
            }
        }
        required("customer.name", &self.customer.name, 200)?;
        if !is_email(&self.customer.email) {
            return Err(CheckoutError::invalid(
                "customer.email",
                "is not an email address",
            ));
        }
        let a = &self.shipping_address;
        required("shipping_address.line1", &a.line1, 200)?;
        if let Some(line2) = &a.line2 {
            required("shipping_address.line2", line2, 200)?;
        }
        required("shipping_address.city", &a.city, 100)?;
        if let Some(state) = &a.state {
            required("shipping_address.state", state, 100)?;
        }
        required("shipping_address.postal_code", &a.postal_code, 20)?;
        if a.country.len() != 2 || !a.country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(CheckoutError::invalid(
                "shipping_address.country",
                "must be an ISO 3166-1 alpha-2 code such as BR",
            ));
        }
        required("payment.card_token", &self.payment.card_token, 512)?;
        Ok(())
    }
}

#[derive(sqlx::FromRow)]
struct ProductRow {
    id: Uuid,
    sku: String,
    name: String,
    price_minor: i64,
    currency: String,
    active: bool,
    deleted: bool,
}

/// A new status token and its hash.
fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!("{TOKEN_PREFIX}{}", hex(&bytes));
    let hashed = hash(&token);
    (token, hashed)
}

/// The key scoped to the store, sealing the token of its recorded answer.
pub fn scoped(key: &idempotency::RequestKey, store: &Store) -> Idempotency {
    key.for_store(store.id).sealing("token", TOKEN_PREFIX)
}

/// Places an order: `{order_id, status, token}` (the edge adds `status_url`), or the first
/// answer to this Idempotency-Key.
pub async fn place(
    pool: &PgPool,
    store: &Store,
    input: &NewOrder,
    idem: &Idempotency,
    payment_deadline: Duration,
) -> Result<Outcome<Value>, CheckoutError> {
    input.validate()?;
    let mut tx = db::begin_for(pool, store.id).await?;
    if let Some(recorded) = idempotency::claim(&mut tx, idem).await? {
        return Ok(Outcome::Replayed(recorded));
    }
    let ids: Vec<Uuid> = input.lines.iter().map(|l| l.product_id).collect();
    // Row-level security shows this store's products only: another store's is unknown here.
    let products: HashMap<Uuid, ProductRow> = sqlx::query_as::<_, ProductRow>(
        "SELECT id, sku, name, price_minor, currency, active, deleted FROM products
         WHERE id = ANY($1) AND store_id = $2",
    )
    .bind(&ids)
    .bind(store.id)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|p| (p.id, p))
    .collect();
    let mut currency: Option<&str> = None;
    let mut total: i64 = 0;
    let mut snapshot = Vec::with_capacity(input.lines.len());
    for (i, line) in input.lines.iter().enumerate() {
        let field = format!("lines[{i}].product_id");
        let product = products
            .get(&line.product_id)
            .ok_or_else(|| CheckoutError::invalid(&field, "is not a product of this store"))?;
        if product.deleted || !product.active {
            return Err(CheckoutError::invalid(&field, "is not available"));
        }
        match currency {
            None => currency = Some(&product.currency),
            Some(c) if c != product.currency => {
                return Err(CheckoutError::invalid(
                    &field,
                    format!(
                        "is priced in {}, the order in {c}: mixed currencies",
                        product.currency
                    ),
                ));
            }
            Some(_) => {}
        }
        total = product
            .price_minor
            .checked_mul(line.quantity)
            .and_then(|t| t.checked_add(total))
            .ok_or_else(|| CheckoutError::invalid(&field, "the total is too large"))?;
        snapshot.push((product, line.quantity));
    }
    let currency = currency.unwrap_or_default().to_owned();

    let order_id = Uuid::now_v7();
    let (token, token_hash) = new_token();
    let deadline = chrono::Duration::from_std(payment_deadline)
        .unwrap_or_else(|_| chrono::Duration::minutes(30));
    sqlx::query(
        "INSERT INTO orders (id, store_id, status, token_hash, customer_name, customer_email,
                             shipping_address, total_minor, currency, card_token,
                             payment_deadline)
         VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $8, $9, now() + $10)",
    )
    .bind(order_id)
    .bind(store.id)
    .bind(&token_hash)
    .bind(input.customer.name.trim())
    .bind(input.customer.email.trim())
    .bind(sqlx::types::Json(&input.shipping_address))
    .bind(total)
    .bind(&currency)
    .bind(&input.payment.card_token)
    .bind(deadline)
    .execute(&mut *tx)
    .await?;
    for (position, (product, quantity)) in snapshot.iter().enumerate() {
        sqlx::query(
            "INSERT INTO order_lines (order_id, position, store_id, product_id, sku, name,
                                      unit_price_minor, quantity)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(order_id)
        .bind(position as i32)
        .bind(store.id)
        .bind(product.id)
        .bind(&product.sku)
        .bind(&product.name)
        .bind(product.price_minor)
        .bind(*quantity as i32)
        .execute(&mut *tx)
        .await?;
    }
    crate::saga::timeline(&mut tx, order_id, store.id, Status::Pending, None, None).await?;
    let placed = OrderPlaced {
        order_id,
        store_id: store.id,
        customer_email: input.customer.email.trim().to_owned(),
        lines: snapshot
            .iter()
            .map(|(p, q)| OrderLine {
                product_id: p.id,
                name: p.name.clone(),
                quantity: *q as u32,
                unit_price_minor: p.price_minor,
            })
            .collect(),
        total_minor: total,
        currency: currency.clone(),
    };
    outbox::enqueue(
        &mut tx,
        Envelope::new(Some(store.id), placed).correlated(order_id),
    )
    .await?;
    let reserve = ReserveStock {
        order_id,
        store_id: store.id,
        lines: snapshot
            .iter()
            .map(|(p, q)| StockLine {
                product_id: p.id,
                quantity: *q as u32,
            })
            .collect(),
    };
    outbox::enqueue(
        &mut tx,
        Envelope::new(Some(store.id), reserve).correlated(order_id),
    )
    .await?;
    let body = json!({"order_id": order_id, "status": "pending", "token": token});
    idempotency::record(&mut tx, idem, 202, body.clone()).await?;
    tx.commit().await?;
    Ok(Outcome::Done(body))
}

/// Adds `status_url` to a placement answer (first or replayed).
pub fn with_status_url(mut body: Value) -> Value {
    if let (Some(id), Some(token)) = (
        body["order_id"].as_str().map(str::to_owned),
        body["token"].as_str().map(str::to_owned),
    ) && let Some(object) = body.as_object_mut()
    {
        object.insert(
            "status_url".into(),
            Value::String(format!("/orders/{id}?token={token}")),
        );
    }
    body
}

#[derive(sqlx::FromRow)]
struct OrderRow {
    id: Uuid,
    store_id: Uuid,
    status: String,
    reason: Option<String>,
    customer_name: String,
    customer_email: String,
    shipping_address: Value,
    total_minor: i64,
    currency: String,
    created_at: DateTime<Utc>,
}

/// status, reason, note, at.
type TimelineRow = (String, Option<String>, Option<String>, DateTime<Utc>);

const ORDER_COLUMNS: &str = "id, store_id, status, reason, customer_name, customer_email, \
     shipping_address, total_minor, currency, created_at";

/// An order as JSON: for the shopper (`admin = false`) or the merchant (customer and address
/// too). Lines and timeline are read in `conn`'s transaction, which acts for the order's store.
async fn view(
    conn: &mut sqlx::PgConnection,
    order: OrderRow,
    language: Language,
    admin: bool,
) -> Result<Value, sqlx::Error> {
    let lines: Vec<(Uuid, String, String, i64, i32)> = sqlx::query_as(
        "SELECT product_id, sku, name, unit_price_minor, quantity FROM order_lines
         WHERE order_id = $1 ORDER BY position",
    )
    .bind(order.id)
    .fetch_all(&mut *conn)
    .await?;
    let timeline: Vec<TimelineRow> = sqlx::query_as(
        "SELECT status, reason, note, at FROM order_timeline WHERE order_id = $1 ORDER BY id",
    )
    .bind(order.id)
    .fetch_all(&mut *conn)
    .await?;
    let reason_message = order
        .reason
        .as_deref()
        .and_then(Reason::parse)
        .map(|r| r.message(language));
    let mut body = json!({
        "id": order.id,
        "store_id": order.store_id,
        "status": order.status,
        "reason": order.reason,
        "reason_message": reason_message,
        "lines": lines.iter().map(|(product_id, sku, name, unit, quantity)| json!({
            "product_id": product_id, "sku": sku, "name": name, "unit_price_minor": unit,
            "quantity": quantity, "line_total_minor": unit * i64::from(*quantity),
        })).collect::<Vec<_>>(),
        "total_minor": order.total_minor,
        "currency": order.currency,
        "created_at": order.created_at,
        "timeline": timeline.iter().map(|(status, reason, note, at)| {
            let mut entry = json!({"status": status, "at": at});
            if let Some(reason) = reason { entry["reason"] = json!(reason); }
            if let Some(note) = note { entry["note"] = json!(note); }
            entry
        }).collect::<Vec<_>>(),
    });
    if admin {
        body["customer"] = json!({"name": order.customer_name, "email": order.customer_email});
        body["shipping_address"] = order.shipping_address;
    }
    Ok(body)
}

/// The shopper's view of an order, if `token` is its token (otherwise `NotFound`, exactly as
/// for an unknown id). `language` overrides the store's.
pub async fn by_token(
    pool: &PgPool,
    id: Uuid,
    token: &str,
    language: Option<Language>,
) -> Result<Value, CheckoutError> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "SELECT set_config('app.order_id', $1, true), set_config('app.order_token_hash', $2, true)",
    )
    .bind(id.to_string())
    .bind(hash(token))
    .execute(&mut *tx)
    .await?;
    let order: Option<OrderRow> = sqlx::query_as(db_sql(format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let order = order.ok_or(CheckoutError::NotFound("order"))?;
    db::act_for(&mut tx, order.store_id).await?;
    let store_language: Option<String> =
        sqlx::query_scalar("SELECT language FROM stores WHERE id = $1")
            .bind(order.store_id)
            .fetch_optional(&mut *tx)
            .await?;
    let language =
        language.unwrap_or_else(|| Language::parse(store_language.as_deref().unwrap_or("pt")));
    let body = view(&mut tx, order, language, false).await?;
    tx.commit().await?;
    Ok(body)
}

fn db_sql(query: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(query)
}

/// A merchant's view of one of its orders.
pub async fn for_admin(
    pool: &PgPool,
    store: &Store,
    id: Uuid,
    language: Option<Language>,
) -> Result<Value, CheckoutError> {
    let mut tx = db::begin_for(pool, store.id).await?;
    let order: Option<OrderRow> = sqlx::query_as(db_sql(format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1 AND store_id = $2"
    )))
    .bind(id)
    .bind(store.id)
    .fetch_optional(&mut *tx)
    .await?;
    let order = order.ok_or(CheckoutError::NotFound("order"))?;
    let language = language.unwrap_or_else(|| Language::parse(&store.language));
    let body = view(&mut tx, order, language, true).await?;
    tx.commit().await?;
    Ok(body)
}

/// Filters of the admin listing.
#[derive(Debug, Default)]
pub struct Listing {
    pub status: Option<Status>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub cursor: Option<String>,
    pub limit: i64,
}

/// A store's orders, newest first: `{items, next_cursor}`.
pub async fn list(pool: &PgPool, store: &Store, listing: &Listing) -> Result<Value, CheckoutError> {
    let after: Option<(DateTime<Utc>, Uuid)> = listing
        .cursor
        .as_deref()
        .map(service_kit::cursor::decode)
        .transpose()
        .map_err(|e| CheckoutError::invalid("cursor", e.to_string()))?;
    let mut tx = db::begin_for(pool, store.id).await?;
    let rows: Vec<OrderRow> = sqlx::query_as(db_sql(format!(
        "SELECT {ORDER_COLUMNS} FROM orders
         WHERE store_id = $1
           AND ($2::text IS NULL OR status = $2)
           AND ($3::timestamptz IS NULL OR created_at >= $3)
           AND ($4::timestamptz IS NULL OR created_at < $4)
           AND ($5::timestamptz IS NULL OR (created_at, id) < ($5, $6))
         ORDER BY created_at DESC, id DESC
         LIMIT $7"
    )))
    .bind(store.id)
    .bind(listing.status.map(Status::as_str))
    .bind(listing.from)
    .bind(listing.to)
    .bind(after.map(|(at, _)| at))
    .bind(after.map(|(_, id)| id))
    .bind(listing.limit + 1)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let more = rows.len() as i64 > listing.limit;
    let rows = &rows[..rows.len().min(listing.limit as usize)];
    let next_cursor = more
        .then(|| rows.last())
        .flatten()
        .map(|last| service_kit::cursor::encode(&(last.created_at, last.id)));
    let items: Vec<Value> = rows
        .iter()
        .map(|o| {
            json!({
                "id": o.id, "status": o.status, "reason": o.reason,
                "total_minor": o.total_minor, "currency": o.currency,
                "customer": {"name": o.customer_name, "email": o.customer_email},
                "created_at": o.created_at,
            })
        })
        .collect();
    Ok(json!({"items": items, "next_cursor": next_cursor}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked() {
        assert!(is_email("ana@example.com"));
        assert!(!is_email("ana@example"));
        assert!(!is_email("ana example.com"));
        assert!(!is_email("@example.com"));
        assert!(!is_email("ana@@example.com"));
        assert!(!is_email("ana@example..com"));
    }

    #[test]
    fn tokens_are_256_random_bits_kept_as_hashes() {
        let (a, a_hash) = new_token();
        let (b, _) = new_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 64);
        assert_eq!(a_hash, hash(&a));
        assert!(!a_hash.contains(&a[TOKEN_PREFIX.len()..]));
    }

    #[test]
    fn the_status_url_carries_id_and_token() {
        let body = with_status_url(json!({"order_id": "o1", "token": "ot_1"}));
        assert_eq!(body["status_url"], "/orders/o1?token=ot_1");
    }
}
