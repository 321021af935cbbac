//! Catalog: stores (tenants), their products and stock.

use axum::Router;
use bus::{QueueSpec, Topology};
use sqlx::PgPool;
use sqlx::migrate::Migrator;

/// design.md's port.
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

pub fn router(_pool: PgPool) -> Router {
    Router::new()
}
