//! Platform tests: each starts the real service binaries (built by `make test` before the
//! tests run) as processes, each against a fresh database of its own and a RabbitMQ vhost of
//! the test's own, and talks to them only over HTTP and the broker.
//!
//! As in production, a service connects as a role of its own that owns its database and is
//! no superuser (a superuser would bypass forced row-level security): [`Database`] creates
//! both, and [`Service::wait_ready`] checks the role of every connection the service holds.
//!
//! A service is started with `PORT=0`: it binds a port the system picks and prints it on stdout
//! ([`service_kit::Listening`]), and the harness reads it from there — no port is picked ahead,
//! released, and raced for by another process before the service binds it.
//!
//! Layout:
//! - `service`: one service binary on its own, its database and role, a broker that is away,
//!   an event watcher — the startup tests' pieces.
//! - [`platform`]: the whole platform — catalog, checkout, payments, notifications and the
//!   gateway simulator as processes, each link to Postgres, RabbitMQ, Redis, the gateway and
//!   catalog through a [`testkit::FaultProxy`]; stop, SIGKILL and restart any one service.
//! - [`faults`]: the links a fault can be put on, and the modes.
//! - [`receivers`]: what the platform sends out — the shared maildev's mails for a test's own
//!   addresses, and a webhook receiver of the test's own.
//! - [`shop`]: a merchant and shoppers as the HTTP APIs see them (store, products, cards
//!   tokenized at the simulator, orders).
//! - [`invariants`]: after a drill, every database, the simulator, the sink, the receiver and
//!   the queues read and checked; the logfmt `drill …` line.

pub mod edge;
pub mod faults;
pub mod invariants;
pub mod platform;
pub mod receivers;
pub mod schemathesis;
mod service;
pub mod shop;

pub use service::{
    BrokerGate, DATABASES, Database, EventWatcher, RunDatabases, SERVICES, Service, admin_url,
    admin_url_to, binary, repo_root, server_address,
};

use std::time::{Duration, Instant};

/// Polls `check` every 200 ms until it gives a value, failing with `what` after `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let start = Instant::now();
    let mut last_error = None;
    loop {
        match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(error) => last_error = Some(error),
        }
        if start.elapsed() > limit {
            match last_error {
                Some(error) => {
                    anyhow::bail!("{what}: not within {limit:?} (last error: {error:#})")
                }
                None => anyhow::bail!("{what}: not within {limit:?}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
