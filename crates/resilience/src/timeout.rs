//! Timeouts: one per attempt, and one overall deadline that retries never exceed.
//!
//! A per-call timeout bounds how long one attempt may hang ([`PolicyError::Timeout`], which
//! is transient and so retried). A [`Deadline`] bounds the whole operation, retries and
//! backoff sleeps included ([`PolicyError::DeadlineExceeded`], never retried); the retry
//! policy also refuses to start a sleep that would end past the deadline.
//! Both use `tokio::time`, so a paused test clock controls them.

use std::{future::Future, time::Duration};

use tokio::time::Instant;

use crate::PolicyError;

/// Timeout settings; `Default`: 2 s per attempt, 10 s overall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutConfig {
    pub per_call: Option<Duration>,
    pub overall: Option<Duration>,
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        Self {
            per_call: Some(Duration::from_secs(2)),
            overall: Some(Duration::from_secs(10)),
        }
    }
}

/// Run one attempt with a time limit; the call's own error becomes `Inner`.
pub async fn timeout<T, E, Fut>(limit: Duration, fut: Fut) -> Result<T, PolicyError<E>>
where
    Fut: Future<Output = Result<T, E>>,
{
    timeout_flat(limit, async { fut.await.map_err(PolicyError::Inner) }).await
}

/// [`timeout`] for a call that already returns `PolicyError` (composition).
pub async fn timeout_flat<T, E, Fut>(limit: Duration, fut: Fut) -> Result<T, PolicyError<E>>
where
    Fut: Future<Output = Result<T, PolicyError<E>>>,
{
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r,
        Err(_) => Err(PolicyError::Timeout(limit)),
    }
}

/// A point in time after which the whole operation is abandoned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    at: Instant,
}

impl Deadline {
    /// `limit` from now.
    pub fn after(limit: Duration) -> Self {
        Self {
            at: Instant::now() + limit,
        }
    }

    pub fn at(at: Instant) -> Self {
        Self { at }
    }

    pub fn instant(&self) -> Instant {
        self.at
    }

    /// Time left (zero once expired).
    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    pub fn is_expired(&self) -> bool {
        Instant::now() >= self.at
    }

    /// Run `fut`, abandoning it at the deadline.
    pub async fn run<T, E, Fut>(&self, fut: Fut) -> Result<T, PolicyError<E>>
    where
        Fut: Future<Output = Result<T, PolicyError<E>>>,
    {
        match tokio::time::timeout_at(self.at, fut).await {
            Ok(r) => r,
            Err(_) => Err(PolicyError::DeadlineExceeded),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn per_call_timeout() {
        let r: Result<(), PolicyError<()>> = timeout(Duration::from_millis(50), async {
            tokio::time::sleep(Duration::from_millis(60)).await;
            Ok(())
        })
        .await;
        assert!(matches!(r, Err(PolicyError::Timeout(d)) if d == Duration::from_millis(50)));
        let r: Result<u8, PolicyError<()>> =
            timeout(Duration::from_millis(50), async { Ok(7) }).await;
        assert_eq!(r.unwrap(), 7);
        let r: Result<u8, PolicyError<&str>> =
            timeout(Duration::from_millis(50), async { Err("no") }).await;
        assert!(matches!(r, Err(PolicyError::Inner("no"))));
    }

    #[tokio::test(start_paused = true)]
    async fn deadline() {
        let d = Deadline::after(Duration::from_secs(1));
        assert_eq!(d.remaining(), Duration::from_secs(1));
        tokio::time::advance(Duration::from_millis(400)).await;
        assert_eq!(d.remaining(), Duration::from_millis(600));
        let t0 = Instant::now();
        let r: Result<(), PolicyError<()>> = d
            .run(async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(())
            })
            .await;
        assert!(matches!(r, Err(PolicyError::DeadlineExceeded)));
        assert_eq!(t0.elapsed(), Duration::from_millis(600));
        assert!(d.is_expired());
    }
}
