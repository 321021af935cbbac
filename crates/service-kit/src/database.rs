//! The service's own database.

use std::time::Duration;

use secrecy::ExposeSecret;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use tokio_util::sync::CancellationToken;

use crate::ServiceConfig;

/// A pool that connects on first use, so the service starts (and answers "not ready") while its
/// database is away.
pub fn lazy_pool(config: &ServiceConfig) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(config.db_max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy(config.database_url.expose_secret())
}

/// Runs the migrations, retrying with jittered backoff until the database answers; `false`
/// when shutdown came first. A migration that fails on a reachable database is a bug, not a
/// transient: it is returned.
pub async fn migrate_with_retry(
    pool: &PgPool,
    migrator: &Migrator,
    shutdown: &CancellationToken,
) -> Result<bool, sqlx::migrate::MigrateError> {
    let backoff = resilience::Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    let migrated = resilience::retry_until_cancelled(
        "database unreachable",
        backoff,
        shutdown,
        || migrator.run(pool),
        |error| matches!(error, sqlx::migrate::MigrateError::Execute(error) if is_unreachable(error)),
    )
    .await?;
    Ok(migrated.is_some())
}

fn is_unreachable(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed
    )
}
