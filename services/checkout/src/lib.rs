//! Checkout: orders, a local read model of products and stores, and the order saga.
//!
//! Layout:
//! - [`order`]: the order's state machine (statuses, reasons, what each reply does), pure.

pub mod order;

use axum::Router;
use bus::{QueueSpec, Topology};
use contracts::exchanges;
use sqlx::PgPool;
use sqlx::migrate::Migrator;

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

pub fn router(_pool: PgPool) -> Router {
    Router::new()
}
