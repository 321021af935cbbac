//! Ops: the parking store of dead letters (docs/ops.md).
//!
//! Every work queue `Q` of the platform dead-letters into `Q.dlq`; this service drains each
//! `.dlq` into Postgres, one row per message id, and serves operators (`summitctl failures`,
//! the coming web console) over `/ops/…` with an operator token. Browsing a live `.dlq` with
//! get/requeue reorders and redelivers; the store keeps every failure put, searchable and
//! replayable.
//!
//! Layout:
//! - [`parking`]: the dead-letter consumer: a letter is acked only once its row commits; a
//!   redelivery changes nothing, a message that fails again after a retry returns to its row
//!   with the earlier failure in its history.
//! - [`store`]: reading the store: filters, keyset pages, groups (each with a short id), the
//!   audit of edits, the archive and its trim.
//! - [`edit`]: checking an operator's edited body against the message's contract.
//! - [`retry`]: sending a parked message back to the queue it came from (confirmed, mandatory,
//!   the same message id) before its row says `retried`; bulk retries at a set rate.
//! - [`http`]: `/ops/…`, behind `Authorization: Bearer <OPS_TOKEN>`; [`openapi`]: its
//!   description at `/openapi.json`.
//! - [`queues`]: every work queue with its `.dlq`, depth, consumers, parked failures and rates.
//! - [`metrics`]: `summit_parked_failures{queue, type, kind}` on `/metrics`.
//! - [`config`]: ops' settings from the environment.

pub mod config;
pub mod edit;
pub mod http;
pub mod metrics;
pub mod openapi;
pub mod parking;
pub mod queues;
pub mod retry;
pub mod store;

use std::sync::Arc;

use axum::Router;
use bus::{ConsumerConfig, QueueSpec, Topology};
use sqlx::migrate::Migrator;

pub use config::OpsConfig;

/// docs/design.md's port.
pub const PORT: u16 = 8085;

/// Every work queue of the platform (each service's `topology()`); ops drains `<queue>.dlq` of
/// each. The one place this list lives: a new work queue is added here too (a test compares it
/// with the services' `topology()`; `OPS_QUEUES` overrides it at run time).
pub const WORK_QUEUES: &[&str] = &[
    // catalog
    "catalog.commands",
    // checkout
    "checkout.catalog-events",
    "checkout.payments-events",
    // payments
    "payments.commands",
    "payments.catalog-events",
    // notifications
    "notifications.checkout-events",
    "notifications.payments-events",
    "notifications.catalog-events",
    "notifications.send-email",
    "notifications.send-webhook",
];

static MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

/// The store's tables, joined to the outbox's (the runtime's relay reads them).
pub fn migrator() -> Migrator {
    outbox::migrator(&MIGRATIONS)
}

/// The work queues and their dead-letter queues, declared as their owners declare them
/// (same arguments, no bindings: the owners bind), so ops can start first.
pub fn topology(queues: &[String]) -> Topology {
    queues
        .iter()
        .fold(Topology::new(), |t, q| t.queue(QueueSpec::new(q.as_str())))
}

/// One dead-letter consumer per work queue, all parking into `pool`.
pub fn consumers(pool: &sqlx::PgPool, queues: &[String]) -> Vec<service_kit::Consumer> {
    let parking = Arc::new(parking::Parking::new(pool.clone()));
    queues
        .iter()
        .map(|q| {
            service_kit::Consumer::dead_letters(
                &bus::topology::dead_letter_queue(q),
                parking.clone(),
                consumer_config(),
            )
        })
        .collect()
}

/// Small prefetch: parking is one statement per letter.
pub fn consumer_config() -> ConsumerConfig {
    ConsumerConfig {
        prefetch: 16,
        ..ConsumerConfig::default()
    }
}

/// Deletes archived (discarded) failures older than `days`, hourly, in one replica at a time.
pub fn archive_trim(days: u32) -> service_kit::Job {
    service_kit::Job::new(
        "ops.archive.trim",
        std::time::Duration::from_secs(3600),
        move |pool| async move { store::trim_archive(&pool, days).await },
    )
}

/// The whole HTTP API (health is added by the runtime).
pub fn router(api: http::Api) -> Router {
    http::router(api)
}
