//! Payments: turns `payments.charge` and `payments.void` into gateway calls that never charge
//! twice and survive a flaky or absent gateway (docs/payments.md).
//!
//! Layout:
//! - [`payment`]: the payment's state machine (eight statuses, allowed moves), pure.
//! - [`config`]: payments' settings and the one policy around the gateway.
//! - [`db`]: the tenant transaction (row-level security keyed on `app.store_id`).
//! - [`accounts`]: stores' own gateway accounts, each with its own breaker and limit key.
//! - [`charges`]: the `payments.commands` consumer and the settle job.
//! - [`ratelimit`]: the gateway's rate limit shared through Redis (GCRA), with a local
//!   fallback.
//! - [`gateway`]: the [`gateway::Gateway`] trait, the pagar.me adapter, the status mapping.
//! - [`stores`]: stores' admin-key hashes from catalog's events.
//! - [`settings`]: each store's own gateway account (`/admin/gateway`), its secret sealed.
//! - [`http`]: the merchant's transactions over HTTP (admin key); [`openapi`]: their description.
//! - [`sim`]: the gateway simulator (pagar.me's shape) served by the `gateway-sim` binary and
//!   started in-process by tests.
//!
//! Invariants: a payment row is written `processing` with its idempotency key before the
//! gateway is called; every status change commits with its history row and its event
//! (transactional outbox); money is integer minor units.

pub mod accounts;
pub mod charges;
pub mod config;
pub mod db;
pub mod gateway;
pub mod http;
pub mod openapi;
pub mod payment;
pub mod ratelimit;
pub mod settings;
pub mod sim;
pub mod stores;

use axum::Router;
use bus::{QueueSpec, Topology};
use contracts::exchanges;
use sqlx::PgPool;
use sqlx::migrate::Migrator;

pub use config::PaymentsConfig;

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

/// The whole HTTP API (health is added by the runtime); `sealer` seals stores' gateway
/// secrets.
pub fn router(pool: PgPool, sealer: std::sync::Arc<settings::Sealer>) -> Router {
    http::router(pool, sealer)
}

/// The consumer of `payments.commands`.
pub fn consumers<G: gateway::Gateway>(
    payments: std::sync::Arc<charges::Payments<G>>,
) -> Vec<service_kit::Consumer> {
    let pool = payments.pool().clone();
    vec![
        service_kit::Consumer::new(
            "payments.commands",
            payments,
            bus::ConsumerConfig::default(),
        ),
        service_kit::Consumer::new(
            "payments.catalog-events",
            std::sync::Arc::new(stores::CatalogEvents::new(pool)),
            bus::ConsumerConfig::default(),
        ),
    ]
}

/// How often `payments.reseal` looks for stores' secrets sealed under a previous key.
pub const RESEAL_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// `payments.reseal`: stores' gateway secrets sealed under a previous key
/// (`GATEWAY_SETTINGS_PREVIOUS_KEYS`) are sealed again under the current one, by one replica at
/// a time (the job's advisory lock).
pub fn reseal_job(sealer: std::sync::Arc<settings::Sealer>) -> service_kit::Job {
    service_kit::Job::new("payments.reseal", RESEAL_EVERY, move |pool| {
        let sealer = sealer.clone();
        async move { settings::reseal(&pool, &sealer).await }
    })
}

/// Payments' periodic jobs: the settle job, the inbox trim.
pub fn jobs<G: gateway::Gateway>(
    payments: std::sync::Arc<charges::Payments<G>>,
    config: &PaymentsConfig,
) -> Vec<service_kit::Job> {
    vec![service_kit::Job::new(
        "payments.settle",
        config.settle_every,
        move |_pool| {
            let payments = payments.clone();
            async move { payments.settle_unsettled().await }
        },
    )]
}
