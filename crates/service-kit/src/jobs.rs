//! Periodic jobs (trim the outbox and inbox, expire orders, reconcile payments) that run in
//! one replica at a time.
//!
//! Each run first takes a Postgres advisory lock named after the job on a connection of its
//! own (`pg_try_advisory_lock`); a replica that finds it taken skips that run. If the process
//! dies mid-run its connection closes and the lock goes with it. Runs are spaced by the
//! interval plus up to 10 % jitter, so replicas started together do not knock in step.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

type JobFuture = Pin<Box<dyn Future<Output = Result<u64, sqlx::Error>> + Send>>;

/// A named periodic job; its work returns how many rows (or items) it handled, for the log.
#[derive(Clone)]
pub struct Job {
    pub name: &'static str,
    pub every: Duration,
    work: Arc<dyn Fn(PgPool) -> JobFuture + Send + Sync>,
}

impl Job {
    pub fn new<F, Fut>(name: &'static str, every: Duration, work: F) -> Self
    where
        F: Fn(PgPool) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<u64, sqlx::Error>> + Send + 'static,
    {
        Self {
            name,
            every,
            work: Arc::new(move |pool| Box::pin(work(pool))),
        }
    }

    /// Runs the job once if no other replica is running it: `Some(count)` when it ran,
    /// `None` when another holds the lock.
    pub async fn run_once(&self, pool: &PgPool) -> Result<Option<u64>, sqlx::Error> {
        let mut lock = pool.acquire().await?;
        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
            .bind(self.name)
            .fetch_one(&mut *lock)
            .await?;
        if !taken {
            return Ok(None);
        }
        let result = (self.work)(pool.clone()).await;
        sqlx::query("SELECT pg_advisory_unlock(hashtext($1))")
            .bind(self.name)
            .execute(&mut *lock)
            .await?;
        result.map(Some)
    }

    /// Runs the job every interval until `shutdown`.
    pub async fn run(self, pool: PgPool, shutdown: CancellationToken) {
        loop {
            let jitter = self.every.mul_f64(rand::rng().random_range(0.0..0.1));
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.every + jitter) => {}
            }
            match self.run_once(&pool).await {
                Ok(Some(count)) => tracing::info!(job = self.name, count, "periodic job ran"),
                Ok(None) => tracing::debug!(job = self.name, "another replica holds the job"),
                Err(error) => tracing::warn!(job = self.name, %error, "periodic job failed"),
            }
        }
    }
}

/// The housekeeping every service runs: published outbox rows and inbox rows older than a
/// week go (redeliveries come within minutes; a week leaves room for a long broker outage).
pub fn housekeeping() -> Vec<Job> {
    const WEEK: i64 = 7 * 24 * 3600;
    vec![
        Job::new("outbox.trim", Duration::from_secs(600), |pool| async move {
            outbox::trim(&pool, chrono::Duration::seconds(WEEK)).await
        }),
        Job::new("inbox.trim", Duration::from_secs(600), |pool| async move {
            outbox::inbox::trim(&pool, chrono::Duration::seconds(WEEK)).await
        }),
    ]
}
