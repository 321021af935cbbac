//! Checkout: guest orders, a local read model of catalog's stores and products, and the order
//! saga it orchestrates over RabbitMQ (docs/checkout.md).
//!
//! Layout:
//! - [`order`]: the order's state machine (statuses, reasons, what each reply does), pure.
//! - [`config`]: checkout's settings (payment deadline, body cap).
//! - [`error`]: [`CheckoutError`], mapped to a problem once, in [`http`].
//! - [`db`]: the tenant transaction (row-level security keyed on `app.store_id`).
//! - [`read_model`]: stores and products from `catalog.events`, newest version wins.
//! - [`catalog`]: asking catalog over HTTP about a product the read model has not heard of.
//! - [`orders`]: placing an order and reading it (shopper by token, merchant by admin key).
//! - [`saga`]: stock and payment replies and the deadline move orders; the bus handlers.
//! - [`http`]: the routes; [`openapi`]: their description.
//!
//! Invariants: every tenant row carries `store_id` and Postgres row-level security (forced)
//! refuses the rest; every state change commits with its timeline entry and the messages it
//! causes (transactional outbox); prices never come from the client.

pub mod catalog;
pub mod config;
pub mod db;
pub mod error;
pub mod http;
pub mod openapi;
pub mod order;
pub mod orders;
pub mod read_model;
pub mod saga;

use std::sync::Arc;

use axum::Router;
use bus::{QueueSpec, Topology};
use contracts::exchanges;
use sqlx::PgPool;
use sqlx::migrate::Migrator;

pub use config::CheckoutConfig;
pub use error::CheckoutError;

/// docs/design.md's port.
pub const PORT: u16 = 8082;

static MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

pub fn migrator() -> Migrator {
    outbox::migrator(&MIGRATIONS)
}

/// The saga listens to catalog (read model, stock answers) and payments.
pub fn topology() -> Topology {
    Topology::new()
        .queue(QueueSpec::new("checkout.catalog-events").events_from(exchanges::CATALOG_EVENTS))
        .queue(QueueSpec::new("checkout.payments-events").events_from(exchanges::PAYMENTS_EVENTS))
}

/// The whole HTTP API (health is added by the runtime).
pub fn router(pool: PgPool, config: CheckoutConfig) -> Router {
    let catalog = catalog::Catalog::new(&config.catalog_url, config.catalog_timeout);
    http::router(http::AppState {
        pool,
        config: Arc::new(config),
        catalog,
    })
}

/// The consumers of [`topology`]'s queues.
pub fn consumers(pool: &PgPool) -> Vec<service_kit::Consumer> {
    use bus::ConsumerConfig;
    vec![
        service_kit::Consumer::new(
            "checkout.catalog-events",
            Arc::new(saga::CatalogEvents::new(pool.clone())),
            ConsumerConfig::default(),
        ),
        service_kit::Consumer::new(
            "checkout.payments-events",
            Arc::new(saga::PaymentsEvents::new(pool.clone())),
            ConsumerConfig::default(),
        ),
    ]
}

/// Checkout's periodic jobs: the payment deadline, the idempotency-key trim.
pub fn jobs(config: &CheckoutConfig) -> Vec<service_kit::Job> {
    vec![
        service_kit::Job::new(
            "checkout.orders.expire",
            config.deadline_every,
            |pool| async move { saga::expire_overdue(&pool).await },
        ),
        service_kit::Job::new(
            "checkout.idempotency-keys.trim",
            std::time::Duration::from_secs(3600),
            |pool| async move { service_kit::idempotency::trim(&pool).await },
        ),
    ]
}
