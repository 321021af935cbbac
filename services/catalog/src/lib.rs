//! Catalog: stores (tenants), their products and stock.
//!
//! Layout:
//! - [`config`]: catalog's own settings (base domain, public URL, size caps).
//! - [`error`]: [`CatalogError`], the one error of the domain; mapped to a problem once, in
//!   [`http`].
//! - [`slug`], [`admin_key`], [`hostname`], [`logo`]: value rules as plain functions.
//! - [`custom_domain`]: proving a custom domain with a DNS TXT challenge; only a verified
//!   domain resolves to its store.
//! - [`idempotency`]: `Idempotency-Key` on HTTP writes, recorded with their effect.
//! - [`db`]: the tenant transaction — every write and every tenant read runs in a transaction
//!   that names its store for row-level security.
//! - [`store`], [`product`], [`search`], [`stock`]: the domain, over a pool.
//! - [`http`]: the routes; [`openapi`]: their description.
//!
//! Invariants: every tenant row carries `store_id`, every query filters by it, and Postgres
//! row-level security (forced, keyed on `app.store_id`) refuses the rest as a second wall.
//! Every state change commits with the events it causes (transactional outbox).

pub mod admin_key;
pub mod config;
pub mod cursor;
pub mod custom_domain;
pub mod db;
pub mod error;
pub mod hostname;
pub mod http;
pub mod idempotency;
pub mod logo;
pub mod openapi;
pub mod product;
pub mod search;
pub mod slug;
pub mod stock;
pub mod store;

use axum::Router;
use bus::{QueueSpec, Topology};
use sqlx::PgPool;
use sqlx::migrate::Migrator;

pub use config::CatalogConfig;
pub use error::CatalogError;

/// docs/design.md's port.
pub const PORT: u16 = 8081;

static MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

/// The outbox's migrations and catalog's own.
pub fn migrator() -> Migrator {
    outbox::migrator(&MIGRATIONS)
}

/// Catalog takes the stock commands on `catalog.commands`.
pub fn topology() -> Topology {
    Topology::new().queue(
        QueueSpec::new("catalog.commands")
            .command("catalog.reserve-stock")
            .command("catalog.release-stock")
            .command("catalog.commit-stock"),
    )
}

/// The whole HTTP API (health is added by the runtime).
pub fn router(pool: PgPool, config: CatalogConfig) -> Router {
    http::router(http::AppState::new(pool, config))
}
