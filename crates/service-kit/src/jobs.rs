//! Periodic jobs (trim the outbox and inbox, expire orders, reconcile payments) that run in
//! one replica at a time.
//!
//! Each run first opens a transaction of its own and takes a transaction-level advisory lock
//! named after the job in it (`pg_try_advisory_xact_lock`); a replica that finds it taken skips
//! that run. The transaction stays open for the run and ends after it, and the lock ends with
//! it — also when the job fails or panics (the panic is caught and reported as
//! [`JobError::Panicked`]) or the process dies. A session-level lock would outlive a panic on
//! a pooled connection and block every other replica until that connection closed. Runs are
//! spaced by the interval plus up to 10 % jitter, so replicas started together do not knock in
//! step.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use rand::Rng;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// Why a run did not finish.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the job panicked: {0}")]
    Panicked(String),
}

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
    pub async fn run_once(&self, pool: &PgPool) -> Result<Option<u64>, JobError> {
        // The lock lives as long as this transaction; nothing else is written in it.
        let mut lock = pool.begin().await?;
        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtext($1))")
            .bind(self.name)
            .fetch_one(&mut *lock)
            .await?;
        if !taken {
            lock.rollback().await?;
            return Ok(None);
        }
        let outcome = AssertUnwindSafe((self.work)(pool.clone()))
            .catch_unwind()
            .await;
        // Ends the transaction, and the lock with it, whatever the run did.
        lock.rollback().await?;
        match outcome {
            Ok(result) => Ok(Some(result?)),
            Err(panic) => Err(JobError::Panicked(panic_message(panic.as_ref()))),
        }
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

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_owned())
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
