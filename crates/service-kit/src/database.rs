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
    let backoff = resilience::Backoff {
        base: Duration::from_millis(200),
        cap: Duration::from_secs(10),
        jitter: resilience::Jitter::Full,
    };
    let mut attempt = 0;
    loop {
        match migrator.run(pool).await {
            Ok(()) => return Ok(true),
            Err(sqlx::migrate::MigrateError::Execute(error)) if is_unreachable(&error) => {
                attempt += 1;
                let delay = backoff.delay(attempt, None);
                tracing::warn!(%error, attempt, ?delay, "database unreachable; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(false),
                    _ = tokio::time::sleep(delay) => {}
                }
            }
            Err(other) => return Err(other),
        }
    }
}

fn is_unreachable(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed
    )
}
