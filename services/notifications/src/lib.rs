//! Notifications: tells shoppers and merchants what happened, by email and webhook.

use axum::Router;
use bus::{QueueSpec, Topology};
use contracts::exchanges;
use sqlx::PgPool;
use sqlx::migrate::Migrator;

/// docs/design.md's port.
pub const PORT: u16 = 8084;

static MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

pub fn migrator() -> Migrator {
    outbox::migrator(&MIGRATIONS)
}

pub fn topology() -> Topology {
    Topology::new()
        .queue(
            QueueSpec::new("notifications.checkout-events").events_from(exchanges::CHECKOUT_EVENTS),
        )
        .queue(
            QueueSpec::new("notifications.payments-events").events_from(exchanges::PAYMENTS_EVENTS),
        )
        .queue(
            QueueSpec::new("notifications.catalog-events").events_from(exchanges::CATALOG_EVENTS),
        )
}

pub fn router(_pool: PgPool) -> Router {
    Router::new()
}
