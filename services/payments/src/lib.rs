//! Payments: per-store gateway settings, transactions and their status history.

use axum::Router;
use bus::{QueueSpec, Topology};
use contracts::exchanges;
use sqlx::PgPool;
use sqlx::migrate::Migrator;

/// docs/design.md's port.
pub const PORT: u16 = 8083;

static MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

pub fn migrator() -> Migrator {
    outbox::migrator(&MIGRATIONS)
}

/// Payments takes `payments.charge` and `payments.void`, and learns stores' admin keys from
/// catalog's events.
pub fn topology() -> Topology {
    Topology::new()
        .queue(
            QueueSpec::new("payments.commands")
                .command("payments.charge")
                .command("payments.void"),
        )
        .queue(QueueSpec::new("payments.catalog-events").events_from(exchanges::CATALOG_EVENTS))
}

pub fn router(_pool: PgPool) -> Router {
    Router::new()
}
